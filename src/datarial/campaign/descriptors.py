"""Microstructure descriptors of experiments: storing them, finding them, the objective against them,
and the model with descriptors as extra inputs (a mixin of :class:`~datarial.campaign.Campaign`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from datarial.campaign.records import DESCRIPTOR_PREFIX
from datarial.errors import DataFileError, DatarialError, NotFoundError
from datarial.optimize import fit_surrogate
from datarial.optimize.diagnostics import LooDiagnostics, loo_diagnostics
from datarial.space import SearchSpace
from datarial.store import Store
from datarial.store.models import DescriptorRow, ExperimentRow, MeasurementRow, utcnow


@dataclass(frozen=True)
class DescriptorCorrelation:
    """The objective of a campaign's experiments against one descriptor (or its inverse).

    ``x`` is the descriptor value (or 1/value with ``inverse``), ``mean``/``sd``
    the objective's replicate mean and standard deviation (0 for one
    replicate), in the objective's unit; ``r`` is Pearson's r and
    ``intercept + slope · x`` the least-squares straight line.
    """

    name: str
    unit: str
    inverse: bool
    experiment_ids: np.ndarray
    value: np.ndarray
    x: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    r: float
    slope: float
    intercept: float

    @property
    def xlabel(self) -> str:
        return f"1 / {self.name} [1/{self.unit}]" if self.inverse else f"{self.name} [{self.unit}]"


@dataclass(frozen=True)
class DescriptorCheck:
    """The model with measured descriptors as extra inputs, against the process-only model.

    Both are fitted to the same experiments (those with every requested
    descriptor and a measured objective) and checked by leave-one-out.
    ``space`` is the process space plus one continuous input per descriptor
    (named ``descriptor_NAME``, bounds = the measured range);
    ``lengthscales`` (keys: parameter names, ``descriptor: NAME``) are the fitted ARD lengthscales of the descriptor model in
    units of each input's range (short = the objective changes quickly with it).
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    space: SearchSpace
    with_descriptors: LooDiagnostics
    process_only: LooDiagnostics
    lengthscales: dict[str, float]
    experiments: int
    skipped: int  # experiments with a measured objective but without every descriptor

    def summary(self) -> dict[str, Any]:
        return {"descriptors": [{"name": n, "unit": u} for n, u in zip(self.names, self.units, strict=True)],
                "experiments": self.experiments, "skipped": self.skipped,
                "r2_with_descriptors": self.with_descriptors.r2, "r2_process_only": self.process_only.r2,
                "rmse_with_descriptors": self.with_descriptors.rmse, "rmse_process_only": self.process_only.rmse,
                "rmse_space": self.with_descriptors.model_space,
                "within_1sigma_with_descriptors": self.with_descriptors.within_1sigma,
                "lengthscales": self.lengthscales}


