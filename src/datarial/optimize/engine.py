"""The proposal engine: from measured and pending conditions to the next batch.

Pure: takes value columns in the parameters' units and returns conditions;
the campaign layer does all storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datarial.errors import ProposalError
from datarial.optimize.acquisition import check_acquisition
from datarial.optimize.initial import initial_design
from datarial.optimize.search import pick_batch, pick_from_pool
from datarial.optimize.settings import ModelSettings
from datarial.optimize.surrogate import Surrogate, fit_surrogate
from datarial.space import SearchSpace

MAX_BATCH = 20


@dataclass(frozen=True)
class Observations:
    """Measured replicates: value columns (one entry per replicate) and objective values."""

    columns: Mapping[str, Sequence[Any]]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def empty(cls, space: SearchSpace) -> Observations:
        return cls({n: [] for n in space.names}, np.empty(0))


@dataclass(frozen=True)
class Proposal:
    """A batch of proposed conditions with what the model expected of them."""

    conditions: list[dict[str, Any]]
    indices: np.ndarray
    method: str  # "model", "sobol" or "corners"
    acquisition: str
    acquisition_values: np.ndarray
    predicted_mean: np.ndarray
    predicted_std: np.ndarray
    settings: ModelSettings
    seed: int | None
    surrogate: Surrogate | None = field(default=None, repr=False)


def on_grid_indices(space: SearchSpace, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """Grid indices of the rows that lie exactly on the grid and satisfy the constraints."""
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        return np.empty((0, space.dim), dtype=np.int64)
    idx = space.indices_from_values(columns)
    ok = np.ones(n, dtype=bool)
    for p in space.parameters:
        if p.is_numeric:
            vals = np.asarray(columns[p.name], dtype=float)
            ok &= np.array([p.is_on_grid(v) for v in vals])
    ok &= space.feasible_indices(idx)
    return idx[ok]


def distinct_conditions(space: SearchSpace, columns: Mapping[str, Sequence[Any]]) -> int:
    """Number of distinct conditions among value columns."""
    if not len(next(iter(columns.values()), [])):
        return 0
    return len(np.unique(np.round(space.to_unit(columns), 12), axis=0))


def propose(space: SearchSpace, observations: Observations, q: int = 5, acquisition: str | None = None,
            settings: ModelSettings | None = None, seed: int | None = 0,
            pending: Mapping[str, Sequence[Any]] | None = None, remeasure: bool = False) -> Proposal:
    """Propose ``q`` new conditions.

    With fewer than ``settings.min_observations`` distinct measured conditions
    an initial design is returned; otherwise a GP is fitted and the acquisition
    maximised over the grid (see :mod:`datarial.optimize.search`).
    """
    settings = settings or ModelSettings()
    acquisition = check_acquisition(acquisition or settings.acquisition)
    if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= MAX_BATCH:
        raise ProposalError(f"batch size must be a whole number from 1 to {MAX_BATCH}, got {q!r}")
    pending_idx = (on_grid_indices(space, pending) if pending and len(next(iter(pending.values()), []))
                   else np.empty((0, space.dim), dtype=np.int64))
    measured_idx = on_grid_indices(space, observations.columns) if len(observations) else pending_idx[:0]
    exclude = pending_idx if remeasure else np.vstack([measured_idx, pending_idx])

    if distinct_conditions(space, observations.columns) < settings.min_observations:
        idx = initial_design(space, q, settings.initial_design, seed=seed, exclude=exclude)
        nan = np.full(len(idx), np.nan)
        return Proposal(_conditions(space, idx), idx, settings.initial_design, acquisition,
                        nan, nan, nan.copy(), settings, seed)

    X = space.to_unit(observations.columns)
    surrogate = fit_surrogate(space, X, observations.values, settings, seed=seed)
    pick = pick_batch(space, surrogate, q, acquisition, settings, exclude=exclude,
                      pending=pending_idx, seed=seed)
    pred = surrogate.predict(space.unit_from_indices(pick.indices))
    return Proposal(_conditions(space, pick.indices), pick.indices, "model", acquisition,
                    pick.acquisition_values, pred.mean, pred.std, settings, seed, surrogate)


@dataclass(frozen=True)
class PoolProposal:
    """Rows of a candidate list picked for the next batch, with the model's expectations."""

    rows: np.ndarray
    method: str  # "model" or "random"
    acquisition_values: np.ndarray
    predicted_mean: np.ndarray
    predicted_std: np.ndarray


def propose_from_pool(space: SearchSpace, observations: Observations,
                      candidates: Mapping[str, Sequence[Any]], q: int = 5, acquisition: str | None = None,
                      settings: ModelSettings | None = None, seed: int | None = 0,
                      available: np.ndarray | None = None,
                      pending: Mapping[str, Sequence[Any]] | None = None) -> PoolProposal:
    """Pick ``q`` rows of an explicit candidate list (value columns) instead of grid points.

    ``available`` masks the rows that may be proposed (e.g. not yet measured);
    with fewer than ``settings.min_observations`` distinct measured conditions
    the rows are drawn at random (seeded).
    """
    settings = settings or ModelSettings()
    acquisition = check_acquisition(acquisition or settings.acquisition)
    if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= MAX_BATCH:
        raise ProposalError(f"batch size must be a whole number from 1 to {MAX_BATCH}, got {q!r}")
    X_pool = space.to_unit(candidates)
    ok = np.ones(len(X_pool), dtype=bool) if available is None else np.asarray(available, dtype=bool)
    if int(ok.sum()) < q:
        raise ProposalError(f"only {int(ok.sum())} candidates are left; asked for {q}")
    if distinct_conditions(space, observations.columns) < settings.min_observations:
        rows = np.random.default_rng(seed).choice(np.flatnonzero(ok), size=q, replace=False)
        nan = np.full(q, np.nan)
        return PoolProposal(rows, "random", nan, nan, nan.copy())
    X = space.to_unit(observations.columns)
    surrogate = fit_surrogate(space, X, observations.values, settings, seed=seed)
    pend = space.to_unit(pending) if pending and len(next(iter(pending.values()), [])) else None
    pick = pick_from_pool(surrogate, X_pool, q, acquisition, settings, available=ok,
                          pending=pend, seed=seed)
    pred = surrogate.predict(X_pool[pick.indices])
    return PoolProposal(pick.indices, "model", pick.acquisition_values, pred.mean, pred.std)


def _conditions(space: SearchSpace, idx: np.ndarray) -> list[dict[str, Any]]:
    cols = space.values_from_indices(idx)
    out = []
    for i in range(len(idx)):
        row = {}
        for p in space.parameters:
            v = cols[p.name][i]
            row[p.name] = p.coerce(v.item() if hasattr(v, "item") else v)
        out.append(row)
    return out
