"""The NumPy GP arithmetic (datarial.optimize.exact) against GPyTorch/BoTorch, the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import _log_ei_helper
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, RBFKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior

from datarial.optimize import ModelSettings, build_acquisition
from datarial.optimize.exact import ExactGP, _MapObjective, fit_map, lengthscale_prior
from datarial.optimize.surrogate import fit_surrogate
from datarial.space import SearchSpace


def exact_from_model(model) -> ExactGP:
    """The NumPy posterior with a fitted BoTorch model's data and hyperparameters (Matérn-5/2)."""
    X = model.train_inputs[0].detach().numpy()
    noise = model.likelihood.noise.detach().numpy().reshape(-1)
    return ExactGP(X, model.train_targets.detach().numpy(), model.covar_module.lengthscale.detach().numpy().reshape(-1),
                   np.broadcast_to(noise, (len(X),)), float(model.mean_module.constant.detach()), "matern52")


def _data(seed: int, n: int = 30, w: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, w))
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    return X, y


def _botorch_model(X, y, kind, yvar=None, prior="lognormal"):
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=X.shape[1], use_rbf_kernel=kind == "rbf")
    if prior == "gamma":  # BayBE 0.15's lengthscale prior, built as BayBE builds it
        conc = 3.0
        rate = (conc - 1) / math.exp(math.sqrt(2) - 3) / math.sqrt(X.shape[1])
        covar = (RBFKernel if kind == "rbf" else MaternKernel)(
            ard_num_dims=X.shape[1], lengthscale_prior=GammaPrior(conc, rate),
            lengthscale_constraint=GreaterThan(2.5e-2, transform=None, initial_value=(conc - 1) / rate))
    tYvar = None if yvar is None else torch.as_tensor(yvar)[:, None]
    return SingleTaskGP(torch.as_tensor(X), torch.as_tensor(y)[:, None], train_Yvar=tYvar,
                        covar_module=covar, outcome_transform=Standardize(m=1))


def _neg_mll(model) -> torch.Tensor:
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    return -mll(model(*model.train_inputs), model.train_targets)


@pytest.mark.parametrize("kind", ["matern52", "rbf"])
@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("prior", ["lognormal", "gamma"])
def test_map_objective_and_gradient_equal_gpytorch(kind, fixed, prior):
    X, y = _data(1)
    rng = np.random.default_rng(2)
    yvar = rng.uniform(0.001, 0.02, len(y)) if fixed else None
    model = _botorch_model(X, y, kind, yvar, prior)
    noise = model.likelihood.noise.detach().numpy() if fixed else None
    obj = _MapObjective(X, model.train_targets.numpy(), kind, lengthscale_prior(3, prior), noise)
    for _ in range(3):
        ls = rng.uniform(0.05, 3.0, 3)
        theta = np.concatenate([ls, [] if fixed else [rng.uniform(1e-3, 0.5)], [rng.normal()]])
        model.covar_module.lengthscale = torch.as_tensor(ls)
        if not fixed:
            model.likelihood.noise = torch.as_tensor(theta[3:4])
        model.mean_module.constant = torch.as_tensor(theta[-1])
        model.zero_grad()
        ref = _neg_mll(model)
        ref.backward()
        grads = [model.covar_module.raw_lengthscale.grad.reshape(-1)]
        if not fixed:
            grads.append(model.likelihood.noise_covar.raw_noise.grad.reshape(-1))
        grads.append(model.mean_module.raw_constant.grad.reshape(-1))
        value, grad = obj(theta)
        assert value == pytest.approx(float(ref.detach()), rel=1e-7)
        np.testing.assert_allclose(grad, torch.cat(grads).numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["matern52", "rbf"])
@pytest.mark.parametrize("prior", ["lognormal", "gamma"])
def test_map_fit_is_at_least_as_good_as_botorch(kind, prior):
    for seed in range(4):
        X, y = _data(10 + seed, n=40, w=4)
        model = _botorch_model(X, y, kind, prior=prior)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        ref = float(_neg_mll(model).detach())
        ours = fit_map(X, model.train_targets.numpy(), kind=kind, prior=prior)
        assert ours.objective <= ref + 1e-6
        if ours.objective > ref - 1e-4:  # the same optimum: the same hyperparameters
            np.testing.assert_allclose(ours.lengthscale[:2], model.covar_module.lengthscale.detach().numpy()[0, :2],
                                       rtol=0.02)


