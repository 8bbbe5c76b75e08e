"""Initial designs for campaigns with little or no data.

``corners`` follows the MgB2 heat-treatment study: the corners of the box of
numeric parameters plus its centre (categorical values cycled over them).
``sobol`` is a scrambled Sobol sequence snapped to the grid.  Both return grid
indices, feasible under the constraints, distinct, and not in ``exclude``.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import qmc

from datarial.errors import ProposalError
from datarial.space import SearchSpace


def sobol_indices(space: SearchSpace, n: int, seed: int | None) -> np.ndarray:
    """``n`` scrambled-Sobol points of the box as grid indices (n, d); may repeat on coarse grids."""
    m = int(np.ceil(np.log2(max(n, 2))))
    u = qmc.Sobol(d=space.dim, scramble=True, seed=seed).random_base2(m)[:n]
    levels = space.n_levels
    return np.minimum((u * levels).astype(np.int64), levels - 1)


def corner_indices(space: SearchSpace) -> np.ndarray:
    """Box corners of the numeric parameters plus the centre, as grid indices."""
    numeric = [j for j, p in enumerate(space.parameters) if p.is_numeric]
    cats = space.categorical_dims
    levels = space.n_levels
    rows = []
    for i, corner in enumerate(itertools.product(*[(0, levels[j] - 1) for j in numeric])):
        row = np.zeros(space.dim, dtype=np.int64)
        row[numeric] = corner
        for j in cats:
            row[j] = i % levels[j]
        rows.append(row)
    centre = np.zeros(space.dim, dtype=np.int64)
    for j in numeric:
        p = space.parameters[j]
        centre[j] = p.index_of((p.low + p.grid_high) / 2)
    for j in cats:
        centre[j] = len(rows) % levels[j]
    rows.append(centre)
    return np.array(rows, dtype=np.int64)


def initial_design(space: SearchSpace, n: int, method: str = "sobol", seed: int | None = 0,
                   exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` distinct feasible grid points (n, d) not in ``exclude``."""
    taken = set(space.index_keys(exclude)) if exclude is not None and len(exclude) else set()
    chosen: list[np.ndarray] = []

    def take(candidates: np.ndarray) -> None:
        if not len(candidates):
            return
        ok = space.feasible_indices(candidates)
        for row, key, feasible in zip(candidates, space.index_keys(candidates), ok, strict=True):
            if len(chosen) >= n:
                return
            if feasible and key not in taken:
                taken.add(key)
                chosen.append(row)

    if method == "corners":
        take(corner_indices(space))
    rng_seed = 0 if seed is None else int(seed)
    for attempt in range(8):
        if len(chosen) >= n:
            break
        take(sobol_indices(space, max(4 * n, 64) * 2**attempt, seed=rng_seed + attempt))
    if len(chosen) < n and space.grid_size <= 1e6:
        # Small or tightly constrained grids: fall back to a seeded shuffle of every point.
        grid = space.all_indices()
        take(grid[np.random.default_rng(rng_seed).permutation(len(grid))])
    if len(chosen) < n:
        raise ProposalError(
            f"only {len(chosen)} feasible, not yet measured or pending grid points are left; "
            f"asked for {n}"
        )
    return np.array(chosen, dtype=np.int64)
