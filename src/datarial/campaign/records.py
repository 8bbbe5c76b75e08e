"""Typed experiment records and their parsing from experiment tables.

A table row is one replicate measurement.  Columns (headers may carry the unit,
``T_max [degC]``):

* one per parameter, and the objective;
* optional: ``experiment_id`` (rows sharing it are replicates of one
  experiment), ``source`` (researcher | proposed), ``round``, ``proposal_id``,
  ``measured_by``, ``measured_at`` (ISO 8601), ``note``, ``raw_file``,
  ``created_by``; ``batch_id``, ``replicate`` and ``flags`` as written by
  export are accepted and recomputed.

Without ``experiment_id``, rows with the same conditions, round and source are
replicates of one experiment.  A BOXVIA table (parameter columns then one
objective column under another name) is accepted.  Every problem raises
:class:`DataFileError` naming file, row and column; nothing is half-parsed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from datarial.errors import DataFileError, SpaceError
from datarial.io.tables import RawTable
from datarial.space import SearchSpace

Source = Literal["researcher", "proposed"]
SOURCES = ("researcher", "proposed")

META_ALIASES = {
    "experiment_id": "experiment_id",
    "source": "source",
    "round": "round",
    "batch_id": "batch_id",
    "batch": "batch_id",
    "proposal_id": "proposal_id",
    "replicate": "replicate",
    "measured_by": "measured_by",
    "who": "measured_by",
    "operator": "measured_by",
    "measured_at": "measured_at",
    "when": "measured_at",
    "date": "measured_at",
    "note": "note",
    "notes": "note",
    "comment": "note",
    "raw_file": "raw_file",
    "flags": "flags",
    "created_by": "created_by",
}
_HEADER_RE = re.compile(r"^(?P<name>.+?)\s*(?:\[(?P<unit>[^\]]*)\]|\((?P<unit2>[^)]*)\))\s*$")


@dataclass
class MeasurementRecord:
    """One replicate: the objective value in the objective's unit."""

    value: float
    measured_by: str = ""
    measured_at: datetime | None = None
    note: str = ""
    raw_file: str = ""
    row: int = 0


@dataclass
class ExperimentRecord:
    """Conditions (parameters' units), provenance, and its replicate measurements."""

    conditions: dict[str, Any]
    source: Source = "researcher"
    round: int | None = None
    proposal_id: int | None = None
    created_by: str = ""
    note: str = ""
    flags: list[str] = field(default_factory=list)
    measurements: list[MeasurementRecord] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    descriptors: dict[str, tuple[float, str]] = field(default_factory=dict)  # name → (value, unit)


@dataclass
class ParsedTable:
    experiments: list[ExperimentRecord]
    skipped_rows: list[int]
    notices: list[str]


def split_header(name: str) -> tuple[str, str | None]:
    """``'T_max [degC]'`` → ``('T_max', 'degC')``; ``'T_max'`` → ``('T_max', None)``."""
    m = _HEADER_RE.match(name.strip())
    if m:
        return m.group("name").strip(), (m.group("unit") if m.group("unit") is not None else m.group("unit2")).strip()
    return name.strip(), None


def column_label(name: str, unit: str) -> str:
    """Header for a quantity with its unit: ``Jc [A/cm2]``."""
    return f"{name} [{unit}]" if unit else name


@dataclass(frozen=True)
class ColumnMap:
    parameters: dict[str, str]  # parameter name → header
    objective: str | None
    meta: dict[str, str]  # canonical meta name → header
    descriptors: dict[str, tuple[str, str]] = field(default_factory=dict)  # header → (name, unit)


DESCRIPTOR_PREFIX = "descriptor:"


def descriptor_label(name: str, unit: str) -> str:
    """Header of a descriptor column: ``descriptor: mean grain diameter [µm]``."""
    return f"{DESCRIPTOR_PREFIX} {column_label(name, unit)}"


