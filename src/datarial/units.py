"""A small unit layer: practical units at the edges, SI inside.

Quantities typed by people (``0.5x1.2x2.8mm``, ``3T``, ``30 kOe``,
``3e4A/cm2``, ``3d``) are parsed here into SI floats (m, T, A/m², s, K).  Only
the units a magnet lab uses are known; anything else is refused with the list
of accepted units.  (pint would do, but it is a large dependency for five
dimensions.)

Magnetic field: ``Oe`` is converted as μ0·H, i.e. 1 Oe ↔ 1e-4 T (the
convention of magnetometer files, where the applied field is given in Oe).
"""

from __future__ import annotations

import math
import re

from datarial.errors import DatarialError

MU0 = 4e-7 * math.pi  # vacuum permeability [T m/A] (to 1e-10 of the 2019 SI value)

LENGTH = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "nm": 1e-9, "A": 1e-10, "Å": 1e-10}
FIELD = {"T": 1.0, "mT": 1e-3, "kOe": 0.1, "Oe": 1e-4, "G": 1e-4, "kG": 0.1}
CURRENT_DENSITY = {"A/m2": 1.0, "A/cm2": 1e4, "A/mm2": 1e6, "MA/cm2": 1e10, "kA/cm2": 1e7}
TIME = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "day": 86400.0, "days": 86400.0}
TEMPERATURE = {"K": 1.0}
ANGLE = {"deg": math.pi / 180, "°": math.pi / 180, "rad": 1.0}

DIMENSIONS = {
    "length": LENGTH,
    "magnetic field": FIELD,
    "current density": CURRENT_DENSITY,
    "time": TIME,
    "temperature": TEMPERATURE,
    "angle": ANGLE,
}

_QTY_RE = re.compile(r"^\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[^\d\s].*?)?\s*$")


def _normalise_unit(unit: str) -> str:
    return unit.strip().replace("^2", "2").replace("²", "2").replace(" ", "")


def parse_quantity(text: str, dimension: str, *, what: str = "value", default_unit: str | None = None) -> float:
    """``'3T'`` → 3.0 (SI) for ``dimension`` ('length', 'magnetic field', ...).

    A missing unit is refused unless ``default_unit`` is given.
    """
    table = DIMENSIONS[dimension]
    m = _QTY_RE.match(str(text))
    if not m:
        raise DatarialError(f"{what}: {text!r} is not a number with a unit (e.g. {_example(dimension)})")
    unit = _normalise_unit(m.group("unit") or "")
    if not unit:
        if default_unit is None:
            raise DatarialError(f"{what}: {text!r} has no unit; write e.g. {_example(dimension)} "
                                f"(units: {', '.join(table)})")
        unit = default_unit
    if unit not in table:
        raise DatarialError(f"{what}: unit {unit!r} is not a {dimension} unit (use one of {', '.join(table)})")
    return float(m.group("num")) * table[unit]


def parse_dimensions(text: str, *, what: str = "--size") -> tuple[float, ...]:
    """``'0.5x1.2x2.8mm'`` or ``'0.5mm x 1.2mm x 2.8mm'`` → lengths in m."""
    parts = [p.strip() for p in re.split(r"[x×*]", str(text)) if p.strip()]
    if not parts:
        raise DatarialError(f"{what}: {text!r} is empty")
    unit_m = _QTY_RE.match(parts[-1])
    trailing = _normalise_unit(unit_m.group("unit") or "") if unit_m else ""
    values = []
    for p in parts:
        values.append(parse_quantity(p, "length", what=what, default_unit=trailing or None))
    if any(v <= 0 for v in values):
        raise DatarialError(f"{what}: {text!r}: sizes must be positive")
    return tuple(values)


def parse_list(text: str, dimension: str, *, what: str) -> list[float]:
    """Comma-separated quantities: ``'1T,3T,5T'`` (a unit on the last one applies to all)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    last = _QTY_RE.match(parts[-1]) if parts else None
    unit = _normalise_unit(last.group("unit") or "") if last else ""
    return [parse_quantity(p, dimension, what=what, default_unit=unit or None) for p in parts]


def _example(dimension: str) -> str:
    return {"length": "1.2mm", "magnetic field": "3T", "current density": "3e4A/cm2", "time": "3d",
            "temperature": "5K", "angle": "9deg"}[dimension]

