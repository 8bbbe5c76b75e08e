"""Objectives derived from attached raw files: Jc at a field from an M–H loop, Tc from M(T).

A campaign objective may be defined as such a quantity in the space YAML::

    objective: {name: Jc_5K_3T, unit: A/cm2, goal: maximize,
                derived: {quantity: jc, field: 3T}}

Each file attached to an experiment then yields one measurement (a
replicate), recomputed whenever the file's sample dimensions or the
definition change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from datarial.errors import DatarialError
from datarial.io.qd_dat import MagnetometerData

QUANTITIES = {
    "jc": ("mh-loop", {"A/cm2": 1e-4, "A/m2": 1.0}),
    "tc90": ("mt", {"K": 1.0}),
    "tc_onset": ("mt", {"K": 1.0}),
}


@dataclass(frozen=True)
class DerivedObjective:
    """What to compute from an attached file, and in which unit."""

    quantity: str
    unit: str
    field: float | None = None  # [T], for jc
    field_text: str | None = None

    @property
    def kind(self) -> str:
        """The kind of file it is computed from (``mh-loop`` or ``mt``)."""
        return QUANTITIES[self.quantity][0]

    @classmethod
    def from_dict(cls, raw: Any, unit: str, where: str) -> DerivedObjective:
        from datarial.units import parse_quantity

        if not isinstance(raw, Mapping):
            raise DatarialError(f"{where}: expected a mapping such as {{quantity: jc, field: 3T}}")
        unknown = sorted(set(raw) - {"quantity", "field"})
        if unknown:
            raise DatarialError(f"{where}: unknown field '{unknown[0]}' (allowed: quantity, field)")
        quantity = str(raw.get("quantity", "")).lower()
        if quantity not in QUANTITIES:
            raise DatarialError(f"{where}.quantity: {raw.get('quantity')!r} is not one of {', '.join(QUANTITIES)}")
        units = QUANTITIES[quantity][1]
        if unit not in units:
            raise DatarialError(f"{where}: a derived {quantity} needs the objective unit to be one of "
                                f"{', '.join(units)}, not {unit!r}")
        field = field_text = None
        if quantity == "jc":
            if "field" not in raw:
                raise DatarialError(f"{where}.field: missing (the field to read Jc at, e.g. 3T)")
            field_text = str(raw["field"])
            field = parse_quantity(field_text, "magnetic field", what=f"{where}.field")
            if field < 0:
                raise DatarialError(f"{where}.field: must not be negative")
        elif "field" in raw:
            raise DatarialError(f"{where}.field: only a derived jc takes a field")
        return cls(quantity, unit, field, field_text)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"quantity": self.quantity}
        if self.field_text is not None:
            d["field"] = self.field_text
        return d

    def describe(self) -> str:
        if self.quantity == "jc":
            return f"Jc at {self.field:g} T from the attached M-H loop (extended Bean model)"
        return f"{self.quantity} from the attached M(T) curve"

    def check_properties(self, properties: Mapping[str, Any]) -> None:
        """Refuse attachment properties the computation cannot use (e.g. a missing sample size)."""
        if self.quantity == "jc":
            self._sample(properties)

    def _sample(self, properties: Mapping[str, Any]):
        from datarial.magnet.bean import Sample
        from datarial.units import parse_dimensions

        size = properties.get("size")
        if not size:
            raise DatarialError("the sample size is needed to compute Jc (e.g. --size 0.5x1.2x2.8mm, field along the last)")
        return Sample.from_dims(parse_dimensions(size), properties.get("geometry", "rectangular"))

    def compute(self, data: MagnetometerData, properties: Mapping[str, Any]) -> float:
        """The objective value (in ``unit``) from a file's data and the attachment's properties."""
        factor = QUANTITIES[self.quantity][1][self.unit]
        if self.quantity == "jc":
            from datarial.magnet.bean import jc_from_loop

            curve = jc_from_loop(data.field(), data.moment(), self._sample(properties))
            value = float(curve.at(self.field)[0])
            if not np.isfinite(value):
                raise DatarialError(f"{data.source}: the loop does not reach {self.field:g} T "
                                    f"(it spans 0 to {curve.field.max():.3g} T)")
            return value * factor
        from datarial.magnet.tc import tc_from_mt

        res = tc_from_mt(data.temperature(), data.moment())
        return (res.t_c90 if self.quantity == "tc90" else res.t_onset) * factor
