"""Search spaces: parameters with units and steps, linear constraints, grids.

A :class:`SearchSpace` is what a researcher writes in a campaign YAML::

    name: mgb2-imd
    objective: {name: Jc_4p2K_7T, unit: A/cm2, goal: maximize}
    parameters:
      - {name: T_max, type: continuous, low: 550, high: 900, step: 10, unit: degC}
      - {name: t_hold, type: continuous, low: 0, high: 3000, step: 10, unit: min}
      - {name: MgB2_frac, type: categorical, values: [0, 10, 30], unit: "%"}
    constraints: ["T_max + 0.1*t_hold <= 1100"]

Values are kept in the units the researcher wrote (°C, min, ...): the search
space is the boundary with the lab, and the optimizer only ever sees the
normalised encoding produced here (:meth:`SearchSpace.to_unit`).

Internally every point is also addressed by *grid indices*: parameter ``j``
takes the values ``low_j + k * step_j`` for ``k = 0 .. n_j - 1`` (categorical:
``values[k]``).  Continuous parameters without a step get a fine virtual grid
of :data:`FINE_GRID_POINTS` points so that the proposal search, distinctness
and duplicate checks work the same way for every kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from datarial.constraints import LinearConstraint, parse_constraint
from datarial.errors import ConstraintError, DatarialError, SpaceError
from datarial.magnet.derived import DerivedObjective

FINE_GRID_POINTS = 10_001
"""Resolution of the virtual grid of a continuous parameter without a step."""

__all__ = [
    "FINE_GRID_POINTS",
    "LinearConstraint",
    "Objective",
    "Parameter",
    "SearchSpace",
    "load_space",
    "parse_constraint",
    "space_from_text",
]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GRID_TOL = 1e-6  # relative to the step: a value this close to a grid point is on it

ParameterKind = Literal["continuous", "integer", "categorical"]
Goal = Literal["maximize", "minimize"]


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Parameter:
    """One process variable.

    ``low``/``high``/``step`` are in ``unit`` (e.g. degC, min); ``values`` only
    for categorical parameters (numbers or strings, e.g. powder fraction in %).
    """

    name: str
    kind: ParameterKind
    unit: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple[Any, ...] = ()

    # -- grid -------------------------------------------------------------------------
    @property
    def is_numeric(self) -> bool:
        return self.kind != "categorical"

    @property
    def grid_step(self) -> float:
        """Spacing of the (possibly virtual) grid in ``unit``."""
        if self.kind == "categorical":
            return 1.0
        if self.step is not None:
            return float(self.step)
        return (self.high - self.low) / (FINE_GRID_POINTS - 1)

    @property
    def n_levels(self) -> int:
        """Number of grid points (categories) of this parameter."""
        if self.kind == "categorical":
            return len(self.values)
        if self.step is None:
            return FINE_GRID_POINTS
        return int(math.floor((self.high - self.low) / self.step + _GRID_TOL)) + 1

    @property
    def grid_high(self) -> float:
        """Largest grid value (≤ ``high``)."""
        return self.value_at(self.n_levels - 1)

    def value_at(self, index: int | np.ndarray) -> Any:
        """Value(s) of grid index ``index`` in ``unit``."""
        if self.kind == "categorical":
            if isinstance(index, np.ndarray):
                return np.asarray(self.values, dtype=object)[index]
            return self.values[int(index)]
        vals = self.low + np.asarray(index, dtype=float) * self.grid_step
        if self.kind == "integer":
            vals = np.rint(vals)
        vals = _tidy(vals, self.grid_step)
        return vals if isinstance(index, np.ndarray) else float(vals)

    def index_of(self, value: Any) -> int:
        """Nearest grid index of ``value`` (clipped into range)."""
        if self.kind == "categorical":
            return self.category_index(value)
        k = int(round((float(value) - self.low) / self.grid_step))
        return min(max(k, 0), self.n_levels - 1)

    def category_index(self, value: Any) -> int:
        """Index of a categorical value; numbers compare by value (``10 == 10.0``)."""
        for i, v in enumerate(self.values):
            if _same_category(v, value):
                return i
        raise SpaceError(
            f"parameter '{self.name}': {value!r} is not one of the categories "
            f"{list(self.values)}"
        )

    def is_on_grid(self, value: float) -> bool:
        if self.kind == "categorical" or (self.kind == "continuous" and self.step is None):
            return True
        k = (float(value) - self.low) / self.grid_step
        return abs(k - round(k)) <= _GRID_TOL * max(1.0, abs(k)) and self.in_range(value)

    def in_range(self, value: float) -> bool:
        if self.kind == "categorical":
            return True
        span = self.high - self.low
        return self.low - 1e-9 * span <= float(value) <= self.high + 1e-9 * span

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter stores it (float, int or the category)."""
        if self.kind == "categorical":
            return self.values[self.category_index(value)]
        x = float(value)
        if not math.isfinite(x):
            raise SpaceError(f"parameter '{self.name}': value {value!r} is not a finite number")
        if self.kind == "integer" and x == round(x):
            return int(round(x))
        return x

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "categorical":
            return f"{self.name}: one of {list(self.values)}{unit}"
        step = f" step {self.step:g}" if self.step is not None else ""
        return f"{self.name}: {self.low:g}..{self.high:g}{unit}{step} ({self.kind})"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.kind == "categorical":
            d["values"] = list(self.values)
        else:
            d["low"], d["high"] = self.low, self.high
            if self.step is not None:
                d["step"] = self.step
        if self.unit:
            d["unit"] = self.unit
        return d