class DescriptorsMixin:
    """Descriptor storage and analysis; see the module docstring."""

    store: Store
    id: int
    name: str
    space: SearchSpace
    settings: Any  # ModelSettings of the campaign

    def _store_descriptors(self, s: Session, experiment_id: int, values: Mapping[str, tuple[float, str]], *,
                           source: str, attachment_id: int | None = None, by: str = "") -> None:
        existing = {d.name: d for d in s.scalars(select(DescriptorRow).where(DescriptorRow.experiment_id == experiment_id))}
        if values:
            others = dict(s.execute(select(DescriptorRow.name, DescriptorRow.unit).join(ExperimentRow).where(
                ExperimentRow.campaign_id == self.id, DescriptorRow.experiment_id != experiment_id,
                DescriptorRow.name.in_(list(values)))).all())
            for name, (_, unit) in values.items():
                if name in others and others[name] != unit:
                    raise DataFileError(f"{source}: descriptor '{name}' is in {unit or 'no unit'} here but in "
                                        f"{others[name] or 'no unit'} on other experiments of '{self.name}'")
        for name, (v, unit) in values.items():
            row = existing.get(name)
            if row is None:
                s.add(DescriptorRow(experiment_id=experiment_id, name=name, value=v, unit=unit, source=source,
                                    attachment_id=attachment_id, created_by=by))
            else:  # a newer analysis replaces the value
                row.value, row.unit, row.source, row.attachment_id = v, unit, source, attachment_id
                row.created_by, row.created_at = by, utcnow()

    def set_descriptors(self, experiment_id: int, values: Mapping[str, tuple[float, str]], *, source: str = "",
                        by: str = "") -> None:
        """Set named values with units on an experiment (replacing values of the same name)."""
        with self.store.session() as s:
            exp = s.get(ExperimentRow, experiment_id)
            if exp is None or exp.campaign_id != self.id:
                raise NotFoundError(f"experiment {experiment_id} is not part of campaign '{self.name}'")
            self._store_descriptors(s, experiment_id, values, source=source, by=by)

    def find_descriptor(self, text: str) -> tuple[str, str]:
        """(name, unit) of the descriptor named ``text`` exactly, or the only one containing it."""
        d = self.descriptors_frame()
        names = sorted(set(d["name"]))
        if not names:
            raise DatarialError(f"campaign '{self.name}' has no descriptors yet: attach a summary with "
                                "'datarial attach CAMPAIGN EXPERIMENT_ID summary.csv'")
        match = [n for n in names if n == text] or [n for n in names if text.lower() in n.lower()]
        if len(match) != 1:
            what = "matches several" if match else "matches none"
            raise NotFoundError(f"{text!r} {what} of: {'; '.join(match or names)}")
        return match[0], str(d.loc[d["name"] == match[0], "unit"].iloc[0])

    def descriptor_pairs(self, name: str) -> pd.DataFrame:
        """Experiments with both the descriptor ``name`` and a measured objective:
        experiment_id, descriptor value, objective mean and sd (0 for one replicate)."""
        d = self.descriptors_frame()
        values = dict(zip(d.loc[d["name"] == name, "experiment_id"], d.loc[d["name"] == name, "value"], strict=True))
        rows = [(e.experiment_id, float(values[e.experiment_id]), e.mean, e.sd or 0.0)
                for e in self.experiments() if e.experiment_id in values and e.n > 0]
        return pd.DataFrame(rows, columns=["experiment_id", "value", "mean", "sd"])

    def correlate_descriptor(self, text: str, inverse: bool = False) -> DescriptorCorrelation:
        """Objective against the descriptor named ``text`` (see :meth:`find_descriptor`), e.g. Jc vs 1/grain size."""
        name, unit = self.find_descriptor(text)
        frame = self.descriptor_pairs(name)
        if inverse:
            frame = frame[frame["value"] != 0]
        if len(frame) < 2:
            raise DatarialError(f"'{name}': {len(frame)} experiment(s) have both this descriptor and a measured "
                                f"{self.space.objective.name}; need at least 2")
        value = frame["value"].to_numpy(float)
        x = 1.0 / value if inverse else value
        y = frame["mean"].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1)
        r = float(np.corrcoef(x, y)[0, 1]) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
        return DescriptorCorrelation(name, unit, inverse, frame["experiment_id"].to_numpy(int), value, x, y,
                                     frame["sd"].to_numpy(float), r, float(slope), float(intercept))

    def descriptors_frame(self) -> pd.DataFrame:
        """Every descriptor: experiment_id, name, value, unit, source."""
        with self.store.session() as s:
            rows = s.execute(select(DescriptorRow.experiment_id, DescriptorRow.name, DescriptorRow.value,
                                    DescriptorRow.unit, DescriptorRow.source).join(ExperimentRow)
                             .where(ExperimentRow.campaign_id == self.id)
                             .order_by(DescriptorRow.experiment_id, DescriptorRow.id)).all()
        return pd.DataFrame(rows, columns=["experiment_id", "name", "value", "unit", "source"])

    def diagnose_descriptors(self, names: Sequence[str], settings: Mapping[str, Any] | None = None) -> DescriptorCheck:
        """Descriptors (e.g. porosity, grain size) as extra model inputs: does the model predict better?

        ``names`` are matched like :meth:`find_descriptor`.  Proposals stay on
        the process parameters (a descriptor is measured, not set); this model
        tells whether the microstructure explains what the process conditions
        alone do not.
        """
        if not names:
            raise DatarialError("name at least one descriptor")
        found = [self.find_descriptor(n) for n in names]
        if len({n for n, _ in found}) != len(found):
            raise DatarialError(f"the descriptors {', '.join(names)} name the same descriptor twice")
        d = self.descriptors_frame()
        table = {name: dict(zip(d.loc[d["name"] == name, "experiment_id"], d.loc[d["name"] == name, "value"],
                                strict=True)) for name, _ in found}
        with self.store.session() as s:
            rows = s.execute(select(ExperimentRow.id, ExperimentRow.conditions, MeasurementRow.value)
                             .join(MeasurementRow, MeasurementRow.experiment_id == ExperimentRow.id)
                             .where(ExperimentRow.campaign_id == self.id).order_by(MeasurementRow.id)).all()
        keep = [r for r in rows if all(r[0] in table[name] for name, _ in found)]
        skipped = len({r[0] for r in rows} - {r[0] for r in keep})
        if not keep:
            raise DatarialError("no experiment has a measured objective and every one of: "
                                + "; ".join(n for n, _ in found))
        params = []
        for name, unit in found:
            vals = np.array([table[name][r[0]] for r in keep], dtype=float)
            lo, hi = float(vals.min()), float(vals.max())
            if hi <= lo:
                raise DatarialError(f"descriptor '{name}' has the same value ({lo:g}) on every experiment used: "
                                    "it cannot explain differences")
            key = "descriptor_" + (re.sub(r"\W+", "_", name).strip("_") or "value")
            if any(p["name"] == key for p in params) or key in self.space.names:
                key += f"_{len(params) + 1}"
            params.append({"name": key, "type": "continuous", "low": lo, "high": hi,
                           **({"unit": unit} if unit else {})})
        base = self.space.to_dict()
        space = SearchSpace.from_dict({**base, "parameters": base["parameters"] + params},
                                      source=f"campaign '{self.name}' with descriptors")
        cols = {n: [r[1][n] for r in keep] for n in self.space.names}
        for (name, _), p in zip(found, params, strict=True):
            cols[p["name"]] = [table[name][r[0]] for r in keep]
        values = np.array([r[2] for r in keep], dtype=float)
        run_settings = self.settings.replace(**dict(settings or {}))
        with_d = fit_surrogate(space, space.to_unit(cols), values, run_settings)
        process = fit_surrogate(self.space, self.space.to_unit({n: cols[n] for n in self.space.names}), values,
                                run_settings)
        label = {p["name"]: f"{DESCRIPTOR_PREFIX} {name}" for (name, _), p in zip(found, params, strict=True)}
        lengthscales = {label.get(k, k): v for k, v in with_d.lengthscales().items()}
        return DescriptorCheck(tuple(n for n, _ in found), tuple(u for _, u in found), space,
                               loo_diagnostics(with_d), loo_diagnostics(process), lengthscales,
                               len({r[0] for r in keep}), skipped)