def test_posterior_and_believer_conditioning_equal_botorch():
    X, y = _data(3)
    model = _botorch_model(X, y, "matern52")
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    gp = exact_from_model(model)
    Xq = np.random.default_rng(4).random((50, 3))
    with torch.no_grad():
        post = model.posterior(torch.as_tensor(Xq).unsqueeze(-2))
    tf = model.outcome_transform
    ym, ys = float(tf.means), float(tf.stdvs)
    mu, var = gp.mean_var(Xq)
    np.testing.assert_allclose(ym + ys * mu, post.mean.reshape(-1).numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ys**2 * var, post.variance.reshape(-1).numpy(), rtol=1e-7, atol=1e-10)

    P = np.random.default_rng(5).random((4, 3))
    with torch.no_grad():
        tP = torch.as_tensor(P)
        fantasy = model.condition_on_observations(tP, model.posterior(tP).mean)
        post2 = fantasy.posterior(torch.as_tensor(Xq).unsqueeze(-2))
    noise = float(model.likelihood.noise.detach())
    mu2, var2 = gp.mean_var(Xq, gp.condition(P, np.full(4, noise)))
    np.testing.assert_allclose(ym + ys * mu2, post2.mean.reshape(-1).numpy(), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ys**2 * var2, post2.variance.reshape(-1).numpy(), rtol=1e-6, atol=1e-9)
    assert np.all(var2 <= var + 1e-12)
    # One fantasy at p with noise s leaves v*s/(v+s) of the variance v there.
    v = gp.mean_var(P[:1])[1]
    np.testing.assert_allclose(gp.mean_var(P[:1], gp.condition(P[:1], [noise]))[1], v * noise / (v + noise), rtol=1e-9)


def _space():
    return SearchSpace.from_dict({
        "name": "t",
        "parameters": [
            {"name": "T", "type": "continuous", "low": 600, "high": 900, "step": 10},
            {"name": "t", "type": "continuous", "low": 1, "high": 60, "step": 1},
            {"name": "powder", "type": "categorical", "values": ["a", "b", "c"]},
        ],
        "objective": {"name": "Jc", "goal": "maximize"},
    })


@pytest.mark.parametrize("name", ["ucb", "ei", "pi"])
@pytest.mark.parametrize("noise", ["learned", "none"])
def test_analytic_acquisitions_equal_botorch_on_the_believer_model(name, noise):
    space = _space()
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.random(20), rng.random(20), rng.integers(0, 3, 20)])
    y = 5 + np.sin(4 * X[:, 0]) + X[:, 2] * 0.3 + 0.05 * rng.normal(size=20)
    settings = ModelSettings(noise=noise, xi=0.1)
    sur = fit_surrogate(space, X, y, settings)
    Xq = np.column_stack([rng.random(40), rng.random(40), rng.integers(0, 3, 40)])
    pending = Xq[:3]
    ours = build_acquisition(sur, name, settings, X_pending=pending)(Xq)

    # Reference: a BoTorch model trained on the data plus the believer fantasies
    # (at the posterior mean), with the fitted hyperparameters, predicting
    # exactly (GPyTorch's incremental fantasy update is less accurate when the
    # noise is tiny, as with noise: none).
    feats = sur.features(pending)
    with torch.no_grad():
        m = sur.model
        mean = m.posterior(feats).mean
        tX = torch.cat([m.train_inputs[0], feats])
        tY = torch.cat([m.train_targets, (mean.reshape(-1) - sur.y_mean) / sur.y_std])[:, None]
        noise = m.likelihood.noise.detach().reshape(-1).expand(len(m.train_targets))
        tYvar = torch.cat([noise, torch.full((len(feats),), sur.pending_noise, dtype=noise.dtype)])[:, None]
        covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=tX.shape[1], use_rbf_kernel=False)
        ref_model = SingleTaskGP(tX, tY, train_Yvar=tYvar, covar_module=covar, outcome_transform=None)
        ref_model.covar_module.lengthscale = m.covar_module.lengthscale.detach().clone()
        ref_model.mean_module.constant = m.mean_module.constant.detach().clone()
        ref_model.eval()
        post = ref_model.posterior(sur.features(Xq).unsqueeze(-2))
        mu = sur.y_mean + sur.y_std * post.mean.reshape(-1)
        sigma = (sur.y_std**2 * post.variance.reshape(-1)).clamp_min(1e-12).sqrt()
        best_f = max(sur.best_f, float(mean.max())) + settings.xi * sur.y_std
        if name == "ucb":
            ref = (mu + np.sqrt(settings.beta) * sigma).numpy()
        elif name == "ei":
            ref = (_log_ei_helper((mu - best_f) / sigma) + sigma.log()).numpy()
        else:
            ref = torch.special.log_ndtr((mu - best_f) / sigma).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)
    assert np.argmax(ours) == np.argmax(ref)


