"""Magnetometer data files: Quantum Design ``.dat`` (MPMS3, PPMS, VersaLab) and plain tables.

Both readers return a :class:`MagnetometerData`: named numeric columns with
their units as written, the header entries, and the warnings raised while
reading.  Accessors give SI-ready arrays: temperature in K, applied field μ0H
in T, moment in emu (= 1e-3 A m²), time in s.

Quantum Design layout::

    [Header]
    ; comment
    BYAPP,MPMS3,1.0
    INFO,0.0123,SAMPLE_MASS
    FILEOPENTIME,5252345.2,04/01/2026,10:03 AM
    [Data]
    Comment,Time Stamp (sec),Temperature (K),Magnetic Field (Oe),Moment (emu),...
    ,3.1e3,5.0,1000,1.2e-3,...

Real files have empty cells, a leading empty ``Comment`` column, Windows line
endings and Latin-1 text; an aborted measurement leaves a cut last row, which
is dropped with a warning.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datarial.errors import DataFileError

_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<unit>[^\)\]]*)[\)\]]\s*$")

TEMPERATURE_COLUMNS = ("Temperature (K)", "Temperature", "T (K)", "T")
FIELD_COLUMNS = ("Magnetic Field (Oe)", "Field (Oe)", "Magnetic Field (T)", "Field (T)", "H (Oe)", "B (T)", "mu0H (T)")
MOMENT_COLUMNS = ("Moment (emu)", "DC Moment Free Ctr (emu)", "DC Moment Fixed Ctr (emu)", "DC Moment (emu)",
                  "M (emu)", "Long Moment (emu)", "AC Moment (emu)")
TIME_COLUMNS = ("Time Stamp (sec)", "Time (sec)", "Time (s)", "Time", "t (s)")


@dataclass(frozen=True)
class MagnetometerData:
    """A magnetometer measurement: columns (name as written → values) and their units."""

    source: str
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    header: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def find(self, candidates: tuple[str, ...], what: str) -> str:
        """The first column present (with data) among ``candidates``."""
        lower = {c.lower(): c for c in self.columns}
        for cand in candidates:
            col = lower.get(cand.lower())
            if col is not None and np.isfinite(self.columns[col]).any():
                return col
        raise DataFileError(
            f"{self.source}: no {what} column with data (looked for {', '.join(candidates)}; "
            f"the file has {', '.join(self.columns)})"
        )

    def temperature(self) -> np.ndarray:
        """Temperature [K]."""
        col = self.find(TEMPERATURE_COLUMNS, "temperature")
        return self._convert(col, {"k": 1.0, "": 1.0}, "temperature")

    def field(self) -> np.ndarray:
        """Applied field μ0H [T] (Oe are converted as 1 Oe = 1e-4 T)."""
        col = self.find(FIELD_COLUMNS, "magnetic field")
        return self._convert(col, {"oe": 1e-4, "t": 1.0, "mt": 1e-3, "koe": 0.1, "g": 1e-4}, "magnetic field")

    def moment(self) -> np.ndarray:
        """Magnetic moment [emu]."""
        col = self.find(MOMENT_COLUMNS, "moment")
        return self._convert(col, {"emu": 1.0, "am2": 1e3, "a m2": 1e3}, "moment")

    def time(self) -> np.ndarray:
        """Time [s]."""
        col = self.find(TIME_COLUMNS, "time")
        return self._convert(col, {"sec": 1.0, "s": 1.0, "min": 60.0, "h": 3600.0, "": 1.0}, "time")

    def _convert(self, col: str, factors: dict[str, float], what: str) -> np.ndarray:
        unit = self.units.get(col, "").strip().lower().replace("²", "2").replace("^2", "2")
        if unit not in factors:
            raise DataFileError(f"{self.source}: column '{col}': unit '{self.units.get(col)}' is not a {what} unit "
                                f"this reader knows ({', '.join(k for k in factors if k) })")
        return self.columns[col] * factors[unit]


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _split_unit(name: str) -> tuple[str, str]:
    m = _UNIT_RE.match(name)
    return (name, m.group("unit")) if m else (name, "")


def _numeric_columns(header: list[str], rows: list[list[str]], row_numbers: list[int], source: str,
                     warnings: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Columns that hold numbers (text columns such as Comment are kept out)."""
    columns: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for j, name in enumerate(header):
        raw = [r[j] if j < len(r) else "" for r in rows]
        values = np.full(len(raw), np.nan)
        text_cells = 0
        first_bad: tuple[int, str] | None = None
        for i, cell in enumerate(raw):
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[i] = float(cell)
            except ValueError:
                text_cells += 1
                if first_bad is None:
                    first_bad = (row_numbers[i], cell)
        non_empty = sum(1 for c in raw if c.strip())
        if non_empty and text_cells == non_empty:
            continue  # a text column (Comment, units row of some exporters)
        if text_cells:
            line, cell = first_bad
            raise DataFileError(f"{source}: line {line}, column '{name}': {cell!r} is not a number")
        if name in columns:
            renamed = f"{name} #{j + 1}"
            warnings.append(f"{source}: column '{name}' appears twice; the second is read as '{renamed}'")
            name = renamed
        columns[name] = values
        units[name] = _split_unit(name)[1]
    return columns, units


