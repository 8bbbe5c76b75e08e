"""Batch proposal on the parameter grid: greedy batches with pending points.

Proposals must lie exactly on each parameter's step grid and categorical
values, satisfy the linear constraints, be distinct, and avoid conditions that
are measured or pending (unless re-measurement is asked for).  Rather than
relaxing the grid to a continuous box and rounding (which breaks all four), the
search works on grid indices directly:

* small grids (≤ ``max_enumerate`` points) are enumerated and scored exactly;
* large grids are scored on a seeded Sobol pool snapped to the grid plus the
  grid neighbours of the best measured conditions, then the best few points
  are refined by a multi-scale coordinate search (±1, 2, 4, … steps;
  every other category), all in batched acquisition calls.

A batch is built greedily: every pick is fixed as a pending point for the
next one (see :mod:`datarial.optimize.acquisition`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datarial.errors import ProposalError
from datarial.optimize.acquisition import (
    BoundAcquisition,
    PoolBatch,
    build_acquisition,
    check_acquisition,
)
from datarial.optimize.initial import sobol_indices
from datarial.optimize.settings import ModelSettings
from datarial.optimize.surrogate import Surrogate
from datarial.space import SearchSpace


@dataclass(frozen=True)
class BatchPick:
    """Grid indices of the picks (q, d) and the acquisition value at each pick."""

    indices: np.ndarray
    acquisition_values: np.ndarray


def _neighbour_moves(space: SearchSpace) -> np.ndarray:
    """Index offsets (m, d) of the coordinate search: ±2^k steps, every other category."""
    moves = []
    for j, p in enumerate(space.parameters):
        n = p.n_levels
        if p.kind == "categorical":
            for delta in range(1, n):  # applied modulo n below
                m = np.zeros(space.dim, dtype=np.int64)
                m[j] = delta
                moves.append(m)
            continue
        step = 1
        while step <= max(1, n // 4):
            for sign in (1, -1):
                m = np.zeros(space.dim, dtype=np.int64)
                m[j] = sign * step
                moves.append(m)
            step *= 2
    return np.array(moves, dtype=np.int64).reshape(-1, space.dim)


def _apply_moves(space: SearchSpace, points: np.ndarray, moves: np.ndarray) -> np.ndarray:
    levels = space.n_levels
    cand = (points[:, None, :] + moves[None, :, :]).reshape(-1, space.dim)
    cats = space.categorical_dims
    if cats:
        cand[:, cats] %= levels[cats]
    return np.clip(cand, 0, levels - 1)


class _Scorer:
    """Scores grid points with one acquisition, skipping infeasible and taken ones."""

    def __init__(self, space: SearchSpace, acqf: BoundAcquisition | None, taken: set[bytes]) -> None:
        self.space, self.acqf, self.taken = space, acqf, taken

    def valid(self, idx: np.ndarray) -> np.ndarray:
        ok = self.space.feasible_indices(idx)
        keys = self.space.index_keys(idx)
        ok &= np.fromiter((k not in self.taken for k in keys), dtype=bool, count=len(keys))
        return ok

    def score(self, idx: np.ndarray) -> np.ndarray:
        out = np.full(len(idx), -np.inf)
        ok = self.valid(idx)
        if ok.any():
            out[ok] = self.acqf(self.space.unit_from_indices(idx[ok]))
        # NaN (numerical failure) must never win a pick.
        out[np.isnan(out)] = -np.inf
        return out


def _exhausted(found: int, q: int) -> ProposalError:
    return ProposalError(f"only {found} feasible grid points that are neither measured nor pending "
                         f"were found; asked for {q}")


def _unique_rows(idx: np.ndarray) -> np.ndarray:
    return np.unique(idx, axis=0) if len(idx) else idx


def _local_search(space: SearchSpace, scorer: _Scorer, starts: np.ndarray, start_scores: np.ndarray,
                  moves: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy best-improvement coordinate search from each start; returns improved points."""
    points, scores = starts.copy(), start_scores.copy()
    active = np.ones(len(points), dtype=bool)
    for _ in range(iterations):
        if not active.any():
            break
        act = np.flatnonzero(active)
        cand = _apply_moves(space, points[act], moves)
        cand_scores = scorer.score(cand).reshape(len(act), len(moves))
        best = cand_scores.argmax(axis=1)
        best_scores = cand_scores[np.arange(len(act)), best]
        improved = best_scores > scores[act] + 1e-12
        moved = act[improved]
        points[moved] = cand.reshape(len(act), len(moves), -1)[improved, best[improved]]
        scores[moved] = best_scores[improved]
        active[act[~improved]] = False
    return points, scores