def test_fit_on_constant_values_and_a_single_point():
    space = _space()
    X = np.array([[0.1, 0.2, 0], [0.5, 0.5, 1], [0.9, 0.1, 2]])
    sur = fit_surrogate(space, X, np.full(3, 7.0))
    mu, sd = sur.posterior_mean_std(X)
    np.testing.assert_allclose(mu, 7.0, atol=1e-6)
    sur1 = fit_surrogate(space, X[:1], np.array([3.0]))
    assert np.isfinite(sur1.posterior_mean_std(X)[1]).all()


@pytest.mark.parametrize("lam", [-1.5, 0.0, 0.5, 1.7, 2.0, 3.5])
def test_output_warp_inverts_and_is_monotone(lam):
    from datarial.optimize.surrogate import OutputWarp

    warp = OutputWarp(centre=2.0, scale=0.5, lam=lam)
    y = np.linspace(-1.0, 5.0, 201)
    w = warp(y)
    assert np.all(np.diff(w) > 0)
    np.testing.assert_allclose(warp.inverse(w), y, rtol=1e-10, atol=1e-10)


def test_output_warp_makes_a_skewed_objective_closer_to_normal():
    from scipy.stats import skew

    from datarial.optimize.surrogate import OutputWarp

    rng = np.random.default_rng(0)
    y = np.exp(rng.normal(size=60))  # right-skewed, like Jc on a linear scale
    warp = OutputWarp.fit(y)
    assert warp.lam < 1.0
    assert abs(skew(warp(y))) < 0.3 * abs(skew(y))
    assert OutputWarp.fit(np.array([1.0, 1.0, 2.0])).is_identity  # too few distinct values
    assert OutputWarp.fit(np.full(5, 3.0)).is_identity


def test_warped_surrogate_predicts_in_objective_units_and_none_switches_it_off():
    space = _space()
    rng = np.random.default_rng(8)
    X = np.column_stack([rng.random(25), rng.random(25), rng.integers(0, 3, 25)])
    y = 1e4 * np.exp(2 * X[:, 0] + 0.05 * rng.normal(size=25))  # skewed
    warped = fit_surrogate(space, X, y)
    plain = fit_surrogate(space, X, y, ModelSettings(output_warp="none"))
    assert not warped.warp.is_identity and plain.warp.is_identity
    for sur in (warped, plain):
        p = sur.predict(X)
        assert np.all(p.lower <= p.mean) and np.all(p.mean <= p.upper)
        assert np.median(np.abs(p.mean - y) / y) < 0.05  # the median tracks the data in A/cm²-like units
    with pytest.raises(Exception, match="output_warp must be one of"):
        ModelSettings.from_dict({"output_warp": "box-cox"})


@pytest.mark.parametrize("name", ["ucb", "ei", "pi"])
def test_pool_batch_rank1_updates_equal_rescoring_with_the_picks_pending(name):
    from datarial.optimize.acquisition import PoolBatch

    space = _space()
    rng = np.random.default_rng(9)
    X = np.column_stack([rng.random(30), rng.random(30), rng.integers(0, 3, 30)])
    y = 5 + np.sin(4 * X[:, 0]) * X[:, 1] + X[:, 2] * 0.3 + 0.05 * rng.normal(size=30)
    settings = ModelSettings(xi=0.05)
    sur = fit_surrogate(space, X, y, settings)
    pool = np.column_stack([rng.random(200), rng.random(200), rng.integers(0, 3, 200)])
    given = pool[:2]  # already pending before the batch
    batch = PoolBatch(sur, pool, name, settings, given)
    pending = list(given)
    for row in (10, 57, 133):
        ref = build_acquisition(sur, name, settings, X_pending=np.array(pending))(pool)
        np.testing.assert_allclose(batch.values(), ref, rtol=1e-9, atol=1e-9)
        batch.add(row)
        pending.append(pool[row])


