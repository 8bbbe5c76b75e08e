"""One small adapter per optimizer.  Each is stateless: ``ask`` gets the whole history.

``ask(problem, X_done, y_done, q, seed, available)`` returns, for a pool problem,
``q`` row numbers of ``problem.X`` among ``available``; for a box problem, ``q``
points in the box (the runner snaps them to the grid).  Peers are imported
lazily: they live in the ``[bench]`` extra.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import types
import warnings

import numpy as np

from benchmarks.bo_quality.problems import BoxProblem, PoolProblem

Problem = PoolProblem | BoxProblem


def _need(module: str, extra: str = "bench"):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeError(f"{module} is missing ({exc}); install the peers with: pip install -e .[{extra}]") from None


def _unit(problem: Problem, X: np.ndarray) -> np.ndarray:
    return (np.asarray(X, float) - problem.low) / (problem.high - problem.low)


def _from_unit(problem: Problem, U: np.ndarray) -> np.ndarray:
    return problem.low + np.asarray(U, float) * (problem.high - problem.low)


def _nearest_available(problem: PoolProblem, X: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Each point of X → the nearest still-available pool row (distinct), in unit coordinates."""
    ok = available.copy()
    U = _unit(problem, problem.X)
    rows = []
    for x in _unit(problem, X):
        d = np.where(ok, np.sum((U - x) ** 2, axis=1), np.inf)
        r = int(np.argmin(d))
        rows.append(r)
        ok[r] = False
    return np.array(rows)


