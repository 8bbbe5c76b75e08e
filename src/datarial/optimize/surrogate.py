"""Gaussian-process surrogate of the objective over the encoded search space.

Inputs arrive in the model encoding of :meth:`SearchSpace.to_unit`: numeric
parameters scaled to [0, 1] by their bounds, categorical parameters as
category indices.  The surrogate expands categories to one-hot features and
fits one ARD kernel over all features.  (BoTorch's ``MixedSingleTaskGP``
was tried first: its sum-and-product kernel took 2–9 s and up to ~1200
L-BFGS steps to fit 50–100 points, against 0.1 s for the one-hot model.)
The proposal search enumerates categories on the grid, so the one-hot
relaxation is never rounded.  Outputs are transformed to *model space* —
``log10`` if the objective asks for it, negated when minimising — and
standardised, so that the model and the acquisition always maximise.

The model of record is BoTorch's ``SingleTaskGP`` (:attr:`Surrogate.model`);
its hyperparameters are fitted, and its posterior evaluated on the proposal
hot paths, by the NumPy arithmetic of :mod:`datarial.optimize.exact` (same
objective and posterior, without GPyTorch's per-call overhead), and the
BoTorch model itself is only built when something asks for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, RBFKernel

from datarial.errors import DatarialError
from datarial.optimize.exact import (
    LENGTHSCALE_MIN,
    ExactGP,
    Hyperparameters,
    LengthscalePrior,
    fit_map,
    lengthscale_prior,
)
from datarial.optimize.settings import ModelSettings
from datarial.space import Objective, SearchSpace

DTYPE = torch.float64
_NOISELESS_VAR = 1e-5  # relative to the output variance: "no noise" kept above GPyTorch's 1e-6 floor


def to_model_space(values: np.ndarray, objective: Objective) -> np.ndarray:
    """Objective values → model space (log10 if asked; negated when minimising)."""
    y = np.asarray(values, dtype=float)
    if objective.transform == "log":
        if np.any(y <= 0):
            raise DatarialError(
                f"objective '{objective.name}' uses a log transform but has values ≤ 0 "
                f"(smallest {y.min():g}); remove them or drop 'transform: log'"
            )
        y = np.log10(y)
    return -y if objective.goal == "minimize" else y


def from_model_space(values: np.ndarray, objective: Objective) -> np.ndarray:
    """Model space → objective units (inverse of :func:`to_model_space`)."""
    y = np.asarray(values, dtype=float)
    y = -y if objective.goal == "minimize" else y
    return 10.0**y if objective.transform == "log" else y


_LAMBDA_RANGE = (-2.0, 4.0)  # Yeo–Johnson exponents considered; 1 is the identity


def yeo_johnson(x: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    """Yeo–Johnson transform of x for exponent(s) lam (broadcast: lam (k, 1) with x (n,) gives (k, n))."""
    x = np.asarray(x, dtype=float)
    lam = np.asarray(lam, dtype=float)
    pos = x >= 0
    lp, ln = np.log1p(np.where(pos, x, 0.0)), np.log1p(np.where(pos, 0.0, -x))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(np.abs(lam) < 1e-12, lp, np.expm1(lam * lp) / np.where(lam == 0, 1.0, lam))
        m = 2.0 - lam
        down = np.where(np.abs(m) < 1e-12, -ln, -np.expm1(m * ln) / np.where(m == 0, 1.0, m))
    return np.where(pos, up, down)


def yeo_johnson_lambda(x: np.ndarray) -> float:
    """Maximum-likelihood Yeo–Johnson exponent in ``_LAMBDA_RANGE`` (grid, then a finer grid).

    The log likelihood is SciPy's (``scipy.stats.yeojohnson_llf``); a vectorised
    grid search is used instead of ``yeojohnson_normmax``, whose per-call
    overhead was a large share of a proposal's time in a profile.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    jac = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))

    def best(grid: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            var = np.var(yeo_johnson(x, grid[:, None]), axis=1)
            llf = np.where(var > 0, -0.5 * n * np.log(var) + (grid - 1.0) * jac, -np.inf)
        return float(grid[int(np.nanargmax(llf))])

    coarse = best(np.linspace(*_LAMBDA_RANGE, 61))  # steps of 0.1
    return best(np.clip(np.linspace(coarse - 0.1, coarse + 0.1, 41), *_LAMBDA_RANGE))


@dataclass(frozen=True)
class OutputWarp:
    """Monotone map from model space to the GP's space: Yeo–Johnson of the standardised values.

    ``w = YJ_λ((y − centre)/scale)``, λ fitted by maximum likelihood of
    normality (:func:`yeo_johnson_lambda`), so that skewed objectives
    (a plateau of good yields, a few very high Jc) reach the GP closer to
    Gaussian.  λ = 1 is the identity; :meth:`identity` is used for ``output_warp:
    none`` and for fewer than 3 distinct values.
    """

    centre: float = 0.0
    scale: float = 1.0
    lam: float = 1.0

    @classmethod
    def identity(cls) -> OutputWarp:
        return cls()

    @classmethod
    def fit(cls, y: np.ndarray) -> OutputWarp:
        y = np.asarray(y, dtype=float)
        scale = float(np.std(y))
        if len(np.unique(y)) < 3 or not np.isfinite(scale) or scale <= 0:
            return cls.identity()
        centre = float(np.mean(y))
        return cls(centre, scale, yeo_johnson_lambda((y - centre) / scale))

    @property
    def is_identity(self) -> bool:
        return self.lam == 1.0 and self.centre == 0.0 and self.scale == 1.0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Model space → GP space."""
        y = np.asarray(y, dtype=float)
        if self.is_identity:
            return y
        return yeo_johnson((y - self.centre) / self.scale, self.lam)

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """GP space → model space (beyond the warp's range: clipped to the largest finite value)."""
        w = np.asarray(w, dtype=float)
        if self.is_identity:
            return w
        lam, z = self.lam, np.empty_like(w)
        pos = w >= 0
        with np.errstate(all="ignore"):
            if abs(lam) < 1e-12:
                z[pos] = np.expm1(w[pos])
            else:
                z[pos] = np.maximum(lam * w[pos] + 1.0, 1e-12) ** (1.0 / lam) - 1.0
            m = 2.0 - lam
            if abs(m) < 1e-12:
                z[~pos] = -np.expm1(-w[~pos])
            else:
                z[~pos] = 1.0 - np.maximum(1.0 - m * w[~pos], 1e-12) ** (1.0 / m)
        return self.centre + self.scale * z


@dataclass(frozen=True)
class Prediction:
    """Model prediction at points, in the objective's units.

    ``mean`` is the predictive median (the mean of the GP mapped back through the
    output warp and, for a log-transformed objective, ``10**``); ``lower``/``upper``
    the ±1σ band (16th/84th percentiles); ``std`` half the band's width in model
    space: objective units, or decades (of log10) for a log-transformed objective.
    ``model_mean``/``model_std`` are those two in model space.
    """

    mean: np.ndarray
    std: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    model_mean: np.ndarray
    model_std: np.ndarray


class Featurizer:
    """Model encoding (n, d; categories as indices) → GP features (numeric + one-hot)."""

    def __init__(self, space: SearchSpace) -> None:
        self.columns: list[int] = []  # first feature column of each parameter
        self.width = 0
        self.categorical: list[tuple[int, int, int]] = []  # (param j, first column, levels)
        self.numeric: list[tuple[int, int]] = []
        for j, p in enumerate(space.parameters):
            self.columns.append(self.width)
            if p.kind == "categorical":
                self.categorical.append((j, self.width, p.n_levels))
                self.width += p.n_levels
            else:
                self.numeric.append((j, self.width))
                self.width += 1

    def __call__(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.numpy(X), dtype=DTYPE)

    def numpy(self, X: np.ndarray) -> np.ndarray:
        """Like calling the featurizer, as a float64 NumPy array."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.zeros((len(X), self.width))
        for j, col in self.numeric:
            out[:, col] = X[:, j]
        rows = np.arange(len(X))
        for j, col, _levels in self.categorical:
            out[rows, col + np.rint(X[:, j]).astype(np.int64)] = 1.0
        return out

    def decode(self, F: np.ndarray) -> np.ndarray:
        """GP features (n, width) → model encoding (n, d): inverse of calling the featurizer."""
        F = np.atleast_2d(np.asarray(F, dtype=float))
        X = np.empty((len(F), len(self.columns)))
        for j, col in self.numeric:
            X[:, j] = F[:, col]
        for j, col, levels in self.categorical:
            X[:, j] = np.argmax(F[:, col : col + levels], axis=1)
        return X


def _group_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of ``X`` and, for every row, the index of its unique row."""
    uniq, inverse = np.unique(np.round(X, 12), axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


class Surrogate:
    """A fitted GP over a search space; predicts in objective units.

    Build with :func:`fit_surrogate`.
    """

    def __init__(self, space: SearchSpace, settings: ModelSettings, training: Training,
                 X_conditions: np.ndarray, y_condition_means: np.ndarray, warp: OutputWarp,
                 train_y_model: np.ndarray) -> None:
        self.space = space
        self.training = training
        self.warp = warp
        self.train_y_model = train_y_model  # the training targets before the warp (model space), row for row
        # Fantasy observations (batch building) need a noise level when the
        # model was fitted with known noise; use the typical known variance.
        self.fixed_noise = training.yvar is not None
        self.fantasy_noise = float(np.median(training.yvar)) if training.yvar is not None else 0.0
        self.featurizer = Featurizer(space)
        # GP space = y_mean + y_std * standardised units
        self.y_mean, self.y_std = training.y_mean, training.y_std
        self.gp = training.exact()
        self._model = None
        self.settings = settings
        self.X_conditions = X_conditions  # distinct measured conditions (model encoding)
        self.y_condition_means = y_condition_means  # their replicate means, GP space (after the warp)
        self.best_observed = float(np.max(y_condition_means))  # GP space
        self._best_mean: float | None = None

    @property
    def model(self) -> SingleTaskGP:
        """The BoTorch model of record with the fitted hyperparameters (built on first use).

        Proposals and maps do not need it (they use :attr:`gp`); ``qlognei``,
        the diagnostics and users' own BoTorch code do.
        """
        if self._model is None:
            self._model = self.training.botorch_model()
        return self._model

    @property
    def best_f(self) -> float:
        """Incumbent for EI/PI in GP space, per ``settings.incumbent``."""
        if self.settings.incumbent == "observed":
            return self.best_observed
        if self._best_mean is None:
            self._best_mean = float(np.max(self.posterior_mean_std(self.X_conditions)[0]))
        return self._best_mean

    @property
    def pending_noise(self) -> float:
        """Noise variance of a believer fantasy observation, standardised units."""
        if self.fixed_noise:
            return self.fantasy_noise / self.y_std**2
        return float(self.training.hyper.noise)

    @property
    def train_inputs(self) -> torch.Tensor:
        """Distinct measured conditions as model features."""
        return self.featurizer(self.X_conditions)

    def features(self, X: np.ndarray) -> torch.Tensor:
        return self.featurizer(X)

    def posterior_mean_std(self, X: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent GP at encoded points (n, d), in GP space.

        GP space is model space after the output warp (the same when the warp is
        the identity); the acquisitions work in it.  :meth:`predict` maps back.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        means, stds = [], []
        for start in range(0, len(X), chunk):
            mu, var = self.gp.mean_var(self.featurizer.numpy(X[start : start + chunk]))
            means.append(self.y_mean + self.y_std * mu)
            stds.append(self.y_std * np.sqrt(np.maximum(var, 0.0)))
        if not means:
            return np.empty(0), np.empty(0)
        return np.concatenate(means), np.concatenate(stds)

    def predict(self, X: np.ndarray) -> Prediction:
        """Median, ±1σ band and spread in objective units at encoded points (n, d)."""
        mu, sd = self.posterior_mean_std(X)
        return self.prediction_from_gp(mu, sd)

    def prediction_from_gp(self, mu: np.ndarray, sd: np.ndarray) -> Prediction:
        """A :class:`Prediction` from GP-space mean and std."""
        obj = self.space.objective
        m_mid, m_a, m_b = self.warp.inverse(mu), self.warp.inverse(mu - sd), self.warp.inverse(mu + sd)
        a, b = from_model_space(m_a, obj), from_model_space(m_b, obj)
        # Negation keeps the spread, so the half-width is in objective units
        # (in decades of log10 for a log-transformed objective).
        m_sd = 0.5 * np.abs(m_b - m_a)
        return Prediction(mean=from_model_space(m_mid, obj), std=m_sd, lower=np.minimum(a, b),
                          upper=np.maximum(a, b), model_mean=m_mid, model_std=m_sd)

    def lengthscales(self) -> dict[str, float]:
        """Fitted lengthscales per numeric parameter (in units of the parameter range)."""
        ls: dict[str, float] = {}
        vals = self.training.hyper.lengthscale
        for j, col in enumerate(self.featurizer.columns):
            p = self.space.parameters[j]
            if p.is_numeric:
                ls[p.name] = float(vals[col])
        return ls


def fit_surrogate(space: SearchSpace, X: np.ndarray, y: np.ndarray,
                  settings: ModelSettings | None = None, seed: int | None = 0) -> Surrogate:
    """Fit the GP to encoded inputs ``X`` (n, d) and objective values ``y`` (n,).

    Rows with identical ``X`` are replicates of one condition.  ``seed`` fixes
    the (rarely needed) random restarts of the hyperparameter fit.
    """
    settings = settings or ModelSettings()
    X = np.asarray(X, dtype=float)
    y_model = to_model_space(np.asarray(y, dtype=float), space.objective)
    if len(X) != len(y_model) or len(X) == 0:
        raise DatarialError("the model needs at least one measured condition")
    warp = OutputWarp.fit(y_model) if settings.output_warp == "yeo-johnson" else OutputWarp.identity()
    y_gp = warp(y_model)
    uniq, inverse = _group_rows(X)
    counts = np.bincount(inverse, minlength=len(uniq))
    means = np.bincount(inverse, weights=y_gp, minlength=len(uniq)) / counts  # GP space
    model_means = np.bincount(inverse, weights=y_model, minlength=len(uniq)) / counts
    train_y_model = y_model  # the training targets before the warp, row for row

    train_Yvar = None
    if settings.noise == "none":
        train_X, train_Y = uniq, means
        train_y_model = model_means
        scale = float(np.var(means)) if len(means) > 1 and np.var(means) > 0 else 1.0
        train_Yvar = np.full(len(means), _NOISELESS_VAR * scale)
    elif settings.replicates == "mean" and np.any(counts > 1):
        resid = y_gp - means[inverse]
        dof = int(np.sum(counts - 1))
        pooled_var = float(np.sum(resid**2) / dof)
        floor = 1e-6 * max(float(np.var(means)), 1e-12)
        train_X, train_Y = uniq, means
        train_y_model = model_means
        train_Yvar = np.maximum(pooled_var / counts, floor)
    else:
        train_X, train_Y = X, y_gp

    feats = Featurizer(space).numpy(train_X)
    y_mean, y_std = standardisation(train_Y)
    kind = "rbf" if settings.kernel == "rbf" else "matern52"
    noise = None if train_Yvar is None else train_Yvar / y_std**2
    try:
        hyper = fit_map(feats, (train_Y - y_mean) / y_std, kind=kind, dim=space.dim, noise=noise,
                        seed=0 if seed is None else int(seed), prior=settings.lengthscale_prior)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise DatarialError(f"the Gaussian-process fit failed: {exc}") from None
    training = Training(feats, np.asarray(train_Y, dtype=float), train_Yvar, kind, hyper, y_mean, y_std,
                        lengthscale_prior(space.dim, settings.lengthscale_prior))
    return Surrogate(space, settings, training, uniq, means, warp, train_y_model)


def standardisation(y: np.ndarray) -> tuple[float, float]:
    """(mean, std) as BoTorch's ``Standardize`` takes them: unbiased std; 1 for one value or std < 1e-8."""
    y = np.asarray(y, dtype=float)
    mean = float(np.mean(y))
    std = float(np.std(y, ddof=1)) if len(y) > 1 else 1.0
    return mean, (std if std >= 1e-8 else 1.0)


@dataclass(frozen=True)
class Training:
    """What the GP was fitted to, and the fitted hyperparameters."""

    X: np.ndarray  # (n, w) features
    y: np.ndarray  # (n,) GP-space targets (not standardised)
    yvar: np.ndarray | None  # (n,) given noise variances, GP space; None: learned
    kind: str  # matern52 | rbf
    hyper: Hyperparameters  # standardised units
    y_mean: float
    y_std: float
    prior: LengthscalePrior  # the one the fit used (dimension-scaled by search parameters)

    def exact(self) -> ExactGP:
        ys = (self.y - self.y_mean) / self.y_std
        noise = (self.yvar / self.y_std**2 if self.yvar is not None
                 else np.full(len(self.y), float(self.hyper.noise)))
        return ExactGP(self.X, ys, self.hyper.lengthscale, noise, self.hyper.mean, self.kind)

    def botorch_model(self) -> SingleTaskGP:
        """A ``SingleTaskGP`` on the same data with these hyperparameters, in eval mode."""
        tX = torch.as_tensor(self.X, dtype=DTYPE)
        tY = torch.as_tensor(self.y, dtype=DTYPE).unsqueeze(-1)
        tYvar = None if self.yvar is None else torch.as_tensor(self.yvar, dtype=DTYPE).unsqueeze(-1)
        # Like BoTorch's get_covar_module_with_dim_scaled_prior, but the prior
        # counts search parameters, not one-hot columns, and may be the Gamma one.
        prior = self.prior.gpytorch()
        covar = (RBFKernel if self.kind == "rbf" else MaternKernel)(
            ard_num_dims=self.X.shape[1], lengthscale_prior=prior,
            lengthscale_constraint=GreaterThan(LENGTHSCALE_MIN, transform=None, initial_value=prior.mode))
        model = SingleTaskGP(tX, tY, train_Yvar=tYvar, covar_module=covar, outcome_transform=Standardize(m=1))
        with torch.no_grad():
            model.covar_module.lengthscale = torch.as_tensor(self.hyper.lengthscale, dtype=DTYPE).reshape(1, -1)
            if self.hyper.noise is not None:
                model.likelihood.noise = torch.tensor([self.hyper.noise], dtype=DTYPE)
            model.mean_module.constant = torch.tensor(self.hyper.mean, dtype=DTYPE)
        model.eval()
        return model


class SurrogateCache:
    """A small thread-safe LRU of fitted surrogates, keyed by data + settings."""

    def __init__(self, size: int = 16) -> None:
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get_or_fit(self, key: str, fit: Callable[[], Surrogate]) -> Surrogate:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        sur = fit()
        with self._lock:
            self._items[key] = sur
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return sur