def map_columns(space: SearchSpace, table: RawTable, *, need_objective: bool) -> tuple[ColumnMap, list[str]]:
    """Match headers to parameters, the objective and meta columns."""
    params = {p.name: p for p in space.parameters}
    obj = space.objective
    found_params: dict[str, str] = {}
    objective_col: str | None = None
    meta: dict[str, str] = {}
    unknown: list[str] = []
    notices: list[str] = []
    descriptors: dict[str, tuple[str, str]] = {}
    for header in table.header:
        base, unit = split_header(header)
        if base.lower().startswith(DESCRIPTOR_PREFIX):
            name = base[len(DESCRIPTOR_PREFIX):].strip()
            if not name:
                raise DataFileError(f"{table.source}: row 1, column '{header}': a descriptor column needs a name")
            if any(n == name for n, _ in descriptors.values()):
                raise DataFileError(f"{table.source}: row 1: descriptor '{name}' appears in two columns")
            descriptors[header] = (name, unit or "")
        elif base in params:
            p = params[base]
            if unit is not None and p.unit and unit != p.unit:
                raise DataFileError(
                    f"{table.source}: row 1, column '{header}': unit '{unit}' differs from the "
                    f"campaign's '{p.unit}' for {p.name}; convert the values first"
                )
            if base in found_params:
                raise DataFileError(f"{table.source}: row 1: parameter '{base}' appears in two columns")
            found_params[base] = header
        elif base == obj.name:
            if unit is not None and obj.unit and unit != obj.unit:
                raise DataFileError(
                    f"{table.source}: row 1, column '{header}': unit '{unit}' differs from the "
                    f"objective's '{obj.unit}'"
                )
            objective_col = header
        elif base.lower() in META_ALIASES:
            canon = META_ALIASES[base.lower()]
            if canon in meta:
                raise DataFileError(f"{table.source}: row 1: columns '{meta[canon]}' and '{header}' both mean '{canon}'")
            meta[canon] = header
        else:
            unknown.append(header)
    missing = [n for n in params if n not in found_params]
    if missing:
        raise DataFileError(
            f"{table.source}: row 1: missing column for parameter '{missing[0]}' "
            f"(expected columns: {', '.join(column_label(p.name, p.unit) for p in space.parameters)})"
        )
    if objective_col is None and len(unknown) == 1 and table.header[-1] == unknown[0]:
        # BOXVIA layout: input columns, then one objective column of any name.
        objective_col = unknown.pop()
        notices.append(f"column '{objective_col}' read as the objective {obj.label} (BOXVIA layout)")
    if unknown:
        raise DataFileError(
            f"{table.source}: row 1, column '{unknown[0]}': unknown column (not a parameter, "
            f"the objective '{obj.name}', or one of {', '.join(sorted(set(META_ALIASES.values())))})"
        )
    if need_objective and objective_col is None:
        raise DataFileError(f"{table.source}: row 1: missing the objective column '{obj.label}'")
    return ColumnMap(found_params, objective_col, meta, descriptors), notices


def _number(text: str, where: str, what: str = "a number") -> float:
    if text == "":
        raise DataFileError(f"{where}: missing value")
    try:
        # Strict: "1,5" might be 1.5 or 15 thousand-separated; refuse rather than guess.
        value = float(text)
    except ValueError:
        raise DataFileError(f"{where}: {text!r} is not {what}") from None
    if math.isnan(value):
        raise DataFileError(f"{where}: NaN is not a value")
    if math.isinf(value):
        raise DataFileError(f"{where}: {text!r} is not a finite number")
    return value


def _whole(text: str, where: str, what: str) -> int:
    v = _number(text, where, what)
    if v != int(v) or v < 1:
        raise DataFileError(f"{where}: {text!r} is not {what}")
    return int(v)