class Method:
    name = "method"
    label = "method"
    requires: tuple[str, ...] = ()  # imported before timing starts

    def prepare(self) -> None:
        """Import what the method needs, so that import time is not counted as proposal time."""
        if self.name == "boxvia":
            _import_gpyopt()
        for module in self.requires:
            _need(module)

    def setup(self, problem: Problem) -> None:
        """One-off work per problem that a user does once, not per proposal (timed apart)."""

    def ask(self, problem: Problem, X_done: np.ndarray, y_done: np.ndarray, q: int, seed: int,
            available: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


class RandomSearch(Method):
    name, label = "random", "random"

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        rng = np.random.default_rng(seed)
        if problem.kind == "pool":
            return rng.choice(np.flatnonzero(available), size=q, replace=False)
        return problem.low + rng.random((q, problem.dim)) * (problem.high - problem.low)


class Datarial(Method):
    """datarial's engine with its defaults (the campaign default acquisition ``ucb``, ARD Matérn-5/2, learned noise)."""

    name, label = "datarial", "datarial (defaults)"
    requires = ("datarial.optimize",)

    def __init__(self, acquisition: str | None = None, **settings) -> None:
        self.acquisition, self.settings = acquisition, settings

    def _space(self, problem: Problem):
        from datarial.space import SearchSpace

        params = []
        for j, n in enumerate(problem.names):
            p = {"name": n, "type": "continuous", "low": float(problem.low[j]), "high": float(problem.high[j])}
            if problem.kind == "box":
                p["step"] = float(problem.step[j])
            params.append(p)
        return SearchSpace.from_dict({"name": problem.name, "parameters": params,
                                      "objective": {"name": "y", "goal": problem.goal}})

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        from datarial.optimize import ModelSettings, Observations, propose, propose_from_pool

        space = self._space(problem)
        settings = ModelSettings(**self.settings)
        obs = Observations({n: X_done[:, j] for j, n in enumerate(problem.names)}, np.asarray(y_done, float))
        if problem.kind == "pool":
            cand = {n: problem.X[:, j] for j, n in enumerate(problem.names)}
            return propose_from_pool(space, obs, cand, q=q, acquisition=self.acquisition, settings=settings,
                                     seed=seed, available=available).rows
        prop = propose(space, obs, q=q, acquisition=self.acquisition, settings=settings, seed=seed)
        return np.array([[c[n] for n in problem.names] for c in prop.conditions], float)


def _import_gpyopt():
    """GPyOpt 1.2.6 reads its version through ``pkg_resources``, gone from new setuptools: shim it."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")

            class DistributionNotFound(Exception):
                pass

            def get_distribution(name):
                return types.SimpleNamespace(version=importlib.metadata.version(name))

            shim.get_distribution, shim.DistributionNotFound = get_distribution, DistributionNotFound
            sys.modules["pkg_resources"] = shim
    _need("GPy")
    gpyopt = _need("GPyOpt")
    _patch_gpyopt_lipschitz()
    return gpyopt


def _patch_gpyopt_lipschitz() -> None:
    """GPyOpt's ``estimate_L`` (local penalization) indexes ``res.fun[0][0]``; SciPy ≥ 1.11
    returns a float there.  Same estimate (max. norm of the mean's gradient), scalar-safe."""
    import scipy.optimize
    from GPyOpt.core.evaluators import batch_local_penalization as lp
    from GPyOpt.util.general import samples_multidimensional_uniform

    if getattr(lp.estimate_L, "_datarial_patch", False):
        return

    def estimate_L(model, bounds, storehistory=True):
        def neg_grad_norm(x):
            dmdx, _ = model.predictive_gradients(np.atleast_2d(x))
            return -np.sqrt((dmdx * dmdx).sum(1)).reshape(-1)

        samples = np.vstack([samples_multidimensional_uniform(bounds, 500), model.X])
        x0 = samples[np.argmin(neg_grad_norm(samples))]
        res = scipy.optimize.minimize(lambda x: float(neg_grad_norm(x)[0]), x0, method="L-BFGS-B",
                                      bounds=bounds, options={"maxiter": 200})
        L = -float(np.asarray(res.fun).reshape(-1)[0])
        return 10.0 if L < 1e-7 else L  # GPyOpt's guard for a flat model

    estimate_L._datarial_patch = True
    lp.estimate_L = estimate_L


class BoxviaEngine(Method):
    """GPyOpt 1.2.6 configured as BOXVIA does: isotropic Matérn-5/2 on the raw parameter
    values, EI with jitter 0.01, normalised outputs, local-penalization batches."""

    name, label = "boxvia", "BOXVIA engine (GPyOpt 1.2.6)"

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        GPyOpt = _import_gpyopt()
        import GPy

        np.random.seed(seed)  # GPyOpt draws from numpy's global generator
        d = problem.dim
        if problem.kind == "pool":
            rows = np.flatnonzero(available)
            domain = [{"name": "pool", "type": "bandit", "domain": problem.X[rows]}]
        else:
            domain = [{"name": n, "type": "continuous", "domain": (float(problem.low[j]), float(problem.high[j]))}
                      for j, n in enumerate(problem.names)]
        Y = np.asarray(y_done, float).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bo = GPyOpt.methods.BayesianOptimization(
                f=None, domain=domain, X=np.asarray(X_done, float), Y=Y,
                kernel=GPy.kern.Matern52(input_dim=d, ARD=False), acquisition_type="EI",
                acquisition_jitter=0.01, normalize_Y=True, evaluator_type="local_penalization",
                batch_size=q, maximize=problem.goal == "maximize", de_duplication=True)
            X_next = np.atleast_2d(bo.suggest_next_locations())
        if problem.kind == "pool":
            ok = available.copy()
            return _nearest_available(problem, X_next, ok)
        return X_next


_BAYBE_SPACES: dict[str, object] = {}  # search space per problem, built once per process


class BayBE(Method):
    """BayBE with its default recommender (random start, then BoTorch on the discrete pool).

    A lab builds its BayBE search space once; building it from a large pool is
    slow (BayBE 0.15 validates every pool value against every allowed value:
    about 144 s for the 1007-row hplc pool), so ``setup`` builds it once per
    worker process and the runner times that apart from the proposals.
    """

    name, label = "baybe", "BayBE 0.15 (default recommender)"
    requires = ("baybe",)

    def setup(self, problem):
        self._space(problem)

    @staticmethod
    def _space(problem):
        if problem.name in _BAYBE_SPACES:
            return _BAYBE_SPACES[problem.name]
        import pandas as pd
        from baybe.parameters import NumericalContinuousParameter, NumericalDiscreteParameter
        from baybe.searchspace import SearchSpace

        names = list(problem.names)
        if problem.kind == "pool":
            df = pd.DataFrame(problem.X, columns=names)
            params = [NumericalDiscreteParameter(n, values=tuple(np.unique(problem.X[:, j])))
                      for j, n in enumerate(names)]
            space = SearchSpace.from_dataframe(df, parameters=params)
        else:
            space = SearchSpace.from_product([NumericalContinuousParameter(n, (float(problem.low[j]), float(problem.high[j])))
                                              for j, n in enumerate(names)])
        _BAYBE_SPACES[problem.name] = space
        return space

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        import pandas as pd

        baybe = _need("baybe")
        from baybe.objectives import SingleTargetObjective
        from baybe.targets import NumericalTarget
        from baybe.utils.random import set_random_seed

        with warnings.catch_warnings():  # the new settings API is 0.15-only; keep 0.14 working
            warnings.simplefilter("ignore", DeprecationWarning)
            set_random_seed(seed)
        names = list(problem.names)
        space = self._space(problem)
        target = NumericalTarget("y", minimize=problem.goal == "minimize")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            campaign = baybe.Campaign(space, SingleTargetObjective(target))
            done = pd.DataFrame(X_done, columns=names)
            done["y"] = y_done
            campaign.add_measurements(done, numerical_measurements_must_be_within_tolerance=False)
            rec = campaign.recommend(batch_size=q)
        X_next = rec[names].to_numpy(float)
        if problem.kind == "pool":
            return _nearest_available(problem, X_next, available)
        return X_next


class BoTorchQLogNEI(Method):
    """Plain BoTorch with default settings: SingleTaskGP (inputs to the unit cube,
    standardised outputs), qLogNEI, optimize_acqf_discrete over the pool or
    optimize_acqf(q, 10 restarts, 512 raw samples) in the box."""

    name, label = "botorch", "BoTorch qLogNEI (defaults)"
    requires = ("botorch",)

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        import torch
        from botorch.acquisition import qLogNoisyExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.optim import optimize_acqf, optimize_acqf_discrete
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(seed)
        X = torch.as_tensor(_unit(problem, X_done), dtype=torch.float64)
        Y = torch.as_tensor(problem.score(y_done), dtype=torch.float64).unsqueeze(-1)
        model = SingleTaskGP(X, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            acq = qLogNoisyExpectedImprovement(model, X_baseline=X)
            if problem.kind == "pool":
                rows = np.flatnonzero(available)
                choices = torch.as_tensor(_unit(problem, problem.X[rows]), dtype=torch.float64)
                cand, _ = optimize_acqf_discrete(acq, q=q, choices=choices, unique=True)
                return _nearest_available(problem, _from_unit(problem, cand.numpy()), available)
            bounds = torch.stack([torch.zeros(problem.dim), torch.ones(problem.dim)]).double()
            cand, _ = optimize_acqf(acq, bounds=bounds, q=q, num_restarts=10, raw_samples=512)
        return _from_unit(problem, cand.numpy())


class OptunaTPE(Method):
    """Optuna's TPE sampler with default settings (constant liar for batches).  Pool: each
    sampled point goes to the nearest unmeasured pool row, which is what is recorded."""

    name, label = "optuna", "Optuna 5 TPE"
    requires = ("optuna",)

    def ask(self, problem, X_done, y_done, q, seed, available=None):
        optuna = _need("optuna")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from optuna.distributions import FloatDistribution

        dists = {}
        for j, n in enumerate(problem.names):
            step = float(problem.step[j]) if problem.kind == "box" else None
            high = float(problem.high[j])
            if step:
                high = float(problem.low[j] + np.floor((high - problem.low[j]) / step + 1e-9) * step)
            dists[n] = FloatDistribution(float(problem.low[j]), high, step=step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
            study = optuna.create_study(direction=problem.goal, sampler=sampler)
            for x, y in zip(X_done, y_done, strict=True):
                params = {n: float(np.clip(x[j], dists[n].low, dists[n].high)) for j, n in enumerate(problem.names)}
                study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(y)))
            trials = [study.ask(dists) for _ in range(q)]
        X_next = np.array([[t.params[n] for n in problem.names] for t in trials], float)
        if problem.kind == "pool":
            return _nearest_available(problem, X_next, available)
        return X_next


METHODS: dict[str, type[Method]] = {m.name: m for m in
                                    (RandomSearch, Datarial, BoxviaEngine, BayBE, BoTorchQLogNEI, OptunaTPE)}


def make_method(spec: str) -> Method:
    """A method from its name, or ``datarial:key=value,...`` for engine variants (ablations),
    e.g. ``datarial:acquisition=qlognei`` or ``datarial:replicates=mean,xi=0.01``."""
    name, _, opts = spec.partition(":")
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})")
    if not opts:
        return METHODS[name]()
    if name != "datarial":
        raise ValueError(f"only datarial takes options, got {spec!r}")
    kwargs: dict = {}
    for item in opts.split(","):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = int(value) if value.isdigit() else float(value)
        except ValueError:
            kwargs[key] = value
    m = Datarial(**kwargs)
    m.name = m.label = spec
    return m
