"""Acquisition functions: expected improvement, UCB, probability of improvement, qLogNEI.

All work in model space (maximisation) on encoded points (see
:class:`~datarial.optimize.surrogate.Surrogate`).

* ``ei`` — expected improvement, the seed papers' choice, with the LogEI
  numerics of Ament et al. (2023, "Unexpected Improvements to Expected
  Improvement") so that it stays informative far from the incumbent.
* ``ucb`` — upper confidence bound ``mu + sqrt(beta)·sigma`` (for a minimised
  objective this is the lower confidence bound of the objective).
* ``pi`` — log probability of improvement.
* ``qlognei`` — BoTorch's batch log noisy expected improvement (Monte Carlo).

Batches and pending experiments: for ``ei``/``ucb``/``pi`` every pending point
(and every earlier pick of the batch) is added to the model as a "Kriging
believer" fantasy observation at its posterior mean (Ginsbourger et al.,
2010), which collapses the uncertainty around it and spreads the batch out at
the cost of one rank-k update.  ``qlognei`` integrates over pending points
jointly by Monte Carlo (``X_pending``).  Greedy MC ``qPI`` was tried and
rejected: once one pick is likely to improve, the joint probability saturates
near 1 everywhere and later picks become arbitrary.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import _log_ei_helper
from botorch.sampling import SobolQMCNormalSampler
from scipy.linalg import solve_triangular
from scipy.special import log_ndtr

from datarial.errors import DatarialError
from datarial.optimize.exact import PendingPoints
from datarial.optimize.settings import ACQUISITIONS, ModelSettings
from datarial.optimize.surrogate import Surrogate

_MIN_VAR = 1e-12  # BoTorch's floor on the posterior variance of analytic acquisitions


def check_acquisition(name: str) -> str:
    """The acquisition name in canonical form; refuses unknown names."""
    name = str(name).lower()
    if name not in ACQUISITIONS:
        raise DatarialError(f"acquisition {name!r} is not one of {', '.join(ACQUISITIONS)}")
    return name


class BoundAcquisition(ABC):
    """An acquisition function bound to a surrogate; scores encoded points."""

    def __init__(self, surrogate: Surrogate) -> None:
        self.surrogate = surrogate

    def __call__(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Acquisition values (n,) of single encoded points X (n, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.empty(len(X))
        for start in range(0, len(X), chunk):
            part = X[start : start + chunk]
            out[start : start + len(part)] = self._score(part)
        return out

    @abstractmethod
    def _score(self, X: np.ndarray) -> np.ndarray:
        """Acquisition values of one chunk of encoded points."""


class _BotorchAcquisition(BoundAcquisition):
    """A BoTorch acquisition function (``qlognei``) on the surrogate's BoTorch model."""

    def __init__(self, surrogate: Surrogate, acqf: AcquisitionFunction) -> None:
        super().__init__(surrogate)
        self.acqf = acqf

    def _score(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.acqf(self.surrogate.features(X).unsqueeze(-2)).numpy()


class _AnalyticAcquisition(BoundAcquisition):
    """UCB, LogEI or LogPI from the surrogate's exact posterior, with pending points as believer fantasies.

    The same values as BoTorch's ``UpperConfidenceBound``,
    ``LogExpectedImprovement`` and ``LogProbabilityOfImprovement`` on the
    model conditioned on the pending points (``tests/test_exact_gp.py``), but
    computed in NumPy: conditioning a believer fantasy leaves the posterior
    mean unchanged and lowers the variance by a rank-p update.
    """

    def __init__(self, surrogate: Surrogate, name: str, beta: float, best_f: float,
                 pending: PendingPoints | None) -> None:
        super().__init__(surrogate)
        self.name, self.beta, self.best_f, self.pending = name, beta, best_f, pending

    def _score(self, X: np.ndarray) -> np.ndarray:
        sur = self.surrogate
        mu, var = sur.gp.mean_var(sur.featurizer.numpy(X), self.pending)
        return analytic_values(sur, self.name, self.beta, self.best_f, mu, var)


def analytic_values(surrogate: Surrogate, name: str, beta: float, best_f: float,
                    mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """UCB / LogEI / LogPI from standardised posterior mean and variance (GP space incumbent ``best_f``)."""
    mean = surrogate.y_mean + surrogate.y_std * mu
    sigma = np.sqrt(np.maximum(surrogate.y_std**2 * var, _MIN_VAR))
    if name == "ucb":
        return mean + math.sqrt(beta) * sigma
    u = (mean - best_f) / sigma
    if name == "pi":
        return log_ndtr(u)
    return _log_ei_helper(torch.as_tensor(u)).numpy() + np.log(sigma)


def _believers(surrogate: Surrogate, X_pending: np.ndarray | None) -> tuple[PendingPoints | None, float]:
    """Pending encoded points conditioned as believer fantasies, and the incumbent (GP space) they give.

    Believer fantasies sit at the posterior mean, so the best of them can raise
    the incumbent of EI/PI.
    """
    if X_pending is None or not len(X_pending):
        return None, surrogate.best_f
    feats = surrogate.featurizer.numpy(X_pending)
    conditioned = surrogate.gp.condition(feats, np.full(len(feats), surrogate.pending_noise))
    return conditioned, max(surrogate.best_f, float(np.max(surrogate.posterior_mean_std(X_pending)[0])))


class PoolBatch:
    """Greedy believer batches over a fixed candidate set, updated pick by pick.

    The posterior over the pool is computed once; every pick then lowers the
    pool's variance by one rank-1 update (the believer fantasy at the pick)
    instead of conditioning the model again and rescoring from scratch.  The
    values equal :func:`build_acquisition` with the earlier picks as pending
    points (``tests/test_exact_gp.py``).
    """

    def __init__(self, surrogate: Surrogate, X_pool: np.ndarray, name: str, settings: ModelSettings,
                 X_pending: np.ndarray | None = None) -> None:
        self.sur, self.name, self.settings = surrogate, check_acquisition(name), settings
        if self.name == "qlognei":
            raise DatarialError("PoolBatch scores the analytic acquisitions (ucb, ei, pi)")
        gp = surrogate.gp
        self.F = surrogate.featurizer.numpy(X_pool)
        Kq, self.A = gp.half(self.F)
        self.mu = gp.mean + Kq.T @ gp.alpha
        self.var = 1.0 - (self.A * self.A).sum(0)
        self.cols: list[np.ndarray] = []  # the other rank-1 corrections of the pool's covariance
        cond, self.best = _believers(surrogate, X_pending)
        if cond is not None:
            S = gp.k(self.F, cond.P) - self.A.T @ cond.A
            B = solve_triangular(cond.L, S.T, lower=True, check_finite=False)  # (p, N)
            self.var = self.var - (B * B).sum(0)
            self.cols.extend(B)

    def values(self) -> np.ndarray:
        """Acquisition values of every pool row under the current pending picks."""
        best_f = self.best + self.settings.xi * self.sur.y_std
        return analytic_values(self.sur, self.name, self.settings.beta, best_f, self.mu, self.var)

    def add(self, row: int) -> None:
        """Make pool row ``row`` a pending pick: a believer fantasy there."""
        gp = self.sur.gp
        c = gp.k(self.F, self.F[row : row + 1])[:, 0] - self.A.T @ self.A[:, row]
        for u in self.cols:
            c -= u * u[row]
        d = max(float(c[row]) + self.sur.pending_noise, 1e-300)
        u = c / math.sqrt(d)
        self.var = self.var - u * u
        self.cols.append(u)
        self.best = max(self.best, self.sur.y_mean + self.sur.y_std * float(self.mu[row]))


def build_acquisition(surrogate: Surrogate, name: str, settings: ModelSettings | None = None,
                      X_pending: np.ndarray | None = None, seed: int | None = 0) -> BoundAcquisition:
    """The acquisition ``name`` on ``surrogate``, accounting for pending encoded points."""
    name = check_acquisition(name)
    settings = settings or surrogate.settings
    has_pending = X_pending is not None and len(X_pending) > 0
    if name == "qlognei":
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.mc_samples]),
                                        seed=0 if seed is None else int(seed))
        pending = surrogate.features(X_pending) if has_pending else None
        acqf = qLogNoisyExpectedImprovement(surrogate.model, X_baseline=surrogate.train_inputs,
                                            sampler=sampler, X_pending=pending,
                                            prune_baseline=True, cache_root=False)
        return _BotorchAcquisition(surrogate, acqf)
    conditioned, best = _believers(surrogate, X_pending)
    best_f = best + settings.xi * surrogate.y_std
    return _AnalyticAcquisition(surrogate, name, settings.beta, best_f, conditioned)


def acquisition_map(surrogate: Surrogate, X: np.ndarray, name: str = "ei",
                    settings: ModelSettings | None = None, X_pending: np.ndarray | None = None) -> np.ndarray:
    """Acquisition values at arbitrary encoded points (n, d), e.g. for the model maps."""
    return build_acquisition(surrogate, name, settings, X_pending=X_pending)(X)
