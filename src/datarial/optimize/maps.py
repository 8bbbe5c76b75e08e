"""Maps of the model: mean, uncertainty and acquisition on 1D/2D/3D slices of the space.

A map varies one to three parameters (its *axes*) over their ranges and holds
the others fixed (by default at the best measured condition).  Everything is
computed in one vectorised posterior call; values are in the objective's units
(``std`` in decades for a log-transformed objective).  The figures are built in
:mod:`datarial.viz.maps`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from datarial.campaign.records import column_label
from datarial.errors import DatarialError
from datarial.optimize.acquisition import build_acquisition, check_acquisition
from datarial.optimize.engine import Observations
from datarial.optimize.settings import ModelSettings
from datarial.optimize.surrogate import Surrogate, to_model_space
from datarial.space import SearchSpace

DEFAULT_RESOLUTION = {1: 200, 2: 100, 3: 20}
MAX_MAP_POINTS = 250_000
SLICE_TOLERANCE = 0.1  # fraction of a fixed parameter's range within which a point counts as "near"

ACQUISITION_LABELS = {
    "ei": "log expected improvement",
    "pi": "log probability of improvement",
    "ucb": "upper confidence bound (model space)",
    "qlognei": "qLogNEI",
}


@dataclass(frozen=True)
class MapPoint:
    """A measured condition (replicate mean) shown on a map; ``distance`` 0 lies on the slice."""

    conditions: dict[str, Any]
    mean: float
    n: int
    distance: float


@dataclass
class ModelMap:
    """Model mean, std, ±1σ band and acquisition on a 1–3-axis grid (``ij`` indexing)."""

    space: SearchSpace
    axes: list[str]
    axis_values: list[np.ndarray]
    fixed: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    acquisition: np.ndarray | None
    acquisition_name: str | None
    feasible: np.ndarray
    points: list[MapPoint] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    @property
    def std_label(self) -> str:
        obj = self.space.objective
        return f"std [{'decades' if obj.transform == 'log' else obj.unit}]"

    def to_frame(self) -> pd.DataFrame:
        """One row per grid point: axis values (with units), fixed values, mean, std, band, acquisition."""
        obj = self.space.objective
        grids = np.meshgrid(*self.axis_values, indexing="ij")
        data: dict[str, Any] = {}
        for name, g in zip(self.axes, grids, strict=True):
            data[column_label(name, self.space[name].unit)] = g.reshape(-1)
        for name, v in self.fixed.items():
            data[column_label(name, self.space[name].unit)] = np.full(self.mean.size, v, dtype=object)
        data[f"mean {obj.label}"] = self.mean.reshape(-1)
        data[self.std_label] = self.std.reshape(-1)
        data[f"lower (-1 sd) {obj.label}"] = self.lower.reshape(-1)
        data[f"upper (+1 sd) {obj.label}"] = self.upper.reshape(-1)
        if self.acquisition is not None:
            data[f"acquisition ({self.acquisition_name})"] = self.acquisition.reshape(-1)
        data["feasible"] = self.feasible.reshape(-1)
        return pd.DataFrame(data)


def _axis_values(space: SearchSpace, name: str, resolution: int) -> np.ndarray:
    p = space[name]
    if p.kind == "categorical":
        return np.array(p.values, dtype=object)
    if p.kind == "integer" or p.step is not None:
        if p.n_levels <= resolution:
            return np.asarray(p.value_at(np.arange(p.n_levels)), dtype=float)
    return np.linspace(p.low, p.high, resolution)


def condition_means(space: SearchSpace, obs: Observations) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Distinct measured conditions, their replicate means (objective units) and counts."""
    if len(obs) == 0:
        return [], np.empty(0), np.empty(0, dtype=int)
    X = space.to_unit(obs.columns)
    uniq, first, inverse = np.unique(np.round(X, 12), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(uniq))
    means = np.bincount(inverse, weights=obs.values, minlength=len(uniq)) / counts
    conds = [{n: obs.columns[n][i] for n in space.names} for i in first]
    return conds, means, counts


def best_conditions(space: SearchSpace, obs: Observations) -> dict[str, Any]:
    """The measured condition with the best replicate mean (the centre of default slices)."""
    conds, means, _ = condition_means(space, obs)
    if not conds:
        return {p.name: (p.values[0] if p.kind == "categorical" else (p.low + p.high) / 2) for p in space.parameters}
    score = to_model_space(means, space.objective)
    return dict(conds[int(np.argmax(score))])