def parse_time(text: str, where: str) -> datetime:
    """ISO 8601 date/time; a time without zone is taken as UTC."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataFileError(f"{where}: {text!r} is not a date/time (expected ISO 8601, e.g. 2026-05-01T14:30)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _condition_value(space: SearchSpace, name: str, text: str, where: str) -> Any:
    p = space[name]
    if text == "":
        raise DataFileError(f"{where}: missing value")
    if p.kind == "categorical":
        try:
            return p.coerce(text)
        except SpaceError as exc:
            raise DataFileError(f"{where}: {exc.message.split(': ', 1)[1]}") from None
    value = _number(text, where)
    return p.coerce(value)


def condition_key(space: SearchSpace, conditions: dict[str, Any]) -> str:
    """Canonical text of a condition: equal conditions give equal keys."""
    parts = []
    for p in space.parameters:
        v = conditions[p.name]
        if p.kind == "categorical":
            parts.append(f"{p.name}={p.category_index(v)}")
        else:
            parts.append(f"{p.name}={float(v):.12g}")
    return ";".join(parts)


def parse_table(space: SearchSpace, table: RawTable, *, mode: Literal["import", "record"] = "import",
                default_by: str = "") -> ParsedTable:
    """Rows of ``table`` → experiment records (replicates grouped).

    ``import``: every row needs a value.  ``record``: rows whose objective cell
    is empty are skipped (not measured yet) and ``proposal_id`` names the
    proposal a row measures.
    """
    if not table.rows:
        raise DataFileError(f"{table.source}: no data rows below the header")
    cols, notices = map_columns(space, table, need_objective=True)
    if mode == "record" and "proposal_id" not in cols.meta:
        raise DataFileError(
            f"{table.source}: row 1: missing column 'proposal_id' — 'record' takes the file written by "
            f"'propose --out'; researcher data go through 'import'"
        )
    hidx = {h: j for j, h in enumerate(table.header)}
    # A derived objective comes from files attached later: a row may create the experiment only.
    awaiting_files = space.objective.derived is not None
    groups: dict[tuple, ExperimentRecord] = {}
    skipped: list[int] = []
    for i, row in enumerate(table.rows):
        def cell(header: str, row=row) -> str:
            return row[hidx[header]]

        rowno = table.row_numbers[i]
        obj_text = cell(cols.objective)
        if mode == "record" and obj_text == "" and not awaiting_files:
            skipped.append(rowno)
            continue
        value = None if (obj_text == "" and awaiting_files) else _number(obj_text, table.where(i, cols.objective), "a number")
        if value is not None and space.objective.transform == "log" and value <= 0:
            raise DataFileError(
                f"{table.where(i, cols.objective)}: {value:g} is not positive, but the objective "
                f"uses a log transform"
            )
        conditions = {name: _condition_value(space, name, cell(h), table.where(i, h))
                      for name, h in cols.parameters.items()}
        conditions = {p.name: conditions[p.name] for p in space.parameters}
        meta = {k: cell(h) for k, h in cols.meta.items()}
        source = meta.get("source", "").lower() or ("proposed" if meta.get("proposal_id") else "researcher")
        if source not in SOURCES:
            raise DataFileError(f"{table.where(i, cols.meta['source'])}: {meta['source']!r} is not researcher or proposed")
        rnd = _whole(meta["round"], table.where(i, cols.meta["round"]), "a round number (1, 2, …)") if meta.get("round") else None
        proposal_id = (_whole(meta["proposal_id"], table.where(i, cols.meta["proposal_id"]), "a proposal id")
                       if meta.get("proposal_id") else None)
        if proposal_id is not None and "source" in meta and source != "proposed" and mode == "record":
            raise DataFileError(f"{table.where(i, cols.meta['source'])}: a row with a proposal_id has source 'proposed'")
        when = parse_time(meta["measured_at"], table.where(i, cols.meta["measured_at"])) if meta.get("measured_at") else None
        measurement = None if value is None else MeasurementRecord(
            value=value, measured_by=meta.get("measured_by", "") or default_by, measured_at=when,
            note=meta.get("note", ""), raw_file=meta.get("raw_file", ""), row=rowno,
        )
        if meta.get("experiment_id"):
            key: tuple = ("id", meta["experiment_id"])
        elif proposal_id is not None:
            key = ("proposal", proposal_id)
        else:
            key = ("cond", condition_key(space, conditions), rnd, source)
        exp = groups.get(key)
        if exp is None:
            exp = groups[key] = ExperimentRecord(
                conditions=conditions, source=source, round=rnd, proposal_id=proposal_id,
                created_by=meta.get("created_by", "") or meta.get("measured_by", "") or default_by,
                flags=space.check_point(conditions),
            )
        elif condition_key(space, exp.conditions) != condition_key(space, conditions):
            raise DataFileError(
                f"{table.where(i)}: conditions differ from row {exp.rows[0]} of the same "
                f"{'experiment_id' if key[0] == 'id' else 'proposal_id'} {key[1]}"
            )
        if measurement is not None:
            exp.measurements.append(measurement)
        for h, (name, unit) in cols.descriptors.items():
            if cell(h) == "":
                continue
            v = _number(cell(h), table.where(i, h))
            if name in exp.descriptors and exp.descriptors[name][0] != v:
                raise DataFileError(f"{table.where(i, h)}: {v:g} differs from {exp.descriptors[name][0]:g} "
                                    f"given for the same experiment in row {exp.rows[0]}")
            exp.descriptors[name] = (v, unit)
        exp.rows.append(rowno)
    if not groups and mode == "import":
        raise DataFileError(f"{table.source}: no data rows below the header")
    return ParsedTable(list(groups.values()), skipped, notices)


def suggest_space(table: RawTable, *, name: str = "", objective: str | None = None) -> dict[str, Any]:
    """A search-space mapping guessed from a table of experiments (to pre-fill a form).

    The objective is ``objective`` or the last column that is not a known meta
    column (ids, who, when, notes); every other column becomes a parameter:
    numbers → continuous over the observed range (integer when every value is
    whole), text → categorical with the values seen.  Units come from headers
    like ``T_max [degC]``.
    """
    cols = [(j, *split_header(h)) for j, h in enumerate(table.header)
            if split_header(h)[0].lower() not in META_ALIASES]
    if len(cols) < 2:
        raise DataFileError(f"{table.source}: need at least one parameter column and the objective column")
    obj_j = next((c for c in cols if c[1] == objective), None) if objective else cols[-1]
    if obj_j is None:
        raise DataFileError(f"{table.source}: no column '{objective}'")
    params = []
    for j, pname, unit in cols:
        if j == obj_j[0]:
            continue
        cells = [r[j].strip() for r in table.rows if r[j].strip()]
        if not cells:
            raise DataFileError(f"{table.source}, column '{table.header[j]}': every cell is empty")
        try:
            nums = [float(c) for c in cells]
        except ValueError:
            params.append({"name": pname, "type": "categorical", "unit": unit or "",
                           "values": sorted(set(cells), key=cells.index)})
            continue
        lo, hi = min(nums), max(nums)
        whole = all(float(x).is_integer() for x in nums)
        if hi <= lo:
            hi = lo + (1 if whole else abs(lo) * 0.1 or 1.0)
        p: dict[str, Any] = {"name": pname, "type": "integer" if whole else "continuous", "unit": unit or "",
                             "low": int(lo) if whole else lo, "high": int(hi) if whole else hi}
        params.append(p)
    return {"name": name or Path(table.source).stem, "parameters": params,
            "objective": {"name": obj_j[1], "unit": obj_j[2] or "", "goal": "maximize"}, "constraints": []}
