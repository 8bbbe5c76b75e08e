"""Changing stored data after the fact: results posted by instruments or people,
edits and deletions with a permanent history.

Mixed into :class:`~datarial.campaign.Campaign`; every method is one transaction
(all of a request or nothing), and every edit or deletion leaves an
:class:`~datarial.store.models.EditRow` with the values before and after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from datarial.campaign.records import ExperimentRecord, MeasurementRecord, condition_key, parse_time
from datarial.errors import ConflictError, DatarialError, NotFoundError, SpaceError
from datarial.store.models import (
    AttachmentRow,
    EditRow,
    ExperimentRow,
    MeasurementRow,
    ProposalRow,
    utcnow,
)

if TYPE_CHECKING:  # pragma: no cover
    from datarial.space import SearchSpace
    from datarial.store import Store

MAX_RESULTS_PER_REQUEST = 10_000
_RESULT_KEYS = {"proposal_id", "experiment_id", "conditions", "value", "values", "measured_by", "measured_at", "note"}


@dataclass(frozen=True)
class MeasurementDetail:
    measurement_id: int
    value: float
    unit: str
    measured_by: str
    measured_at: datetime
    note: str
    raw_file: str
    derived: bool


@dataclass(frozen=True)
class AttachmentDetail:
    attachment_id: int
    sha256: str
    filename: str
    kind: str
    properties: dict[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class ExperimentDetail:
    """One experiment with every replicate, its attachments and provenance."""

    experiment_id: int
    round: int
    source: str
    batch_id: int | None
    proposal_id: int | None
    conditions: dict[str, Any]
    flags: list[str]
    note: str
    created_by: str
    created_at: datetime
    measurements: list[MeasurementDetail]
    attachments: list[AttachmentDetail]


@dataclass(frozen=True)
class EditRecord:
    """One entry of the edit history: what changed, from what, to what, by whom, why."""

    edit_id: int
    entity: str
    entity_id: int
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    edited_by: str
    edited_at: datetime


@dataclass
class ResultsReport:
    """What :meth:`EditingMixin.record_results` stored."""

    measurements: int
    experiment_ids: list[int]
    new_experiments: int
    proposals_measured: int
    notices: list[str] = field(default_factory=list)


def coerce_conditions(space: SearchSpace, conditions: Any, where: str, *, partial: bool = False) -> dict[str, Any]:
    """Validated ``{parameter: value}`` in the parameters' stored types; errors name ``where.name``."""
    if not isinstance(conditions, Mapping):
        raise DatarialError(f"{where}: expected an object {{parameter: value}}, got {type(conditions).__name__}")
    unknown = [k for k in conditions if k not in space.names]
    if unknown:
        raise DatarialError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(space.names)})")
    out: dict[str, Any] = {}
    for p in space.parameters:
        if p.name not in conditions:
            if partial:
                continue
            raise DatarialError(f"{where}.{p.name}: missing")
        try:
            out[p.name] = p.coerce(conditions[p.name])
        except (TypeError, ValueError):
            raise DatarialError(f"{where}.{p.name}: {conditions[p.name]!r} is not a number") from None
        except SpaceError as exc:
            raise DatarialError(f"{where}.{p.name}: {exc}") from None
    return out