def check_axes(space: SearchSpace, axes: Sequence[str], fixed: Mapping[str, Any] | None) -> tuple[list[str], dict]:
    """Validated axes (1–3 distinct parameters) and fixed values (coerced; unknown names refused)."""
    axes = list(axes)
    if not 1 <= len(axes) <= 3:
        raise DatarialError(f"axes: choose 1 to 3 parameters, got {len(axes)}")
    for a in axes:
        if a not in space.names:
            raise DatarialError(f"axes: unknown parameter '{a}' (known: {', '.join(space.names)})")
    if len(set(axes)) != len(axes):
        raise DatarialError("axes: a parameter appears twice")
    out = {}
    for k, v in dict(fixed or {}).items():
        if k not in space.names:
            raise DatarialError(f"fixed.{k}: unknown parameter (known: {', '.join(space.names)})")
        if k in axes:
            continue
        try:
            out[k] = space[k].coerce(v)
        except (TypeError, ValueError):
            raise DatarialError(f"fixed.{k}: {v!r} is not a number") from None
        except DatarialError as exc:
            raise DatarialError(f"fixed.{k}: {exc}") from None
    return axes, out


def compute_map(space: SearchSpace, surrogate: Surrogate, axes: Sequence[str], *,
                fixed: Mapping[str, Any] | None = None, resolution: int | None = None,
                acquisition: str | None = "ei", settings: ModelSettings | None = None,
                observations: Observations | None = None,
                pending: Mapping[str, Sequence[Any]] | None = None,
                slice_tolerance: float = SLICE_TOLERANCE) -> ModelMap:
    """The model on a grid over ``axes`` with the other parameters at ``fixed``.

    ``resolution`` points per numeric axis (default 200 / 100 / 20 for 1D / 2D
    / 3D); stepped and integer axes with fewer levels use their levels, and
    categorical axes their categories.  Unset fixed values come from the best
    measured condition.  Pending proposals enter the acquisition as they do
    when proposing.  Infeasible grid points (constraints) are marked in
    ``feasible`` and get no acquisition value (NaN).
    """
    axes, fixed_in = check_axes(space, axes, fixed)
    obs = observations if observations is not None else Observations.empty(space)
    if resolution is None:
        resolution = DEFAULT_RESOLUTION[len(axes)]
    if not 2 <= int(resolution) <= 1000:
        raise DatarialError(f"resolution must be between 2 and 1000, got {resolution}")
    axis_values = [_axis_values(space, a, int(resolution)) for a in axes]
    shape = tuple(len(v) for v in axis_values)
    n = int(np.prod(shape))
    if n > MAX_MAP_POINTS:
        raise DatarialError(f"a {' x '.join(map(str, shape))} map has {n} points; the limit is {MAX_MAP_POINTS}")
    centre = best_conditions(space, obs)
    fixed_vals = {name: fixed_in.get(name, centre[name]) for name in space.names if name not in axes}

    idx = np.meshgrid(*[np.arange(k) for k in shape], indexing="ij")
    columns: dict[str, Any] = {}
    for a, vals, ix in zip(axes, axis_values, idx, strict=True):
        columns[a] = vals[ix.reshape(-1)]
    for name, v in fixed_vals.items():
        columns[name] = np.full(n, v, dtype=object if space[name].kind == "categorical" else float)
    X = space.to_unit(columns)
    numeric = {p.name: np.asarray(columns[p.name], dtype=float) for p in space.parameters if p.is_numeric}
    feasible = space.feasible(numeric)
    pred = surrogate.predict(X)

    acq = None
    acq_name = None
    if acquisition:
        acq_name = check_acquisition(acquisition)
        X_pending = space.to_unit(pending) if pending and len(next(iter(pending.values()))) else None
        acq = build_acquisition(surrogate, acq_name, settings, X_pending=X_pending)(X)
        acq = np.where(feasible, acq, np.nan).reshape(shape)

    return ModelMap(
        space=space, axes=axes, axis_values=axis_values, fixed=fixed_vals,
        mean=pred.mean.reshape(shape), std=pred.std.reshape(shape), lower=pred.lower.reshape(shape),
        upper=pred.upper.reshape(shape), acquisition=acq, acquisition_name=acq_name,
        feasible=feasible.reshape(shape),
        points=_points_near(space, obs, axes, fixed_vals, slice_tolerance),
        proposals=_proposals(space, pending),
    )