def test_the_botorch_model_of_record_matches_the_numpy_posterior():
    space = _space()
    rng = np.random.default_rng(10)
    X = np.column_stack([rng.random(15), rng.random(15), rng.integers(0, 3, 15)])
    y = np.exp(2 * X[:, 0]) + 0.1 * rng.normal(size=15)
    for settings in (ModelSettings(), ModelSettings(noise="none"), ModelSettings(kernel="rbf"),
                     ModelSettings(lengthscale_prior="lognormal")):
        sur = fit_surrogate(space, np.vstack([X, X[:3]]), np.concatenate([y, y[:3] + 0.05]), settings)
        model = sur.model
        assert float(model.outcome_transform.means) == pytest.approx(sur.y_mean, rel=1e-12)
        assert float(model.outcome_transform.stdvs) == pytest.approx(sur.y_std, rel=1e-12)
        # Same priors as the NumPy fit: GPyTorch's MAP objective at the fitted values is ours.
        assert float(_neg_mll(model).detach()) == pytest.approx(sur.training.hyper.objective, rel=1e-6, abs=1e-8)
        model.eval()
        Xq = np.column_stack([rng.random(20), rng.random(20), rng.integers(0, 3, 20)])
        with torch.no_grad():
            post = model.posterior(sur.features(Xq).unsqueeze(-2))
        mu, sd = sur.posterior_mean_std(Xq)
        np.testing.assert_allclose(mu, post.mean.reshape(-1).numpy(), rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(sd, post.variance.reshape(-1).clamp_min(0).sqrt().numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["ucb", "ei"])
def test_enumerated_grid_batch_equals_greedy_rescoring(name):
    from datarial.optimize.search import pick_batch

    space = _space()
    rng = np.random.default_rng(11)
    X = np.column_stack([rng.random(12), rng.random(12), rng.integers(0, 3, 12)])
    y = 5 + np.sin(4 * X[:, 0]) * X[:, 1] + 0.05 * rng.normal(size=12)
    settings = ModelSettings()
    sur = fit_surrogate(space, X, y, settings)
    measured = space.indices_from_unit(X)
    pick = pick_batch(space, sur, 4, name, settings, exclude=measured)
    # Reference: rescore the whole grid with every earlier pick pending.
    grid = space.all_indices()
    taken = set(space.index_keys(measured))
    pending: list[np.ndarray] = []
    for got in pick.indices:
        acqf = build_acquisition(sur, name, settings, X_pending=space.unit_from_indices(np.array(pending)) if pending else None)
        scores = acqf(space.unit_from_indices(grid))
        scores[[k in taken for k in space.index_keys(grid)]] = -np.inf
        want = grid[int(np.argmax(scores))]
        np.testing.assert_array_equal(got, want)
        taken.add(want.astype(np.int64).tobytes())
        pending.append(want)


def test_gamma_prior_keeps_a_weak_parameter_in_the_model():
    """The MgB2 failure the Gamma default fixes: a weak effect on one axis under noise.

    With BoTorch's heavy-tailed log-normal prior the weak axis' lengthscale comes out
    several times the [0, 1] range (the model hardly varies along it); the Gamma prior
    keeps it near one range.
    """
    rng = np.random.default_rng(12)
    X = rng.random((30, 3))
    y = np.exp(-8 * (X[:, 0] - 0.6) ** 2) + 0.07 * X[:, 2] + 0.05 * rng.normal(size=30)
    ys = (y - y.mean()) / y.std(ddof=1)
    heavy = fit_map(X, ys, prior="lognormal")
    light = fit_map(X, ys, prior="gamma")
    assert heavy.lengthscale[2] > 5
    assert light.lengthscale[2] < 2
    assert heavy.lengthscale[2] > 3 * light.lengthscale[2]
    with pytest.raises(Exception, match="lengthscale_prior must be one of"):
        ModelSettings.from_dict({"lengthscale_prior": "halfcauchy"})
    assert ModelSettings().lengthscale_prior == "gamma"