def candidate_pool(space: SearchSpace, settings: ModelSettings, seed: int | None,
                   anchors: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Grid points to score: the whole grid when small, else Sobol + anchors' neighbours.

    Returns the pool and whether it is the exhaustive grid.
    """
    if space.grid_size <= settings.max_enumerate:
        return space.all_indices(), True
    pool = sobol_indices(space, settings.raw_candidates, seed=seed)
    if anchors is not None and len(anchors):
        pool = np.vstack([pool, anchors, _apply_moves(space, anchors, _neighbour_moves(space))])
    return _unique_rows(pool), False


def pick_batch(space: SearchSpace, surrogate: Surrogate, q: int, acquisition: str,
               settings: ModelSettings, exclude: np.ndarray | None = None,
               pending: np.ndarray | None = None, seed: int | None = 0) -> BatchPick:
    """Greedy batch of ``q`` grid points maximising ``acquisition``.

    exclude: grid indices never to propose (measured conditions, pending ones).
    pending: grid indices of proposed-but-unmeasured experiments; the model
        accounts for them as fantasised observations.
    """
    taken = set(space.index_keys(exclude)) if exclude is not None and len(exclude) else set()
    pending_unit = space.unit_from_indices(pending) if pending is not None and len(pending) else np.empty((0, space.dim))
    # Anchor the pool at the best measured conditions (model space means).
    order = np.argsort(-surrogate.y_condition_means)[: max(settings.local_search_starts, 4)]
    anchors = space.indices_from_unit(surrogate.X_conditions[order])
    pool, exhaustive = candidate_pool(space, settings, seed, anchors)
    moves = None if exhaustive else _neighbour_moves(space)

    if exhaustive and check_acquisition(acquisition) != "qlognei":
        return _pick_enumerated(space, surrogate, pool, q, acquisition, settings, taken, pending_unit)
    picks, values = [], []
    for _ in range(q):
        acqf = build_acquisition(surrogate, acquisition, settings,
                                 X_pending=pending_unit if len(pending_unit) else None, seed=seed)
        scorer = _Scorer(space, acqf, taken)
        scores = scorer.score(pool)
        if not np.isfinite(scores).any():
            raise _exhausted(len(picks), q)
        if not exhaustive:
            k = min(settings.local_search_starts, int(np.isfinite(scores).sum()))
            top = np.argsort(-scores)[:k]
            pts, sc = _local_search(space, scorer, pool[top], scores[top], moves,
                                    settings.local_search_iterations)
            best_i = int(np.argmax(sc))
            best_pt, best_val = pts[best_i], float(sc[best_i])
            pool = np.vstack([pool, pts])  # refined points stay candidates for later picks
        else:
            best_i = int(np.argmax(scores))
            best_pt, best_val = pool[best_i], float(scores[best_i])
        picks.append(best_pt.copy())
        values.append(best_val)
        taken.add(best_pt.astype(np.int64).tobytes())
        pending_unit = np.vstack([pending_unit, space.unit_from_indices(best_pt[None, :])])
    return BatchPick(indices=np.array(picks, dtype=np.int64), acquisition_values=np.array(values))


def _pick_enumerated(space: SearchSpace, surrogate: Surrogate, grid: np.ndarray, q: int, acquisition: str,
                     settings: ModelSettings, taken: set[bytes], pending_unit: np.ndarray) -> BatchPick:
    """Greedy batch over the whole (enumerated) grid: the grid is a candidate pool (:func:`pick_from_pool`)."""
    ok = _Scorer(space, None, taken).valid(grid)
    if int(ok.sum()) < q:
        raise _exhausted(int(ok.sum()), q)
    pick = pick_from_pool(surrogate, space.unit_from_indices(grid), q, acquisition, settings, available=ok,
                          pending=pending_unit if len(pending_unit) else None)
    return BatchPick(indices=grid[pick.indices].astype(np.int64), acquisition_values=pick.acquisition_values)


def pick_from_pool(surrogate: Surrogate, X_pool: np.ndarray, q: int, acquisition: str,
                   settings: ModelSettings, available: np.ndarray | None = None,
                   pending: np.ndarray | None = None, seed: int | None = 0) -> BatchPick:
    """Greedy batch of ``q`` rows of an explicit candidate set ``X_pool`` (n, d; model encoding).

    For campaigns whose candidates are a fixed list (powder lots on the shelf,
    the conditions of an existing data set) rather than a grid.  ``available``
    masks the rows that may be picked; ``pending`` holds encoded conditions
    already proposed.  Returns row numbers of ``X_pool`` as ``indices`` (q,).
    """
    X_pool = np.atleast_2d(np.asarray(X_pool, dtype=float))
    ok = np.ones(len(X_pool), dtype=bool) if available is None else np.asarray(available, dtype=bool).copy()
    if int(ok.sum()) < q:
        raise ProposalError(f"only {int(ok.sum())} candidates are left; asked for {q}")
    pending_unit = (np.atleast_2d(pending) if pending is not None and len(pending)
                    else np.empty((0, X_pool.shape[1])))
    # Analytic acquisitions: the pool's posterior once, then a rank-1 update per pick.
    batch = (PoolBatch(surrogate, X_pool, acquisition, settings, pending_unit if len(pending_unit) else None)
             if check_acquisition(acquisition) != "qlognei" else None)
    picks, values = [], []
    for _ in range(q):
        scores = np.full(len(X_pool), -np.inf)
        if batch is not None:
            scores[ok] = batch.values()[ok]
        else:
            acqf = build_acquisition(surrogate, acquisition, settings,
                                     X_pending=pending_unit if len(pending_unit) else None, seed=seed)
            scores[ok] = acqf(X_pool[ok])
        scores[np.isnan(scores)] = -np.inf
        if not np.isfinite(scores).any():  # every score failed: fall back to the posterior mean
            scores[ok] = surrogate.posterior_mean_std(X_pool[ok])[0]
        best = int(np.argmax(scores))
        picks.append(best)
        values.append(float(scores[best]))
        ok[best] = False
        pending_unit = np.vstack([pending_unit, X_pool[best][None, :]])
        if batch is not None:
            batch.add(best)
    return BatchPick(indices=np.array(picks, dtype=np.int64), acquisition_values=np.array(values))