def history_frame(maps: Sequence[tuple[int, ModelMap | None]]) -> pd.DataFrame:
    """The grid data of per-round maps in one table, with a ``round`` column."""
    frames = [m.to_frame().assign(round=r) for r, m in maps if m is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _points_near(space: SearchSpace, obs: Observations, axes: list[str], fixed: Mapping[str, Any],
                 tolerance: float) -> list[MapPoint]:
    """Measured conditions within ``tolerance`` (fraction of range) of the slice in every fixed parameter."""
    conds, means, counts = condition_means(space, obs)
    out = []
    for c, m, k in zip(conds, means, counts, strict=True):
        dist = 0.0
        for name, v in fixed.items():
            p = space[name]
            if p.kind == "categorical":
                d = 0.0 if p.category_index(c[name]) == p.category_index(v) else np.inf
            else:
                d = abs(float(c[name]) - float(v)) / (p.high - p.low)
            dist = max(dist, d)
        if dist <= tolerance:
            out.append(MapPoint(dict(c), float(m), int(k), float(dist)))
    return out


def _proposals(space: SearchSpace, pending: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    if not pending:
        return []
    n = len(next(iter(pending.values())))
    return [{name: pending[name][i] for name in space.names} for i in range(n)]


@dataclass
class UnexploredRegion:
    """Where no data and high uncertainty remain (for researcher-planned experiments).

    ``map`` is the model map of the slice; ``relative_std`` its std divided by the
    largest std anywhere on the slice (0–1); ``distance`` the distance of every
    grid point to the nearest measured condition (fractions of the parameter
    ranges, Euclidean over all numeric parameters; another category counts 1);
    ``suggestions`` feasible grid points of the whole space, most uncertain
    first and at least ``min_separation`` apart in the numeric parameters,
    with their std and distance.
    """

    map: ModelMap
    relative_std: np.ndarray
    distance: np.ndarray
    suggestions: pd.DataFrame


def _distance_to_data(space: SearchSpace, X: np.ndarray, data_X: np.ndarray) -> np.ndarray:
    if len(data_X) == 0:
        return np.full(len(X), np.inf)
    cat = space.categorical_dims
    num = [j for j in range(space.dim) if j not in cat]
    best = np.full(len(X), np.inf)
    for start in range(0, len(X), 4096):
        blk = X[start : start + 4096]
        d2 = np.zeros((len(blk), len(data_X)))
        for j in num:
            d2 += (blk[:, j, None] - data_X[None, :, j]) ** 2
        for j in cat:
            d2 += (blk[:, j, None] != data_X[None, :, j]).astype(float)
        best[start : start + len(blk)] = np.sqrt(d2.min(axis=1))
    return best


def unexplored_regions(space: SearchSpace, surrogate: Surrogate, axes: Sequence[str], *,
                       fixed: Mapping[str, Any] | None = None, resolution: int | None = None,
                       observations: Observations | None = None, n_suggestions: int = 10,
                       min_separation: float = 0.15, seed: int = 0) -> UnexploredRegion:
    """The unexplored-regions view of a slice plus suggested points over the whole space."""
    obs = observations if observations is not None else Observations.empty(space)
    m = compute_map(space, surrogate, axes, fixed=fixed, resolution=resolution, acquisition=None, observations=obs)
    data_X = np.unique(np.round(space.to_unit(obs.columns), 12), axis=0) if len(obs) else np.empty((0, space.dim))
    grids = np.meshgrid(*m.axis_values, indexing="ij")
    columns: dict[str, Any] = {a: g.reshape(-1) for a, g in zip(m.axes, grids, strict=True)}
    for name, v in m.fixed.items():
        columns[name] = np.full(m.mean.size, v, dtype=object)
    dist = _distance_to_data(space, space.to_unit(columns), data_X).reshape(m.shape)
    top = float(np.nanmax(m.std)) if m.std.size else 1.0
    rel = m.std / top if top > 0 else np.zeros_like(m.std)

    from datarial.optimize.search import candidate_pool

    idx, _ = candidate_pool(space, surrogate.settings, seed=seed)
    idx = idx[space.feasible_indices(idx)]
    Xc = space.unit_from_indices(idx)
    _, sd = surrogate.posterior_mean_std(Xc)
    dc = _distance_to_data(space, Xc, data_X)
    order = np.argsort(-sd, kind="stable")
    # Suggestions are spread in the numeric parameters: another category alone
    # does not make a point a different region to visit.
    numeric = [j for j in range(space.dim) if j not in space.categorical_dims]
    picked: list[int] = []
    for i in order:
        if dc[i] < min_separation:
            continue
        if picked and numeric and np.min(np.linalg.norm(Xc[picked][:, numeric] - Xc[i, numeric], axis=1)) < min_separation:
            continue
        picked.append(int(i))
        if len(picked) >= n_suggestions:
            break
    values = space.values_from_indices(idx[picked])
    rows = []
    pred = surrogate.predict(Xc[picked]) if picked else None
    for k, i in enumerate(picked):
        row = {column_label(p.name, p.unit): _plain(values[p.name][k]) for p in space.parameters}
        row[f"mean {space.objective.label}"] = float(pred.mean[k])
        row[m.std_label] = float(pred.std[k])
        row["distance to nearest data"] = float(dc[i])
        rows.append(row)
    cols = [column_label(p.name, p.unit) for p in space.parameters] + [
        f"mean {space.objective.label}", m.std_label, "distance to nearest data"]
    return UnexploredRegion(m, rel, dist, pd.DataFrame(rows, columns=cols))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