def read_qd_dat(path: str | Path, data: bytes | None = None, name: str | None = None) -> MagnetometerData:
    """Read a Quantum Design ``.dat`` file (MPMS3, PPMS, VersaLab)."""
    path = Path(path)
    source = name or str(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataFileError(f"{source}: file not found") from None
    text = _decode(data)
    if "\x00" in text:
        raise DataFileError(f"{source}: binary content; not a Quantum Design .dat text file")
    lines = text.splitlines()
    if not lines or not lines[0].strip().startswith("[Header]"):
        first = next((i for i, line in enumerate(lines, 1) if line.strip()), 1)
        raise DataFileError(f"{source}: line {first}: expected '[Header]' — this is not a Quantum Design .dat file")
    try:
        data_at = next(i for i, line in enumerate(lines) if line.strip().startswith("[Data]"))
    except StopIteration:
        raise DataFileError(f"{source}: no '[Data]' section; the file is not a complete .dat file") from None

    header: dict[str, str] = {}
    info: dict[str, str] = {}
    for lineno, line in enumerate(lines[1:data_at], start=2):
        s = line.strip()
        if not s or s.startswith(";"):
            continue
        parts = next(csv.reader([s]))
        key = parts[0].strip()
        if key == "INFO" and len(parts) >= 3:
            info[parts[-1].strip()] = ",".join(parts[1:-1]).strip()
        elif key == "INFO":
            info[f"INFO_{lineno}"] = ",".join(parts[1:]).strip()
        else:
            header[key] = ",".join(p.strip() for p in parts[1:])

    table_lines = [(n, line) for n, line in enumerate(lines[data_at + 1:], start=data_at + 2) if line.strip()]
    if not table_lines:
        raise DataFileError(f"{source}: line {data_at + 1}: '[Data]' has no column header")
    head_no, head_line = table_lines[0]
    col_names = [c.strip() for c in next(csv.reader([head_line]))]
    if len(col_names) < 2:
        raise DataFileError(f"{source}: line {head_no}: the data header has fewer than two columns")
    rows, numbers, warnings = [], [], []
    records = list(csv.reader(io.StringIO("\n".join(line for _, line in table_lines[1:]))))
    for k, (rec, (lineno, _)) in enumerate(zip(records, table_lines[1:], strict=False)):
        if len(rec) < len(col_names):
            if k == len(records) - 1:
                warnings.append(f"{source}: line {lineno}: incomplete last row ({len(rec)} of {len(col_names)} "
                                f"cells, measurement aborted?) was dropped")
                break
            raise DataFileError(f"{source}: line {lineno}: {len(rec)} cells, the data header has {len(col_names)}")
        rows.append(rec)
        numbers.append(lineno)
    if not rows:
        raise DataFileError(f"{source}: no data rows after the header on line {head_no}")
    columns, units = _numeric_columns(col_names, rows, numbers, source, warnings)
    return MagnetometerData(source, columns, units, header, info, warnings)


def read_table_data(path: str | Path, data: bytes | None = None, name: str | None = None) -> MagnetometerData:
    """Read a plain CSV/TXT table with named columns and units in the header (``Field (T)``)."""
    from datarial.io.tables import read_table

    table = read_table(path, data=data, name=name)
    if not table.rows:
        raise DataFileError(f"{table.source}: no data rows below the header")
    warnings: list[str] = []
    columns, units = _numeric_columns(table.header, table.rows, table.row_numbers, table.source, warnings)
    return MagnetometerData(table.source, columns, units, warnings=warnings)


def read_jc_curve(path: str | Path, data: bytes | None = None, name: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A Jc(B) table (e.g. from 'magnet jc --out') → (field [T], Jc [A/m²]).

    Needs a field column (``B``, ``Field`` or ``mu0H``; unit T, mT, Oe, ... — T if
    none) and a ``Jc`` column with its unit (A/cm2 or A/m2).
    """
    from datarial.units import parse_quantity

    table = read_measurement(path, data=data, name=name)
    fcol = next((c for c in table.columns if c.split()[0].lower() in ("b", "field", "mu0h", "μ0h")), None)
    jcol = next((c for c in table.columns if c.lower().startswith("jc")), None)
    if fcol is None or jcol is None:
        raise DataFileError(f"{table.source}: needs a field column 'B [T]' and a column 'Jc [A/cm2]' "
                            f"(found {', '.join(table.columns)})")
    f_unit, j_unit = table.units.get(fcol, ""), table.units.get(jcol, "")
    if not j_unit:
        raise DataFileError(f"{table.source}: column '{jcol}' needs its unit, e.g. 'Jc [A/cm2]'")
    field = table.columns[fcol] * parse_quantity(f"1{f_unit or 'T'}", "magnetic field",
                                                 what=f"{table.source}: column '{fcol}'")
    jc = table.columns[jcol] * parse_quantity(f"1{j_unit}", "current density", what=f"{table.source}: column '{jcol}'")
    return field, jc


def read_measurement(path: str | Path, data: bytes | None = None, name: str | None = None) -> MagnetometerData:
    """Read a magnetometer file by its content: QD ``.dat`` if it starts with [Header], else a table."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataFileError(f"{name or path}: file not found") from None
    if _decode(data[:64]).lstrip().startswith("[Header]") or Path(name or path).suffix.lower() == ".dat":
        return read_qd_dat(path, data=data, name=name)
    return read_table_data(path, data=data, name=name)


MPMS3_COLUMNS = (
    "Comment", "Time Stamp (sec)", "Temperature (K)", "Magnetic Field (Oe)", "Moment (emu)",
    "M. Std. Err. (emu)", "Transport Action", "Averaging Time (sec)", "Frequency (Hz)", "Peak Amplitude (mm)",
    "Center Position (mm)", "Lockin Signal' (V)", "Lockin Signal I' (V)", "Range", "M. Quad. Signal (Vemu)",
    "Min. Temperature (K)", "Max. Temperature (K)", "Min. Field (Oe)", "Max. Field (Oe)", "Mass (grams)",
    "Motor Lag (deg)", "Pressure (Torr)", "Measure Count", "Measurement Number", "SQUID Status (code)",
    "Motor Status (code)", "Measure Status (code)", "Motor Current (amps)", "Motor Temp. (C)",
    "Temp. Status (code)", "Field Status (code)", "Chamber Status (code)", "Chamber Temp (K)",
    "Redirection State", "Average Temp (K)", "Rotation Angle (deg)", "Rotator state",
    "DC Moment Fixed Ctr (emu)", "DC Moment Err Fixed Ctr (emu)", "DC Moment Free Ctr (emu)",
    "DC Moment Err Free Ctr (emu)",
)


def write_qd_dat(path: str | Path, time_s, temperature_k, field_oe, moment_emu, *, mode: str = "VSM",
                 info: dict[str, str] | None = None, crlf: bool = True, encoding: str = "latin-1") -> Path:
    """Write arrays in the layout of an MPMS3 ``.dat`` file (``mode`` VSM or DC: which moment columns hold data).

    Used to produce test files and simulated measurements; the reader does not depend on it.
    """
    path = Path(path)
    n = len(time_s)
    info = {"SAMPLE_MATERIAL": "K-doped Ba122", "SAMPLE_MASS": "0.0123", "SAMPLE_VOLUME": "",
            "SAMPLE_SIZE": "", **(info or {})}
    head = ["[Header]", "; MPMS3 data file, written by datarial", "TITLE,datarial synthetic measurement",
            "BYAPP,MPMS3,1.0.0 Build 1", "INFO,MPMS3 Serial Number: synthetic,"]
    head += [f"INFO,{value},{key}" for key, value in info.items()]
    head += ["FILEOPENTIME,5251234.5678,04/01/2026,10:03 AM", "DATATYPE,COMMENT,1", "DATATYPE,TIME,2",
             "FIELDGROUP,Moment,4,5,6", "STARTUPAXIS,X,3", "STARTUPAXIS,Y1,4", "[Data]", ",".join(MPMS3_COLUMNS)]
    col = {name: i for i, name in enumerate(MPMS3_COLUMNS)}
    lines = []
    for i in range(n):
        cells = [""] * len(MPMS3_COLUMNS)
        cells[col["Time Stamp (sec)"]] = repr(float(time_s[i]))
        cells[col["Temperature (K)"]] = repr(float(temperature_k[i]))
        cells[col["Magnetic Field (Oe)"]] = repr(float(field_oe[i]))
        cells[col["Measure Count"]] = "1"
        m = repr(float(moment_emu[i]))
        if mode == "VSM":
            cells[col["Moment (emu)"]] = m
            cells[col["M. Std. Err. (emu)"]] = repr(abs(float(moment_emu[i])) * 1e-4 + 1e-9)
        else:
            cells[col["DC Moment Free Ctr (emu)"]] = m
            cells[col["DC Moment Fixed Ctr (emu)"]] = m
        lines.append(",".join(cells))
    nl = "\r\n" if crlf else "\n"
    path.write_bytes((nl.join(head + lines) + nl).encode(encoding))
    return path