def _finite_value(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise DatarialError(f"{where}: expected a number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DatarialError(f"{where}: expected a number, got {v!r}") from None
    if not math.isfinite(x):
        raise DatarialError(f"{where}: {v!r} is not a finite number")
    return x


def _int_field(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise DatarialError(f"{where}: expected a whole number, got {v!r}")
    try:
        return int(v)
    except ValueError:
        raise DatarialError(f"{where}: expected a whole number, got {v!r}") from None


def _measurement_state(m: MeasurementRow) -> dict[str, Any]:
    return {"value": m.value, "unit": m.unit, "measured_by": m.measured_by,
            "measured_at": m.measured_at.isoformat() if m.measured_at else None, "note": m.note,
            "raw_file": m.raw_file}


def _experiment_state(e: ExperimentRow) -> dict[str, Any]:
    return {"conditions": dict(e.conditions), "note": e.note, "flags": list(e.flags), "round": e.round,
            "source": e.source, "proposal_id": e.proposal_id,
            "measurements": [{"id": m.id, **_measurement_state(m)} for m in e.measurements]}


class EditingMixin:
    """Posting results, editing and deleting; see the module docstring."""

    store: Store
    id: int
    name: str
    space: SearchSpace

    # -- reading one experiment -----------------------------------------------------------
    def _get_experiment(self, s: Session, experiment_id: int, *, lock: bool = False) -> ExperimentRow:
        q = select(ExperimentRow).options(selectinload(ExperimentRow.measurements)).where(
            ExperimentRow.id == experiment_id, ExperimentRow.campaign_id == self.id)
        exp = s.scalar(q.with_for_update() if lock else q)
        if exp is None:
            raise NotFoundError(f"experiment {experiment_id} is not part of campaign '{self.name}'")
        return exp

    def _get_measurement(self, s: Session, measurement_id: int) -> MeasurementRow:
        m = s.scalar(select(MeasurementRow).join(ExperimentRow).where(
            MeasurementRow.id == measurement_id, ExperimentRow.campaign_id == self.id).with_for_update())
        if m is None:
            raise NotFoundError(f"measurement {measurement_id} is not part of campaign '{self.name}'")
        return m

    def experiment(self, experiment_id: int) -> ExperimentDetail:
        """One experiment with its replicates and attached files."""
        with self.store.session() as s:
            e = self._get_experiment(s, experiment_id)
            atts = s.scalars(select(AttachmentRow).where(AttachmentRow.experiment_id == e.id)
                             .order_by(AttachmentRow.id)).all()
            return ExperimentDetail(
                e.id, e.round, e.source, e.batch_id, e.proposal_id, dict(e.conditions), list(e.flags), e.note,
                e.created_by, e.created_at,
                [MeasurementDetail(m.id, m.value, m.unit, m.measured_by, m.measured_at, m.note, m.raw_file,
                                   m.attachment_id is not None) for m in e.measurements],
                [AttachmentDetail(a.id, a.sha256, a.filename, a.kind, dict(a.properties), a.created_at,
                                  a.created_by) for a in atts],
            )

    # -- results from instruments, scripts and the UI ---------------------------------------
    def record_results(self, results: Sequence[Mapping[str, Any]], *, by: str = "",
                       where: str = "results") -> ResultsReport:
        """Store posted results in one transaction; all or none.

        Each item names what was measured — ``proposal_id`` (a proposal; once
        measured, further posts add replicates), ``experiment_id`` (replicates of
        a stored experiment) or ``conditions`` (a researcher experiment) — and
        carries ``value`` or ``values`` (replicates, objective units), optionally
        ``measured_by``, ``measured_at`` (ISO 8601) and ``note``.  Errors name the
        item and field, e.g. ``results[3].conditions.T_max``.
        """
        if not isinstance(results, Sequence) or isinstance(results, str | bytes):
            raise DatarialError(f"{where}: expected a list of results")
        if not results:
            raise DatarialError(f"{where}: the list is empty")
        if len(results) > MAX_RESULTS_PER_REQUEST:
            raise DatarialError(f"{where}: {len(results)} results in one request; the limit is {MAX_RESULTS_PER_REQUEST}")
        parsed = [self._parse_result(item, f"{where}[{i}]", by) for i, item in enumerate(results)]
        exp_ids: list[int] = []
        new = measured = 0
        notices: list[str] = []
        with self.store.session() as s:
            default_round = self._current_round(s)
            for i, (target, conditions, meas, note) in enumerate(parsed):
                here = f"{where}[{i}]"
                kind, ident = target
                if kind == "experiment":
                    exp = self._get_experiment(s, ident, lock=True)
                    exp.measurements.extend(self._measurement_rows(meas))
                elif kind == "proposal":
                    prop = s.scalar(select(ProposalRow).options(selectinload(ProposalRow.batch)).where(
                        ProposalRow.id == ident).with_for_update())
                    if prop is None or prop.campaign_id != self.id:
                        raise NotFoundError(f"{here}.proposal_id: proposal {ident} is not part of campaign '{self.name}'")
                    if prop.status == "abandoned":
                        raise ConflictError(f"{here}.proposal_id: proposal {ident} was abandoned")
                    if prop.status == "measured":
                        exp = s.scalar(select(ExperimentRow).options(selectinload(ExperimentRow.measurements))
                                       .where(ExperimentRow.proposal_id == ident).order_by(ExperimentRow.id))
                        if exp is None:
                            raise ConflictError(f"{here}.proposal_id: proposal {ident} is measured but its experiment was deleted")
                        exp.measurements.extend(self._measurement_rows(meas))
                    else:
                        cond = conditions or dict(prop.conditions)
                        rec = ExperimentRecord(conditions=cond, source="proposed", round=prop.batch.round,
                                               proposal_id=prop.id, created_by=by, note=note,
                                               flags=self.space.check_point(cond), measurements=meas)
                        if condition_key(self.space, cond) != prop.condition_key:
                            rec.flags.append("deviates-from-proposal")
                            notices.append(f"{here}: conditions differ from proposal {prop.id}; the posted conditions are stored")
                        exp = self._write_experiment(s, rec, default_round, batch_id=prop.batch_id)
                        prop.status = "measured"
                        prop.updated_at = utcnow()
                        measured += 1
                        new += 1
                else:
                    rec = ExperimentRecord(conditions=conditions, source="researcher", created_by=by, note=note,
                                           flags=self.space.check_point(conditions), measurements=meas)
                    exp = self._write_experiment(s, rec, default_round)
                    new += 1
                s.flush()
                exp_ids.append(exp.id)
        return ResultsReport(sum(len(p[2]) for p in parsed), exp_ids, new, measured, notices)

    def _parse_result(self, item: Any, here: str, by: str):
        if not isinstance(item, Mapping):
            raise DatarialError(f"{here}: expected an object, got {type(item).__name__}")
        unknown = sorted(set(item) - _RESULT_KEYS)
        if unknown:
            raise DatarialError(f"{here}.{unknown[0]}: unknown field (known: {', '.join(sorted(_RESULT_KEYS))})")
        targets = [k for k in ("proposal_id", "experiment_id", "conditions") if item.get(k) is not None]
        if not targets:
            raise DatarialError(f"{here}: give proposal_id, experiment_id or conditions")
        if "experiment_id" in targets and len(targets) > 1:
            raise DatarialError(f"{here}.experiment_id: give either experiment_id or proposal_id/conditions")
        conditions = None
        if item.get("conditions") is not None:
            conditions = coerce_conditions(self.space, item["conditions"], f"{here}.conditions")
        if "value" in item and "values" in item:
            raise DatarialError(f"{here}: give value or values, not both")
        if "values" in item:
            raw = item["values"]
            if not isinstance(raw, list) or not raw:
                raise DatarialError(f"{here}.values: expected a non-empty list of numbers")
            values = [_finite_value(v, f"{here}.values[{k}]") for k, v in enumerate(raw)]
        elif "value" in item:
            values = [_finite_value(item["value"], f"{here}.value")]
        elif self.space.objective.derived is not None and targets == ["conditions"]:
            values = []  # a sample whose value will come from its attached raw file
        else:
            raise DatarialError(f"{here}.value: missing")
        measured_at = None
        if item.get("measured_at"):
            measured_at = parse_time(str(item["measured_at"]), f"{here}.measured_at")
        who = str(item.get("measured_by") or by)
        note = str(item.get("note") or "")
        meas = [MeasurementRecord(v, measured_by=who, measured_at=measured_at, note=note) for v in values]
        if item.get("experiment_id") is not None:
            target = ("experiment", _int_field(item["experiment_id"], f"{here}.experiment_id"))
        elif item.get("proposal_id") is not None:
            target = ("proposal", _int_field(item["proposal_id"], f"{here}.proposal_id"))
        else:
            target = ("new", None)
        return target, conditions, meas, note

    def _measurement_rows(self, meas: list[MeasurementRecord]) -> list[MeasurementRow]:
        now = utcnow()
        return [MeasurementRow(value=m.value, unit=self.space.objective.unit, measured_by=m.measured_by,
                               measured_at=m.measured_at or now, note=m.note) for m in meas]

    # -- edits and deletions, with history --------------------------------------------------
    def _log(self, s: Session, entity: str, entity_id: int, action: str, before: dict | None,
             after: dict | None, by: str, reason: str) -> None:
        s.add(EditRow(campaign_id=self.id, entity=entity, entity_id=entity_id, action=action, before=before,
                      after=after, edited_by=by, reason=reason))

    def edit_measurement(self, measurement_id: int, *, value: float | None = None, note: str | None = None,
                         measured_by: str | None = None, by: str = "", reason: str = "") -> MeasurementDetail:
        """Correct one replicate; the old values stay in the edit history."""
        if value is None and note is None and measured_by is None:
            raise DatarialError("nothing to change: give value, note or measured_by")
        with self.store.session() as s:
            m = self._get_measurement(s, measurement_id)
            before = _measurement_state(m)
            if value is not None:
                if m.attachment_id is not None:
                    raise ConflictError(f"measurement {measurement_id} is derived from an attached file; "
                                        "attach the file again with corrected properties instead")
                m.value = _finite_value(value, "value")
            if note is not None:
                m.note = str(note)
            if measured_by is not None:
                m.measured_by = str(measured_by)
            self._log(s, "measurement", m.id, "edit", before, _measurement_state(m), by, reason)
            s.flush()
            return MeasurementDetail(m.id, m.value, m.unit, m.measured_by, m.measured_at, m.note, m.raw_file,
                                     m.attachment_id is not None)

    def delete_measurement(self, measurement_id: int, *, by: str = "", reason: str = "") -> None:
        """Delete one replicate (kept in the edit history)."""
        with self.store.session() as s:
            m = self._get_measurement(s, measurement_id)
            self._log(s, "measurement", m.id, "delete", _measurement_state(m), None, by, reason)
            s.delete(m)

    def edit_experiment(self, experiment_id: int, *, conditions: Mapping[str, Any] | None = None,
                        note: str | None = None, by: str = "", reason: str = "") -> ExperimentDetail:
        """Correct an experiment's conditions (some or all) or note; flags are recomputed."""
        if conditions is None and note is None:
            raise DatarialError("nothing to change: give conditions or note")
        with self.store.session() as s:
            e = self._get_experiment(s, experiment_id, lock=True)
            before = _experiment_state(e)
            if conditions is not None:
                changed = coerce_conditions(self.space, conditions, "conditions", partial=True)
                new = {**e.conditions, **changed}
                e.conditions = new
                e.condition_key = condition_key(self.space, new)
                keep = [f for f in e.flags if f == "deviates-from-proposal"]
                e.flags = self.space.check_point(new) + keep
            if note is not None:
                e.note = str(note)
            self._log(s, "experiment", e.id, "edit", before, _experiment_state(e), by, reason)
        return self.experiment(experiment_id)

    def delete_experiment(self, experiment_id: int, *, by: str = "", reason: str = "") -> None:
        """Delete an experiment and its replicates (kept in the edit history).

        A proposal it recorded becomes pending again, so its result can be recorded anew.
        """
        with self.store.session() as s:
            e = self._get_experiment(s, experiment_id, lock=True)
            self._log(s, "experiment", e.id, "delete", _experiment_state(e), None, by, reason)
            if e.proposal_id is not None:
                prop = s.get(ProposalRow, e.proposal_id)
                others = s.scalar(select(ExperimentRow.id).where(ExperimentRow.proposal_id == e.proposal_id,
                                                                 ExperimentRow.id != e.id))
                if prop is not None and prop.status == "measured" and others is None:
                    prop.status = "pending"
                    prop.updated_at = utcnow()
            s.delete(e)

    def edits(self, entity: str | None = None, entity_id: int | None = None) -> list[EditRecord]:
        """The edit history, oldest first (optionally of one experiment or measurement)."""
        with self.store.session() as s:
            q = select(EditRow).where(EditRow.campaign_id == self.id)
            if entity is not None:
                q = q.where(EditRow.entity == entity)
            if entity_id is not None:
                q = q.where(EditRow.entity_id == entity_id)
            return [EditRecord(r.id, r.entity, r.entity_id, r.action, r.before, r.after, r.reason, r.edited_by,
                               r.edited_at) for r in s.scalars(q.order_by(EditRow.id)).all()]
