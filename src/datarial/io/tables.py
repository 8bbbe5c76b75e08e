"""Experiment tables: CSV and Excel in, CSV and Excel out.

Readers return a :class:`RawTable` of text cells with the row numbers a
person sees in a spreadsheet (header = row 1), so that every later error can
name the file, row and column.  Nothing here knows about campaigns.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from datarial.errors import DataFileError

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MAX_TABLE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class RawTable:
    """Header and rows of text cells (``""`` = empty), with spreadsheet row numbers."""

    source: str
    header: list[str]
    rows: list[list[str]]
    row_numbers: list[int]

    def column(self, name: str) -> list[str]:
        j = self.header.index(name)
        return [r[j] for r in self.rows]

    def where(self, i: int, column: str | None = None) -> str:
        """``file, row N, column 'c'`` for data row index ``i``."""
        col = f", column '{column}'" if column is not None else ""
        return f"{self.source}: row {self.row_numbers[i]}{col}"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _check_header(header: list[str], source: str) -> list[str]:
    header = [h.strip().lstrip("\ufeff") for h in header]
    seen: dict[str, int] = {}
    for j, name in enumerate(header, start=1):
        if not name:
            raise DataFileError(f"{source}: row 1, column {j}: empty column name in the header")
        if name in seen:
            raise DataFileError(
                f"{source}: row 1: duplicate column '{name}' (columns {seen[name]} and {j})"
            )
        seen[name] = j
    return header


def read_table(path: str | Path, data: bytes | None = None, name: str | None = None) -> RawTable:
    """Read a CSV (comma, semicolon or tab separated) or Excel file into a :class:`RawTable`.

    ``data`` may hold the file's bytes (uploads); ``name`` is then used in messages.
    """
    path = Path(path)
    source = name or str(path)
    if data is None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DataFileError(f"{source}: file not found") from None
        if size > MAX_TABLE_BYTES:
            raise DataFileError(f"{source}: file is {size / 1e6:.0f} MB; the limit is {MAX_TABLE_BYTES / 1e6:.0f} MB")
        data = path.read_bytes()
    suffix = Path(source).suffix.lower() or path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(data, source)
    if suffix == ".xls":
        raise DataFileError(f"{source}: old .xls workbooks are not supported; save as .xlsx or .csv")
    return _read_csv(data, source)


def _read_csv(data: bytes, source: str) -> RawTable:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text:
        raise DataFileError(f"{source}: this is not a text table (binary content)")
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataFileError(f"{source}: the file is empty")
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows, numbers = [], []
    for lineno, record in enumerate(reader, start=1):
        if header is None:
            if not any(c.strip() for c in record):
                continue
            header = _check_header(record, source)
            continue
        if not any(c.strip() for c in record):
            continue  # blank lines separate nothing
        if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
            raise DataFileError(
                f"{source}: row {lineno}: {len(record)} cells but the header has {len(header)} columns"
            )
        cells = [c.strip() for c in record[: len(header)]]
        cells += [""] * (len(header) - len(cells))
        rows.append(cells)
        numbers.append(lineno)
    assert header is not None
    return RawTable(source, header, rows, numbers)


def _read_excel(data: bytes, source: str) -> RawTable:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise DataFileError(f"{source}: not a readable Excel workbook ({exc.__class__.__name__})") from None
    ws = wb.worksheets[0]
    header: list[str] | None = None
    rows, numbers = [], []
    for rowno, record in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = [_cell_text(v) for v in record]
        if header is None:
            if not any(cells):
                continue
            while cells and not cells[-1]:
                cells.pop()
            header = _check_header(cells, f"{source} (sheet '{ws.title}')")
            continue
        if not any(cells):
            continue
        if len(cells) > len(header) and any(cells[len(header):]):
            raise DataFileError(f"{source}: row {rowno}: a value stands right of the last named column")
        cells = (cells + [""] * len(header))[: len(header)]
        rows.append(cells)
        numbers.append(rowno)
    wb.close()
    if header is None:
        raise DataFileError(f"{source}: the workbook's first sheet is empty")
    return RawTable(source, header, rows, numbers)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV or Excel (by suffix); floats keep full precision.

    The file is written to a temporary name first and moved into place, so an
    interrupted export never leaves half a file behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            frame.to_excel(tmp, index=False, engine="openpyxl")
        else:
            frame.to_csv(tmp, index=False, float_format=None, lineterminator="\n")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
