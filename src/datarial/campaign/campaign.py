"""The campaign facade: one object for everything a lab does with a campaign.

Both loops write through it into the shared database: the researcher-driven
loop (``import_file``/``add_experiments``: conditions a person chose) and the
data-driven loop (``propose`` → ``record_file``: conditions the optimizer
proposed).  Every measurement from either loop trains the model.  The CLI,
REST API and UI all call these methods.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from datarial.campaign.attachments import AttachmentsMixin
from datarial.campaign.descriptors import DescriptorsMixin
from datarial.campaign.editing import EditingMixin
from datarial.campaign.modelling import ModelMixin
from datarial.campaign.records import (
    ExperimentRecord,
    ParsedTable,
    column_label,
    condition_key,
    descriptor_label,
    parse_table,
)
from datarial.errors import ConflictError, DataFileError, DatarialError, NotFoundError
from datarial.io.tables import read_table, write_table
from datarial.optimize import (
    ModelSettings,
    Observations,
    propose,
)
from datarial.space import SearchSpace
from datarial.store import Store
from datarial.store.models import (
    BatchRow,
    CampaignRow,
    DescriptorRow,
    ExperimentRow,
    MeasurementRow,
    ProposalRow,
    utcnow,
)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    objective: str
    goal: str
    created_at: datetime
    experiments: int
    measurements: int
    pending: int


@dataclass(frozen=True)
class ImportReport:
    """What one import wrote (all of it, or nothing)."""

    source: str
    experiments: int
    measurements: int
    flagged: int
    experiment_ids: list[int]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProposedExperiment:
    """One proposal: conditions in the parameters' units and the model's expectation."""

    proposal_id: int
    batch_id: int
    round: int
    conditions: dict[str, Any]
    status: str
    acquisition: str
    acquisition_value: float | None
    predicted_mean: float | None
    predicted_std: float | None


@dataclass(frozen=True)
class ProposalBatch:
    batch_id: int
    round: int
    method: str
    acquisition: str
    seed: int | None
    proposals: list[ProposedExperiment]


@dataclass(frozen=True)
class RecordReport:
    source: str
    experiments: int
    measurements: int
    researcher_experiments: int
    skipped_rows: list[int]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentSummary:
    """An experiment with its replicate statistics (objective units)."""

    experiment_id: int
    round: int
    source: str
    conditions: dict[str, Any]
    n: int
    mean: float
    sd: float | None
    flags: list[str]
    created_by: str = ""
    created_at: datetime | None = None
    proposal_id: int | None = None


@dataclass(frozen=True)
class RoundSummary:
    round: int
    experiments: int
    measurements: int
    best_in_round: ExperimentSummary | None
    best_so_far: ExperimentSummary | None


@dataclass(frozen=True)
class CampaignStatus:
    name: str
    space: SearchSpace
    experiments: int
    measurements: int
    researcher_experiments: int
    proposed_experiments: int
    flagged_experiments: int
    rounds: list[RoundSummary]
    pending: list[ProposedExperiment]
    best: ExperimentSummary | None


# --------------------------------------------------------------------------- facade
class Campaign(EditingMixin, DescriptorsMixin, AttachmentsMixin, ModelMixin):
    """A campaign in a :class:`~datarial.store.Store`; see the module docstring."""

    def __init__(self, store: Store, campaign_id: int, name: str, space: SearchSpace,
                 settings: ModelSettings) -> None:
        self.store, self.id, self.name, self.space, self.settings = store, campaign_id, name, space, settings

    # -- lifecycle --------------------------------------------------------------------
    @classmethod
    def create(cls, store: Store, space: SearchSpace, *, name: str | None = None,
               settings: ModelSettings | Mapping[str, Any] | None = None, created_by: str = "") -> Campaign:
        """Create a campaign named ``name`` (default: the space's name)."""
        name = (name or space.name).strip()
        if not name:
            raise DatarialError("a campaign needs a name")
        if not isinstance(settings, ModelSettings):
            settings = ModelSettings.from_dict(dict(settings or {}))
        try:
            with store.session() as s:
                if s.scalar(select(CampaignRow.id).where(CampaignRow.name == name)) is not None:
                    raise ConflictError(f"campaign '{name}' exists already in {store.safe_url}")
                row = CampaignRow(name=name, space=space.to_dict(), settings=settings.to_dict(), created_by=created_by)
                s.add(row)
                s.flush()
                cid = row.id
        except IntegrityError:
            raise ConflictError(f"campaign '{name}' exists already in {store.safe_url}") from None
        return cls(store, cid, name, space, settings)

    @classmethod
    def open(cls, store: Store, name: str) -> Campaign:
        with store.session() as s:
            row = s.scalar(select(CampaignRow).where(CampaignRow.name == name))
            if row is None:
                known = s.scalars(select(CampaignRow.name).order_by(CampaignRow.name)).all()
                hint = f" (campaigns here: {', '.join(known)})" if known else " (the database has no campaigns yet; use 'datarial init')"
                raise NotFoundError(f"no campaign '{name}' in {store.safe_url}{hint}")
            space = SearchSpace.from_dict(row.space, source=f"campaign '{name}'")
            settings = ModelSettings.from_dict(row.settings, where=f"campaign '{name}' settings")
            return cls(store, row.id, row.name, space, settings)

    @staticmethod
    def list(store: Store) -> list[CampaignInfo]:
        with store.session() as s:
            rows = s.scalars(select(CampaignRow).order_by(CampaignRow.name)).all()
            n_exp = dict(s.execute(select(ExperimentRow.campaign_id, func.count()).group_by(ExperimentRow.campaign_id)).all())
            n_meas = dict(s.execute(
                select(ExperimentRow.campaign_id, func.count(MeasurementRow.id))
                .join(MeasurementRow).group_by(ExperimentRow.campaign_id)).all())
            n_pend = dict(s.execute(
                select(ProposalRow.campaign_id, func.count()).where(ProposalRow.status == "pending")
                .group_by(ProposalRow.campaign_id)).all())
            return [
                CampaignInfo(r.id, r.name, r.space["objective"]["name"], r.space["objective"].get("goal", "maximize"),
                             _aware(r.created_at), n_exp.get(r.id, 0), n_meas.get(r.id, 0), n_pend.get(r.id, 0))
                for r in rows
            ]

    def update_settings(self, **changes: Any) -> ModelSettings:
        """Change stored model settings (validated); returns the new settings."""
        new = self.settings.replace(**changes)
        with self.store.session() as s:
            row = s.get(CampaignRow, self.id)
            row.settings = new.to_dict()
        self.settings = new
        return new

    # -- researcher-driven loop ---------------------------------------------------------
    def _current_round(self, s: Session) -> int:
        exp_round = s.scalar(select(func.max(ExperimentRow.round)).where(ExperimentRow.campaign_id == self.id))
        batch_round = s.scalar(select(func.max(BatchRow.round)).where(BatchRow.campaign_id == self.id))
        return max(exp_round or 0, batch_round or 0, 1)

    def _write_experiment(self, s: Session, rec: ExperimentRecord, default_round: int,
                          batch_id: int | None = None) -> ExperimentRow:
        now = utcnow()
        exp = ExperimentRow(
            campaign_id=self.id, conditions=rec.conditions, condition_key=condition_key(self.space, rec.conditions),
            source=rec.source, round=rec.round or default_round, batch_id=batch_id, proposal_id=rec.proposal_id,
            flags=list(rec.flags), created_by=rec.created_by, note=rec.note,
            created_at=min((m.measured_at for m in rec.measurements if m.measured_at), default=now),
        )
        exp.measurements = [
            MeasurementRow(value=m.value, unit=self.space.objective.unit, measured_by=m.measured_by,
                           measured_at=m.measured_at or now, raw_file=m.raw_file, note=m.note)
            for m in rec.measurements
        ]
        exp.descriptors = [DescriptorRow(name=name, value=v, unit=unit, source="import", created_by=rec.created_by)
                           for name, (v, unit) in rec.descriptors.items()]
        s.add(exp)
        return exp

    def add_experiments(self, records: Iterable[ExperimentRecord], *, round: int | None = None) -> list[int]:
        """Store experiments with their replicates in one transaction; returns their ids.

        Conditions are validated against the space: off-grid, out-of-range and
        infeasible conditions are stored with flags (never proposed);
        unknown categories are refused.
        """
        records = list(records)
        for rec in records:
            missing = [p.name for p in self.space.parameters if p.name not in rec.conditions]
            if missing:
                raise DatarialError(f"conditions lack parameter '{missing[0]}'")
            rec.conditions = {p.name: p.coerce(rec.conditions[p.name]) for p in self.space.parameters}
            rec.flags = self.space.check_point(rec.conditions)
            if not rec.measurements and self.space.objective.derived is None:
                raise DatarialError("an experiment needs at least one measurement")
        with self.store.session() as s:
            default_round = round or self._current_round(s)
            rows = [self._write_experiment(s, rec, default_round) for rec in records]
            s.flush()
            return [r.id for r in rows]

    def import_file(self, path: str | Path, *, by: str = "", data: bytes | None = None,
                    name: str | None = None) -> ImportReport:
        """Import a CSV/Excel table of researcher experiments; all rows or none."""
        table = read_table(path, data=data, name=name)
        parsed = parse_table(self.space, table, mode="import", default_by=by)
        ids = self.add_experiments(parsed.experiments)
        return ImportReport(
            source=table.source, experiments=len(ids),
            measurements=sum(len(e.measurements) for e in parsed.experiments),
            flagged=sum(1 for e in parsed.experiments if e.flags), experiment_ids=ids, notices=parsed.notices,
        )

    # -- data-driven loop -----------------------------------------------------------------
    def _observations(self, s: Session, max_round: int | None = None) -> Observations:
        q = (select(ExperimentRow.conditions, MeasurementRow.value)
             .join(MeasurementRow, MeasurementRow.experiment_id == ExperimentRow.id)
             .where(ExperimentRow.campaign_id == self.id))
        if max_round is not None:
            q = q.where(ExperimentRow.round <= max_round)
        rows = s.execute(q.order_by(MeasurementRow.id)).all()
        cols: dict[str, list[Any]] = {n: [] for n in self.space.names}
        for cond, _ in rows:
            for n in self.space.names:
                cols[n].append(cond[n])
        return Observations(cols, np.array([v for _, v in rows], dtype=float))

    def observations(self, max_round: int | None = None) -> Observations:
        """Every replicate measurement (value columns + objective values), optionally up to a round."""
        with self.store.session() as s:
            return self._observations(s, max_round)

    def _pending_rows(self, s: Session) -> list[ProposalRow]:
        return list(s.scalars(
            select(ProposalRow).options(selectinload(ProposalRow.batch))
            .where(ProposalRow.campaign_id == self.id, ProposalRow.status == "pending")
            .order_by(ProposalRow.id)
        ).all())

    def propose(self, batch_size: int = 5, acquisition: str | None = None, *, seed: int | None = None,
                remeasure: bool = False, by: str = "", settings: Mapping[str, Any] | None = None) -> ProposalBatch:
        """Propose and store the next batch (a new round).

        Pending proposals are excluded and accounted for; measured conditions
        are excluded unless ``remeasure``.  The campaign row is locked while
        proposing, so two people asking at once get two different batches.
        """
        run_settings = self.settings.replace(**dict(settings or {}))
        if seed is None:
            # Draw one and store it, so that every batch can be reproduced later.
            seed = secrets.randbelow(2**31 - 1)
        with self.store.session() as s:
            s.scalar(select(CampaignRow).where(CampaignRow.id == self.id).with_for_update())
            obs = self._observations(s)
            pending = self._pending_rows(s)
            pend_cols = {n: [p.conditions[n] for p in pending] for n in self.space.names}
            result = propose(self.space, obs, q=batch_size, acquisition=acquisition, settings=run_settings,
                             seed=seed, pending=pend_cols if pending else None, remeasure=remeasure)
            rnd = self._current_round(s)
            has_data = s.scalar(select(func.count()).select_from(ExperimentRow).where(
                ExperimentRow.campaign_id == self.id, ExperimentRow.round == rnd)) or 0
            has_batch = s.scalar(select(func.count()).select_from(BatchRow).where(
                BatchRow.campaign_id == self.id, BatchRow.round == rnd)) or 0
            new_round = rnd + 1 if (has_data or has_batch) else rnd
            batch = BatchRow(campaign_id=self.id, round=new_round, acquisition=result.acquisition,
                             batch_size=batch_size, seed=seed, method=result.method,
                             model_settings=run_settings.to_dict(), created_by=by)
            s.add(batch)
            s.flush()
            for i, cond in enumerate(result.conditions):
                s.add(ProposalRow(
                    batch_id=batch.id, campaign_id=self.id, conditions=cond,
                    condition_key=condition_key(self.space, cond),
                    acquisition_value=_finite(result.acquisition_values[i]),
                    predicted_mean=_finite(result.predicted_mean[i]),
                    predicted_std=_finite(result.predicted_std[i]),
                ))
            s.flush()
            s.refresh(batch)
            return ProposalBatch(batch.id, batch.round, batch.method, batch.acquisition, seed,
                                 [_proposed(p, batch) for p in batch.proposals])

    def pending(self) -> list[ProposedExperiment]:
        """Proposals not yet measured nor abandoned, oldest first."""
        with self.store.session() as s:
            return [_proposed(p, p.batch) for p in self._pending_rows(s)]

    def abandon(self, proposal_ids: Iterable[int]) -> int:
        """Mark pending proposals abandoned (they no longer block the grid point)."""
        ids = list(proposal_ids)
        with self.store.session() as s:
            rows = {p.id: p for p in s.scalars(select(ProposalRow).where(
                ProposalRow.campaign_id == self.id, ProposalRow.id.in_(ids))).all()}
            for pid in ids:
                if pid not in rows:
                    raise NotFoundError(f"proposal {pid} is not part of campaign '{self.name}'")
                if rows[pid].status != "pending":
                    raise ConflictError(f"proposal {pid} is {rows[pid].status}, not pending")
                rows[pid].status = "abandoned"
                rows[pid].updated_at = utcnow()
        return len(ids)

    def proposals_frame(self, proposals: Iterable[ProposedExperiment]) -> pd.DataFrame:
        """The table that ``propose --out`` writes: ids, conditions, an empty objective column."""
        records = []
        for p in proposals:
            row: dict[str, Any] = {"proposal_id": p.proposal_id, "batch_id": p.batch_id, "round": p.round}
            for par in self.space.parameters:
                row[column_label(par.name, par.unit)] = p.conditions[par.name]
            row[self.space.objective.label] = None
            records.append(row)
        cols = (["proposal_id", "batch_id", "round"] + [column_label(p.name, p.unit) for p in self.space.parameters]
                + [self.space.objective.label])
        return pd.DataFrame.from_records(records, columns=cols)

    def record_file(self, path: str | Path, *, by: str = "", data: bytes | None = None,
                    name: str | None = None) -> RecordReport:
        """Record measured proposals (rows of the ``propose --out`` file with results filled in).

        Several rows with one ``proposal_id`` are replicates.  Rows with an
        empty result are skipped (still pending); rows without a proposal id
        are stored as researcher experiments.  All rows or none are written.
        """
        table = read_table(path, data=data, name=name)
        parsed = parse_table(self.space, table, mode="record", default_by=by)
        return self._record(parsed, table.source)

    def _record(self, parsed: ParsedTable, source: str) -> RecordReport:
        with self.store.session() as s:
            default_round = self._current_round(s)
            ids = [e.proposal_id for e in parsed.experiments if e.proposal_id is not None]
            props = {p.id: p for p in s.scalars(select(ProposalRow).options(selectinload(ProposalRow.batch))
                                                 .where(ProposalRow.id.in_(ids)).with_for_update()).all()} if ids else {}
            n_prop = n_res = 0
            notices = list(parsed.notices)
            for rec in parsed.experiments:
                where = f"{source}: row {rec.rows[0]}"
                if rec.proposal_id is None:
                    rec.source = "researcher"
                    self._write_experiment(s, rec, default_round)
                    n_res += 1
                    continue
                prop = props.get(rec.proposal_id)
                if prop is None or prop.campaign_id != self.id:
                    raise DataFileError(f"{where}, column 'proposal_id': proposal {rec.proposal_id} is not part of campaign '{self.name}'")
                if prop.status != "pending":
                    raise DataFileError(
                        f"{where}, column 'proposal_id': proposal {rec.proposal_id} is already {prop.status}"
                        + ("; add further replicates with 'import' and its experiment_id" if prop.status == "measured" else ""))
                rec.source = "proposed"
                rec.round = prop.batch.round
                if condition_key(self.space, rec.conditions) != prop.condition_key:
                    rec.flags = [*rec.flags, "deviates-from-proposal"]
                    notices.append(f"{where}: conditions differ from proposal {prop.id}; the conditions in the file are stored")
                self._write_experiment(s, rec, default_round, batch_id=prop.batch_id)
                prop.status = "measured"
                prop.updated_at = utcnow()
                n_prop += 1
        return RecordReport(source, n_prop + n_res, sum(len(e.measurements) for e in parsed.experiments),
                            n_res, parsed.skipped_rows, notices)

    # -- reading back -------------------------------------------------------------------
    def _experiment_rows(self, s: Session) -> list[ExperimentRow]:
        return list(s.scalars(
            select(ExperimentRow).options(selectinload(ExperimentRow.measurements),
                                          selectinload(ExperimentRow.descriptors))
            .where(ExperimentRow.campaign_id == self.id).order_by(ExperimentRow.id)
        ).all())

    def experiments(self) -> list[ExperimentSummary]:
        """Every experiment with replicate mean and standard deviation."""
        with self.store.session() as s:
            return [_summary(e) for e in self._experiment_rows(s)]

    def experiments_frame(self) -> pd.DataFrame:
        """One row per measurement, every stored field; what ``export`` writes."""
        par_cols = [column_label(p.name, p.unit) for p in self.space.parameters]
        cols = (["experiment_id", "source", "round", "batch_id", "proposal_id", *par_cols,
                 self.space.objective.label, "replicate", "measured_by", "measured_at", "note", "raw_file",
                 "created_by", "flags"])
        records = []
        with self.store.session() as s:
            rows = self._experiment_rows(s)
            units: dict[str, str] = {}
            for e in rows:
                for d in e.descriptors:
                    units.setdefault(d.name, d.unit)
            desc_cols = {name: descriptor_label(name, unit) for name, unit in sorted(units.items())}
            cols += list(desc_cols.values())
            for e in rows:
                # An experiment awaiting its derived value is exported as one row with an empty result.
                for k, m in enumerate(e.measurements or [None], start=1):
                    row: dict[str, Any] = {
                        "experiment_id": e.id, "source": e.source, "round": e.round,
                        "batch_id": e.batch_id, "proposal_id": e.proposal_id,
                    }
                    for p, label in zip(self.space.parameters, par_cols, strict=True):
                        row[label] = e.conditions[p.name]
                    if m is None:
                        row.update({self.space.objective.label: None, "replicate": None, "measured_by": "",
                                    "measured_at": "", "note": e.note, "raw_file": ""})
                    else:
                        row.update({self.space.objective.label: m.value, "replicate": k,
                                    "measured_by": m.measured_by, "measured_at": _aware(m.measured_at).isoformat(),
                                    "note": m.note, "raw_file": m.raw_file})
                    row.update(created_by=e.created_by, flags=";".join(e.flags))
                    row.update({desc_cols[d.name]: d.value for d in e.descriptors})
                    records.append(row)
        frame = pd.DataFrame.from_records(records, columns=cols)
        for c in ("batch_id", "proposal_id", "replicate"):
            frame[c] = frame[c].astype("Int64")
        return frame

    def export(self, path: str | Path) -> Path:
        """Write every measurement to CSV or Excel (by suffix); import reads it back."""
        return write_table(self.experiments_frame(), path)

    def status(self) -> CampaignStatus:
        """Counts, best so far per round, pending proposals."""
        with self.store.session() as s:
            exps = [_summary(e) for e in self._experiment_rows(s)]
            pending = [_proposed(p, p.batch) for p in self._pending_rows(s)]
            batch_rounds = set(s.scalars(select(BatchRow.round).where(BatchRow.campaign_id == self.id)).all())
        better = _better(self.space.objective.goal)
        by_round: dict[int, list[ExperimentSummary]] = defaultdict(list)
        for e in exps:
            by_round[e.round].append(e)
        rounds, best = [], None
        for r in sorted(set(by_round) | batch_rounds):
            in_round = by_round.get(r, [])
            best_here = None
            for e in in_round:
                if e.n == 0:
                    continue
                if best_here is None or better(e.mean, best_here.mean):
                    best_here = e
            if best_here is not None and (best is None or better(best_here.mean, best.mean)):
                best = best_here
            rounds.append(RoundSummary(r, len(in_round), sum(e.n for e in in_round), best_here, best))
        return CampaignStatus(
            name=self.name, space=self.space, experiments=len(exps), measurements=sum(e.n for e in exps),
            researcher_experiments=sum(e.source == "researcher" for e in exps),
            proposed_experiments=sum(e.source == "proposed" for e in exps),
            flagged_experiments=sum(bool(e.flags) for e in exps),
            rounds=rounds, pending=pending, best=best,
        )




# --------------------------------------------------------------------------- helpers
def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _better(goal: str):
    return (lambda a, b: a > b) if goal == "maximize" else (lambda a, b: a < b)


def _summary(e: ExperimentRow) -> ExperimentSummary:
    """Replicate statistics; an experiment still awaiting data has n = 0 and mean NaN."""
    vals = np.array([m.value for m in e.measurements], dtype=float)
    sd = float(vals.std(ddof=1)) if len(vals) > 1 else None
    mean = float(vals.mean()) if len(vals) else float("nan")
    return ExperimentSummary(e.id, e.round, e.source, dict(e.conditions), len(vals), mean, sd, list(e.flags),
                             e.created_by, _aware(e.created_at), e.proposal_id)


def _proposed(p: ProposalRow, batch: BatchRow) -> ProposedExperiment:
    return ProposedExperiment(p.id, p.batch_id, batch.round, dict(p.conditions), p.status, batch.acquisition,
                              p.acquisition_value, p.predicted_mean, p.predicted_std)