def _same_category(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        try:
            return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b).strip()


def _tidy(values: Any, step: float) -> Any:
    """Round away float noise (550 + 3*0.1 → 550.3) to a few digits below the step."""
    digits = max(0, int(-math.floor(math.log10(step))) + 6) if step > 0 else 12
    return np.round(values, min(digits, 15))


# --------------------------------------------------------------------------- objective
@dataclass(frozen=True)
class Objective:
    """What is measured: name, unit, direction and an optional log transform.

    ``transform: log`` models ``log10(value)``, which suits quantities such as
    Jc that span decades (values must then be positive).
    """

    name: str
    unit: str = ""
    goal: Goal = "maximize"
    transform: Literal["none", "log"] = "none"
    derived: DerivedObjective | None = None  # computed from attached raw files

    @property
    def label(self) -> str:
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "goal": self.goal}
        if self.unit:
            d["unit"] = self.unit
        if self.transform != "none":
            d["transform"] = self.transform
        if self.derived is not None:
            d["derived"] = self.derived.to_dict()
        return d


# --------------------------------------------------------------------------- space
@dataclass(frozen=True)
class SearchSpace:
    """Parameters, linear constraints and the objective of one campaign."""

    name: str
    objective: Objective
    parameters: tuple[Parameter, ...]
    constraints: tuple[LinearConstraint, ...] = field(default_factory=tuple)

    # -- lookup ------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def categorical_dims(self) -> list[int]:
        return [j for j, p in enumerate(self.parameters) if p.kind == "categorical"]

    @property
    def n_levels(self) -> np.ndarray:
        return np.array([p.n_levels for p in self.parameters], dtype=np.int64)

    @property
    def grid_size(self) -> float:
        """Number of grid points of the box (float: may exceed int64)."""
        return float(np.prod(self.n_levels.astype(float)))

    # -- conversions ------------------------------------------------------------------
    def values_from_indices(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Column arrays of values (in the parameters' units) for grid indices (n, d)."""
        idx = np.atleast_2d(idx)
        return {p.name: p.value_at(idx[:, j]) for j, p in enumerate(self.parameters)}

    def indices_from_values(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Nearest grid indices (n, d) of value columns."""
        cols = [np.asarray(columns[p.name], dtype=object) for p in self.parameters]
        n = len(cols[0]) if cols else 0
        out = np.empty((n, self.dim), dtype=np.int64)
        for j, (p, col) in enumerate(zip(self.parameters, cols, strict=True)):
            out[:, j] = [p.index_of(v) for v in col]
        return out

    def to_unit(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Model encoding (n, d): numeric → (x-low)/(high-low); categorical → index."""
        n = len(next(iter(columns.values()))) if columns else 0
        out = np.empty((n, self.dim), dtype=float)
        for j, p in enumerate(self.parameters):
            col = columns[p.name]
            if p.kind == "categorical":
                out[:, j] = [p.category_index(v) for v in col]
            else:
                out[:, j] = (np.asarray(col, dtype=float) - p.low) / (p.high - p.low)
        return out

    def all_indices(self) -> np.ndarray:
        """Every grid point of the box as indices (n, d); only for small grids."""
        grid = np.stack(np.meshgrid(*[np.arange(k) for k in self.n_levels], indexing="ij"), -1)
        return grid.reshape(-1, self.dim).astype(np.int64)

    @staticmethod
    def index_keys(idx: np.ndarray) -> list[bytes]:
        """Hashable keys of grid-index rows (for set membership: measured, pending, picked)."""
        return [r.tobytes() for r in np.ascontiguousarray(np.atleast_2d(idx), dtype=np.int64)]

    def unit_from_indices(self, idx: np.ndarray) -> np.ndarray:
        """Model encoding (n, d) of grid indices, without building value columns."""
        idx = np.atleast_2d(idx)
        out = np.empty(idx.shape, dtype=float)
        for j, p in enumerate(self.parameters):
            if p.kind == "categorical":
                out[:, j] = idx[:, j]
            else:
                out[:, j] = (p.value_at(idx[:, j]) - p.low) / (p.high - p.low)
        return out

    def indices_from_unit(self, X: np.ndarray) -> np.ndarray:
        """Nearest grid indices (n, d) of model-encoded points (inverse of :meth:`unit_from_indices`)."""
        X = np.atleast_2d(X)
        idx = np.empty(X.shape, dtype=np.int64)
        for j, p in enumerate(self.parameters):
            if p.kind == "categorical":
                idx[:, j] = np.rint(X[:, j]).astype(np.int64)
            else:
                vals = p.low + X[:, j] * (p.high - p.low)
                idx[:, j] = np.clip(np.rint((vals - p.low) / p.grid_step), 0, p.n_levels - 1)
        return idx

    def feasible(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask: every constraint satisfied."""
        n = len(next(iter(columns.values()))) if columns else 0
        ok = np.ones(n, dtype=bool)
        for c in self.constraints:
            ok &= c.satisfied(columns)
        return ok

    def feasible_indices(self, idx: np.ndarray) -> np.ndarray:
        """Boolean mask of grid points (n, d) that satisfy every constraint."""
        if not self.constraints:
            return np.ones(len(np.atleast_2d(idx)), dtype=bool)
        numeric = {
            p.name: p.value_at(np.atleast_2d(idx)[:, j])
            for j, p in enumerate(self.parameters)
            if p.is_numeric
        }
        return self.feasible(numeric)

    def check_point(self, conditions: Mapping[str, Any]) -> list[str]:
        """Flags for a researcher's condition: off-grid, out of range, infeasible.

        Flagged conditions are stored (a researcher may run what they like) but
        never proposed.  Unknown categories raise :class:`SpaceError`.
        """
        flags = []
        for p in self.parameters:
            v = conditions[p.name]
            if p.kind == "categorical":
                p.category_index(v)
                continue
            if not p.in_range(v):
                flags.append(f"out-of-range:{p.name}")
            elif not p.is_on_grid(v):
                flags.append(f"off-grid:{p.name}")
        numeric = {p.name: np.array([float(conditions[p.name])]) for p in self.parameters if p.is_numeric}
        for c in self.constraints:
            if not c.satisfied(numeric)[0]:
                flags.append(f"infeasible:{c.expression}")
        return flags

    # -- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objective": self.objective.to_dict(),
            "parameters": [p.to_dict() for p in self.parameters],
            "constraints": [c.expression for c in self.constraints],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "space") -> SearchSpace:
        """Build and validate a space from a mapping (as read from YAML/JSON)."""
        return _build_space(data, source)

    def describe(self) -> str:
        lines = [f"campaign space '{self.name}': objective {self.objective.label}, {self.objective.goal}"]
        lines += ["  " + p.describe() for p in self.parameters]
        lines += ["  constraint: " + c.expression for c in self.constraints]
        return "\n".join(lines)


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML (or JSON) file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"{path}: cannot read ({exc})") from None
    return space_from_text(text, source=str(path))


def space_from_text(text: str, source: str = "space") -> SearchSpace:
    """Parse YAML/JSON text into a validated :class:`SearchSpace`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError(f"{source}:{where}: not valid YAML ({problem})") from None
    return _build_space(data, source)


# --------------------------------------------------------------------------- validation
def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SpaceError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(value):
        raise SpaceError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: expected a mapping (key: value), got {type(data).__name__}")
    return data


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise SpaceError(f"{where}: unknown field '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")


def _build_parameter(raw: Any, where: str) -> Parameter:
    raw = _mapping(raw, where)
    _check_keys(raw, {"name", "type", "low", "high", "step", "unit", "values"}, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpaceError(
            f"{where}.name: {name!r} is not a valid name (letters, digits and '_', not starting with a digit)"
        )
    where = f"{where} ({name})"
    kind = raw.get("type", "continuous")
    if kind not in ("continuous", "integer", "categorical"):
        raise SpaceError(f"{where}.type: {kind!r} is not one of continuous, integer, categorical")
    unit = raw.get("unit", "")
    unit = "" if unit is None else str(unit)
    if kind == "categorical":
        for key in ("low", "high", "step"):
            if key in raw:
                raise SpaceError(f"{where}.{key}: categorical parameters take 'values', not '{key}'")
        values = raw.get("values")
        if not isinstance(values, list) or len(values) < 2:
            raise SpaceError(f"{where}.values: expected a list of at least two categories")
        for i, v in enumerate(values):
            if isinstance(v, (dict, list)) or v is None:
                raise SpaceError(f"{where}.values[{i}]: expected a number or a text, got {v!r}")
            for w in values[:i]:
                if _same_category(w, v):
                    raise SpaceError(f"{where}.values[{i}]: category {v!r} is listed twice")
        return Parameter(name=name, kind="categorical", unit=unit, values=tuple(values))
    if "values" in raw:
        raise SpaceError(f"{where}.values: only categorical parameters take 'values'")
    for key in ("low", "high"):
        if key not in raw:
            raise SpaceError(f"{where}.{key}: missing (a {kind} parameter needs low and high)")
    low, high = _num(raw["low"], f"{where}.low"), _num(raw["high"], f"{where}.high")
    if low >= high:
        raise SpaceError(f"{where}: low ({low:g}) must be below high ({high:g})")
    step = raw.get("step")
    if step is not None:
        step = _num(step, f"{where}.step")
        if step <= 0:
            raise SpaceError(f"{where}.step: must be positive, got {step:g}")
        if step > high - low:
            raise SpaceError(f"{where}.step: {step:g} is larger than the range {low:g}..{high:g}")
    if kind == "integer":
        if low != round(low) or high != round(high):
            raise SpaceError(f"{where}: an integer parameter needs whole-number low and high")
        step = 1.0 if step is None else step
        if step != round(step):
            raise SpaceError(f"{where}.step: an integer parameter needs a whole-number step")
    return Parameter(name=name, kind=kind, unit=unit, low=low, high=high, step=step)


def _build_space(data: Any, source: str) -> SearchSpace:
    data = _mapping(data, source)
    _check_keys(data, {"name", "objective", "parameters", "constraints", "description"}, source)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpaceError(f"{source}: name: missing (the campaign space needs a name)")
    if "objective" not in data:
        raise SpaceError(f"{source}: objective: missing (e.g. {{name: Jc, unit: A/cm2, goal: maximize}})")
    obj_raw = data["objective"]
    if isinstance(obj_raw, str):
        obj_raw = {"name": obj_raw}
    obj_raw = _mapping(obj_raw, f"{source}: objective")
    _check_keys(obj_raw, {"name", "unit", "goal", "transform", "derived"}, f"{source}: objective")
    obj_name = obj_raw.get("name")
    if not isinstance(obj_name, str) or not _NAME_RE.match(obj_name):
        raise SpaceError(f"{source}: objective.name: {obj_name!r} is not a valid name")
    goal = str(obj_raw.get("goal", "maximize")).lower()
    goal = {"max": "maximize", "min": "minimize", "maximise": "maximize", "minimise": "minimize"}.get(goal, goal)
    if goal not in ("maximize", "minimize"):
        raise SpaceError(f"{source}: objective.goal: {obj_raw.get('goal')!r} is not maximize or minimize")
    transform = str(obj_raw.get("transform", "none")).lower()
    if transform in ("log10", "log"):
        transform = "log"
    if transform not in ("none", "log"):
        raise SpaceError(f"{source}: objective.transform: {obj_raw.get('transform')!r} is not 'none' or 'log'")
    unit = str(obj_raw.get("unit", "") or "")
    derived = None
    if obj_raw.get("derived") is not None:
        try:
            derived = DerivedObjective.from_dict(obj_raw["derived"], unit, "objective.derived")
        except DatarialError as exc:
            raise SpaceError(f"{source}: {exc.message}") from None
    objective = Objective(name=obj_name, unit=unit, goal=goal, transform=transform, derived=derived)

    raw_params = data.get("parameters")
    if not isinstance(raw_params, list) or not raw_params:
        raise SpaceError(f"{source}: parameters: expected a non-empty list")
    params = [_build_parameter(p, f"{source}: parameters[{i}]") for i, p in enumerate(raw_params)]
    seen: set[str] = set()
    for i, p in enumerate(params):
        if p.name in seen:
            raise SpaceError(f"{source}: parameters[{i}].name: duplicate parameter name '{p.name}'")
        seen.add(p.name)
    if objective.name in seen:
        raise SpaceError(f"{source}: objective.name: '{objective.name}' is also a parameter name")

    raw_cons = data.get("constraints") or []
    if not isinstance(raw_cons, list):
        raise SpaceError(f"{source}: constraints: expected a list of texts such as 'a + b <= 10'")
    constraints = []
    for i, text in enumerate(raw_cons):
        try:
            constraints.append(parse_constraint(text, params))
        except ConstraintError as exc:
            raise SpaceError(f"{source}: constraints[{i}]: {exc.message}") from None
    space = SearchSpace(name=name.strip(), objective=objective, parameters=tuple(params), constraints=tuple(constraints))
    _check_feasible(space, source)
    return space


def _check_feasible(space: SearchSpace, source: str) -> None:
    """Refuse a constraint set that no grid point of the box satisfies."""
    if not space.constraints:
        return
    from scipy.optimize import linprog

    numeric = [p for p in space.parameters if p.is_numeric]
    names = [p.name for p in numeric]
    A = np.array([[c.coefficients.get(n, 0.0) for n in names] for c in space.constraints])
    b = np.array([c.rhs for c in space.constraints])
    res = linprog(np.zeros(len(names)), A_ub=A, b_ub=b, bounds=[(p.low, p.grid_high) for p in numeric], method="highs")
    if res.status == 2:
        raise SpaceError(
            f"{source}: constraints: no point of the parameter ranges satisfies all constraints "
            f"({'; '.join(c.expression for c in space.constraints)})"
        )
    # The LP is continuous; make sure some grid point is feasible too.
    rng = np.random.default_rng(0)
    probe = np.column_stack([rng.integers(0, n, 4096) for n in space.n_levels]) if space.dim else None
    if probe is not None and not space.feasible_indices(probe).any():
        x = np.array([numeric[k].index_of(v) for k, v in enumerate(res.x)])
        # Try the grid neighbourhood of the LP solution before giving up.
        offsets = np.array(np.meshgrid(*[[-1, 0, 1]] * len(numeric))).reshape(len(numeric), -1).T
        cand = np.clip(x + offsets, 0, np.array([p.n_levels - 1 for p in numeric]))
        full = np.zeros((len(cand), space.dim), dtype=np.int64)
        cols = [j for j, p in enumerate(space.parameters) if p.is_numeric]
        full[:, cols] = cand
        if not space.feasible_indices(full).any():
            raise SpaceError(
                f"{source}: constraints: no grid point satisfies all constraints "
                f"(check steps and bounds against {'; '.join(c.expression for c in space.constraints)})"
            )
