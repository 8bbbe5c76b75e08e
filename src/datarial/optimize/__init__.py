"""Bayesian-optimization engine: GP surrogate, acquisitions, grid-aware batch proposals."""

from datarial.optimize.acquisition import acquisition_map, build_acquisition
from datarial.optimize.engine import (
    MAX_BATCH,
    Observations,
    PoolProposal,
    Proposal,
    propose,
    propose_from_pool,
)
from datarial.optimize.settings import ACQUISITIONS, ModelSettings
from datarial.optimize.surrogate import Prediction, Surrogate, SurrogateCache, fit_surrogate

__all__ = [
    "ACQUISITIONS",
    "MAX_BATCH",
    "ModelSettings",
    "Observations",
    "Prediction",
    "PoolProposal",
    "Proposal",
    "Surrogate",
    "SurrogateCache",
    "acquisition_map",
    "build_acquisition",
    "fit_surrogate",
    "propose",
    "propose_from_pool",
]
