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

The model of record is BoTorch's ``SingleTaskGP``; its hyperparameters are
fitted, and its posterior evaluated on the proposal hot paths, by the NumPy
arithmetic of :mod:`datarial.optimize.exact` (same objective and posterior,
without GPyTorch's per-call overhead).
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
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import RBFKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from scipy.stats import yeojohnson, yeojohnson_normmax

from datarial.errors import DatarialError
from datarial.optimize.exact import ExactGP, fit_map, lengthscale_prior
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


@dataclass(frozen=True)
class OutputWarp:
    """Monotone map from model space to the GP's space: Yeo–Johnson of the standardised values.

    ``w = YJ_λ((y − centre)/scale)``, λ fitted by maximum likelihood of
    normality (scipy's ``yeojohnson_normmax``), so that skewed objectives
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
        with np.errstate(all="ignore"):
            lam = float(yeojohnson_normmax((y - centre) / scale, brack=(-1.0, 3.0)))
        if not np.isfinite(lam):
            return cls.identity()
        return cls(centre, scale, float(np.clip(lam, *_LAMBDA_RANGE)))

    @property
    def is_identity(self) -> bool:
        return self.lam == 1.0 and self.centre == 0.0 and self.scale == 1.0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Model space → GP space."""
        y = np.asarray(y, dtype=float)
        if self.is_identity:
            return y
        return yeojohnson((y - self.centre) / self.scale, self.lam)

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

    def __init__(self, space: SearchSpace, model, settings: ModelSettings,
                 X_conditions: np.ndarray, y_condition_means: np.ndarray,
                 train_Yvar: np.ndarray | None = None, warp: OutputWarp | None = None,
                 train_y_model: np.ndarray | None = None) -> None:
        self.space = space
        self.warp = warp or OutputWarp.identity()
        # The model's training targets before the warp (model space), row for row.
        self.train_y_model = (self.warp.inverse(y_condition_means) if train_y_model is None
                              else np.asarray(train_y_model, dtype=float))
        # Fantasy observations (batch building) need a noise level when the
        # model was fitted with known noise; use the typical known variance.
        self.fixed_noise = train_Yvar is not None
        self.fantasy_noise = float(np.median(train_Yvar)) if train_Yvar is not None else 0.0
        self.featurizer = Featurizer(space)
        self.model = model
        self.gp = exact_from_model(model)
        tf = model.outcome_transform
        self.y_mean = float(tf.means.reshape(-1)[0])  # standardisation: model space = y_mean + y_std * standardised
        self.y_std = float(tf.stdvs.reshape(-1)[0])
        self.settings = settings
        self.X_conditions = X_conditions  # distinct measured conditions (model encoding)
        self.y_condition_means = y_condition_means  # their replicate means, GP space (after the warp)
        self.best_observed = float(np.max(y_condition_means))  # GP space
        self._best_mean: float | None = None

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
        return float(self.model.likelihood.noise.detach().reshape(-1)[0])

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
        vals = self.model.covar_module.lengthscale.detach().reshape(-1).numpy()
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

    featurizer = Featurizer(space)
    tX = featurizer(train_X)
    tY = torch.as_tensor(train_Y, dtype=DTYPE).unsqueeze(-1)
    tYvar = None if train_Yvar is None else torch.as_tensor(train_Yvar, dtype=DTYPE).unsqueeze(-1)
    # The dimension-scaled prior counts parameters, not one-hot columns.
    covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=featurizer.width,
                                                   use_rbf_kernel=settings.kernel == "rbf")
    if featurizer.width != space.dim:
        covar.lengthscale_prior.loc.fill_(lengthscale_prior(space.dim)[0])
    model = SingleTaskGP(tX, tY, train_Yvar=tYvar, covar_module=covar, outcome_transform=Standardize(m=1))
    try:
        fit_hyperparameters(model, dim=space.dim, seed=0 if seed is None else int(seed))
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise DatarialError(f"the Gaussian-process fit failed: {exc}") from None
    model.eval()
    return Surrogate(space, model, settings, uniq, means, train_Yvar, warp, train_y_model)


def _kernel_kind(model) -> str:
    return "rbf" if isinstance(model.covar_module, RBFKernel) else "matern52"


def fit_hyperparameters(model: SingleTaskGP, dim: int, seed: int = 0) -> None:
    """Set ``model``'s lengthscales, noise and mean to their MAP values (:func:`~datarial.optimize.exact.fit_map`).

    The targets are the model's standardised training targets; a model with
    given noise (``train_Yvar``) keeps it.
    """
    X = model.train_inputs[0].detach().numpy()
    y = model.train_targets.detach().numpy()
    fixed = isinstance(model.likelihood, FixedNoiseGaussianLikelihood)
    noise = model.likelihood.noise.detach().numpy().reshape(-1) if fixed else None
    h = fit_map(X, y, kind=_kernel_kind(model), dim=dim, noise=noise, seed=seed)
    with torch.no_grad():
        model.covar_module.lengthscale = torch.as_tensor(h.lengthscale, dtype=DTYPE).reshape(1, -1)
        if h.noise is not None:
            model.likelihood.noise = torch.tensor([h.noise], dtype=DTYPE)
        model.mean_module.constant = torch.tensor(h.mean, dtype=DTYPE)


def exact_from_model(model: SingleTaskGP) -> ExactGP:
    """The NumPy posterior of a fitted ``SingleTaskGP`` (standardised units)."""
    X = model.train_inputs[0].detach().numpy()
    noise = model.likelihood.noise.detach().numpy().reshape(-1)
    return ExactGP(X, model.train_targets.detach().numpy(),
                   model.covar_module.lengthscale.detach().numpy().reshape(-1),
                   np.broadcast_to(noise, (len(X),)), float(model.mean_module.constant.detach()),
                   _kernel_kind(model))


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
