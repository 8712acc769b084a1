"""The bulk-update CSV (contract 8.1/8.2) and its people-facing preview.

Upload file: UTF-8, no BOM, RFC 4180 quoting (a field is quoted when it holds a comma, quote, CR or
LF; quotes are doubled), CRLF line ends. Header `email`, then per column `<field>_op,<field>` for a
numeric field or `<field>` for a text one. Values are written exactly as computed.

A text value a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or CR) is sent as
is (it is the user's data) but reported as a warning; the preview file written for people prefixes such
cells with `'` so opening it in a spreadsheet never executes anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvColumn:
    field: str
    operator: str | None  # None: a text field, no `_op` column


@dataclass(frozen=True)
class CsvRow:
    email: str
    values: dict[str, Any]  # field -> value
    operators: dict[str, str]  # field -> operator, for numeric fields


def format_value(value: Any) -> str:
    """A computed value as its CSV text: integers without a decimal point, floats round-trip exact."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def neutralise(text: str) -> str:
    """A cell as a spreadsheet shows it without running it."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def header(columns: Sequence[CsvColumn]) -> list[str]:
    out = ["email"]
    for c in columns:
        if c.operator is not None:
            out.append(f"{c.field}_op")
        out.append(c.field)
    return out


def _cells(row: CsvRow, columns: Sequence[CsvColumn]) -> list[str]:
    cells = [row.email]
    for c in columns:
        if c.operator is not None:
            cells.append(row.operators.get(c.field, c.operator))
        cells.append(format_value(row.values.get(c.field)))
    return cells


def render(rows: Sequence[CsvRow], columns: Sequence[CsvColumn], *, preview: bool = False) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header(columns))
    for row in rows:
        cells = _cells(row, columns)
        if preview:
            cells = [neutralise(c) for c in cells]
        writer.writerow(cells)
    return buf.getvalue()


def formula_warnings(rows: Sequence[CsvRow]) -> list[tuple[int, str, str]]:
    """(1-based data row, field, value) for every text cell a spreadsheet would run as a formula."""
    out = []
    for i, row in enumerate(rows, start=1):
        for f, v in row.values.items():
            if is_formula_like(v):
                out.append((i, f, v))
    return out


def write_files(rows: Sequence[CsvRow], columns: Sequence[CsvColumn], path: Path) -> tuple[bytes, Path]:
    """Write the upload file at `path` and its preview next to it; return the upload bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = render(rows, columns).encode("utf-8")
    path.write_bytes(content)
    preview = path.with_name(path.stem + ".preview.csv")
    preview.write_bytes(render(rows, columns, preview=True).encode("utf-8"))
    return content, preview


def parse(content: bytes) -> list[dict[str, str]]:
    """Read an upload file back (used by tests and the preview check)."""
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
