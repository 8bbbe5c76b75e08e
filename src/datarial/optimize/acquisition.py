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

import numpy as np
import torch
from botorch.acquisition import (
    LogExpectedImprovement,
    UpperConfidenceBound,
    qLogNoisyExpectedImprovement,
)
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import LogProbabilityOfImprovement
from botorch.sampling import SobolQMCNormalSampler

from datarial.errors import DatarialError
from datarial.optimize.settings import ACQUISITIONS, ModelSettings
from datarial.optimize.surrogate import Surrogate


def check_acquisition(name: str) -> str:
    """The acquisition name in canonical form; refuses unknown names."""
    name = str(name).lower()
    if name not in ACQUISITIONS:
        raise DatarialError(f"acquisition {name!r} is not one of {', '.join(ACQUISITIONS)}")
    return name


class BoundAcquisition:
    """An acquisition function bound to a surrogate; scores encoded points."""

    def __init__(self, surrogate: Surrogate, acqf: AcquisitionFunction) -> None:
        self.surrogate, self.acqf = surrogate, acqf

    def __call__(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Acquisition values (n,) of single encoded points X (n, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.empty(len(X))
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                feats = self.surrogate.features(X[start : start + chunk]).unsqueeze(-2)
                out[start : start + len(feats)] = self.acqf(feats).numpy()
        return out


def _believer_model(surrogate: Surrogate, X_pending: np.ndarray):
    """The surrogate's model conditioned on pending points at their posterior means."""
    model = surrogate.model
    feats = surrogate.features(X_pending)
    with torch.no_grad():
        mean = model.posterior(feats).mean
        kwargs = {}
        if surrogate.fixed_noise:
            kwargs["noise"] = torch.full_like(mean, surrogate.fantasy_noise)
        fantasy = model.condition_on_observations(feats, mean, **kwargs)
    return fantasy, float(mean.max())


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
        return BoundAcquisition(surrogate, acqf)
    model, best = surrogate.model, surrogate.best_f
    if has_pending:
        model, fantasy_best = _believer_model(surrogate, X_pending)
        best = max(best, fantasy_best)
    scale = float(surrogate.model.outcome_transform.stdvs.reshape(-1)[0])
    best_f = best + settings.xi * scale
    if name == "ei":
        acqf = LogExpectedImprovement(model, best_f=best_f)
    elif name == "pi":
        acqf = LogProbabilityOfImprovement(model, best_f=best_f)
    else:
        acqf = UpperConfidenceBound(model, beta=settings.beta)
    return BoundAcquisition(surrogate, acqf)


def acquisition_map(surrogate: Surrogate, X: np.ndarray, name: str = "ei",
                    settings: ModelSettings | None = None, X_pending: np.ndarray | None = None) -> np.ndarray:
    """Acquisition values at arbitrary encoded points (n, d), e.g. for the model maps."""
    return build_acquisition(surrogate, name, settings, X_pending=X_pending)(X)
