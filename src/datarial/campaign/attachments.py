"""Raw files attached to experiments, and the objectives and descriptors derived from them.

A mixin of :class:`~datarial.campaign.Campaign`: files are stored once by
content (SHA-256); a magnetometer file under a derived objective becomes a
measurement, a ``measure,value,unit`` summary table becomes descriptors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from datarial.errors import DataFileError, DatarialError, NotFoundError
from datarial.io.tables import read_table
from datarial.space import SearchSpace
from datarial.store import Store
from datarial.store.models import AttachmentRow, BlobRow, ExperimentRow, MeasurementRow

MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
DESCRIPTORS_KIND = "descriptors"  # an attached summary table (measure, value, unit) → descriptors


@dataclass(frozen=True)
class AttachReport:
    """A file attached to an experiment and, for a derived objective, the value computed from it."""

    attachment_id: int
    experiment_id: int
    sha256: str
    filename: str
    kind: str
    stored_new_content: bool
    value: float | None
    warnings: list[str] = field(default_factory=list)
    descriptors: dict[str, tuple[float, str]] = field(default_factory=dict)  # stored from a summary table


class AttachmentsMixin:
    """Attaching raw files and deriving values from them; see the module docstring."""

    store: Store
    id: int
    name: str
    space: SearchSpace

    def attach(self, experiment_id: int, path: str | Path, *, data: bytes | None = None, name: str | None = None,
               kind: str | None = None, properties: Mapping[str, Any] | None = None, by: str = "") -> AttachReport:
        """Attach a raw file to an experiment (content-addressed: identical bytes are stored once).

        With a derived objective the file is analysed with ``properties`` (e.g.
        ``{"size": "0.5x1.2x2.8mm"}``) and its value stored as one replicate
        measurement of the experiment.  Attaching the same file again with other
        properties recomputes that value.  Everything in one transaction.
        """
        path = Path(path)
        filename = name or path.name
        if data is None:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise DataFileError(f"{path}: file not found") from None
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise DataFileError(f"{filename}: {len(data) / 1e6:.0f} MB is over the {MAX_ATTACHMENT_BYTES / 1e6:.0f} MB limit")
        derived = self.space.objective.derived
        if kind is None and _is_summary_table(filename, data):
            kind = DESCRIPTORS_KIND
        kind = kind or (derived.kind if derived is not None else "file")
        props = {k: v for k, v in dict(properties or {}).items() if v is not None}
        digest = hashlib.sha256(data).hexdigest()
        with self.store.session() as s:
            exp = s.get(ExperimentRow, experiment_id)
            if exp is None or exp.campaign_id != self.id:
                raise NotFoundError(f"experiment {experiment_id} is not part of campaign '{self.name}'")
            new_blob = s.get(BlobRow, digest) is None
            if new_blob:
                s.add(BlobRow(sha256=digest, size=len(data), data=data))
            att = s.scalar(select(AttachmentRow).where(AttachmentRow.experiment_id == experiment_id,
                                                       AttachmentRow.sha256 == digest))
            if att is None:
                att = AttachmentRow(experiment_id=experiment_id, sha256=digest, filename=filename, kind=kind,
                                    properties=props, created_by=by)
                s.add(att)
            else:  # the same file again: new properties (e.g. corrected dimensions) replace the old
                att.properties = {**att.properties, **props}
                att.kind = kind
            s.flush()
            value, warnings, described = None, [], {}
            if kind == DESCRIPTORS_KIND:
                described, warnings = self._describe(s, att, data, by)
            elif derived is not None and kind == derived.kind:
                value, warnings = self._derive(s, att, data, by)
            return AttachReport(att.id, experiment_id, digest, filename, kind, new_blob, value, warnings, described)

    def _describe(self, s: Session, att: AttachmentRow, data: bytes, by: str) -> tuple[dict[str, tuple[float, str]], list[str]]:
        """Store the rows of a summary table (measure, value, unit) as the experiment's descriptors."""
        table = read_table(Path(att.filename), data=data, name=att.filename)
        cols = {h.strip().lower(): h for h in table.header}
        missing = [c for c in ("measure", "value", "unit") if c not in cols]
        if missing:
            raise DataFileError(f"{att.filename}: row 1: a descriptor summary needs the columns measure, value, unit "
                                f"(missing {', '.join(missing)}; 'datarial micro quantify/grains --out' write them)")
        values: dict[str, tuple[float, str]] = {}
        warnings = []
        for i, (name, text, unit) in enumerate(zip(table.column(cols["measure"]), table.column(cols["value"]),
                                                   table.column(cols["unit"]), strict=True)):
            name = name.strip()
            if not name:
                raise DataFileError(f"{table.where(i, cols['measure'])}: empty measure name")
            try:
                v = float(text)
            except ValueError:
                raise DataFileError(f"{table.where(i, cols['value'])}: not a number ({text!r})") from None
            if not np.isfinite(v):
                warnings.append(f"{table.where(i, cols['value'])}: {name} has no value; not stored")
                continue
            if name in values:
                raise DataFileError(f"{table.where(i, cols['measure'])}: '{name}' appears twice")
            values[name] = (v, unit.strip())
        self._store_descriptors(s, att.experiment_id, values, source=att.filename, attachment_id=att.id, by=by)
        return values, warnings

    def _derive(self, s: Session, att: AttachmentRow, data: bytes, by: str) -> tuple[float, list[str]]:
        """Compute the derived objective from one attachment and store it as its measurement."""
        from datarial.io.qd_dat import read_measurement

        derived = self.space.objective.derived
        derived.check_properties(att.properties)
        parsed = read_measurement(Path(att.filename), data=data, name=att.filename)
        value = derived.compute(parsed, att.properties)
        old = s.scalar(select(MeasurementRow).where(MeasurementRow.attachment_id == att.id))
        note = f"derived: {derived.describe()}" + (f"; sample {att.properties['size']}" if att.properties.get("size") else "")
        if old is None:
            s.add(MeasurementRow(experiment_id=att.experiment_id, value=value, unit=self.space.objective.unit,
                                 measured_by=by or att.created_by, raw_file=f"sha256:{att.sha256} {att.filename}",
                                 note=note, attachment_id=att.id))
        else:
            old.value, old.note = value, note
        return value, list(parsed.warnings)

    def recompute_derived(self) -> int:
        """Recompute every derived measurement from the stored raw files (after a definition change)."""
        derived = self.space.objective.derived
        if derived is None:
            raise DatarialError(f"campaign '{self.name}' has no derived objective")
        n = 0
        with self.store.session() as s:
            atts = s.scalars(select(AttachmentRow).join(ExperimentRow)
                             .where(ExperimentRow.campaign_id == self.id, AttachmentRow.kind == derived.kind)
                             .order_by(AttachmentRow.id)).all()
            for att in atts:
                self._derive(s, att, s.get(BlobRow, att.sha256).data, att.created_by)
                n += 1
        return n

    def raw_file(self, sha256: str) -> bytes:
        """The stored bytes of an attached file."""
        with self.store.session() as s:
            mine = s.scalar(select(AttachmentRow.id).join(ExperimentRow).where(
                AttachmentRow.sha256 == sha256, ExperimentRow.campaign_id == self.id).limit(1))
            blob = s.get(BlobRow, sha256) if mine is not None else None
            if blob is None:
                raise NotFoundError(f"no file with SHA-256 {sha256} is attached in campaign '{self.name}'")
            return blob.data


def _is_summary_table(filename: str, data: bytes) -> bool:
    """A CSV whose header is measure,value,unit (what 'micro quantify/grains --out' write)."""
    if not filename.lower().endswith(".csv"):
        return False
    first = data[:200].decode("utf-8-sig", errors="replace").splitlines()[:1]
    return bool(first) and [c.strip().lower() for c in first[0].replace(";", ",").split(",")] == ["measure", "value", "unit"]
