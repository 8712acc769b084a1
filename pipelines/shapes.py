"""Record shaping between the API and the warehouse: timestamps, dates and Arrow tables.

Values keep the API's meaning; only their types are made explicit: ISO-8601 timestamps become
UTC datetimes, the daily history's `dd/mm/yyyy` and `YYYY-MM-DD` day fields become dates. Large
flat tables travel as Arrow tables with a fixed schema per column, so the load needs no per-row
normalisation and pages always agree on types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$")
TS = pa.timestamp("us", tz="UTC")
STR, INT, FLOAT, BOOL, DATE = pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.date32()
# a declared column's values arrive as these Python types; another type is drift (pipelines/drift.py)
NATIVE: dict[pa.DataType, tuple[type, ...]] = {STR: (str,), INT: (int,), FLOAT: (int, float), BOOL: (bool,)}
DECLARED_NAMES: dict[pa.DataType, str] = {STR: "text", INT: "bigint", FLOAT: "double", BOOL: "bool"}
RETYPED_KEY = b"returning.retyped"
VARIANT_TEXT = "__v_text"  # dlt's name for a column's text variant


def parse_ts(value: Any) -> Any:
    """An ISO-8601 timestamp string as an aware UTC datetime; anything else unchanged."""
    if isinstance(value, str) and ISO_TS.match(value):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return value
    return value


def iso(value: datetime) -> str:
    """The API's timestamp format: `2026-03-05T11:04:15.754Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def parse_day(value: Any) -> date | None:
    """`dd/mm/yyyy`, `YYYY-MM-DD` or an ISO timestamp as a date; None when unreadable."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        if "/" in value:
            dd, mm, yyyy = value.split("/")
            return date(int(yyyy), int(mm), int(dd))
        if "T" in value:
            parsed = parse_ts(value)
            return parsed.date() if isinstance(parsed, datetime) else None
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def to_utc_datetime(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    """Days from `start` to `end`, both included."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def timestamps(row: dict[str, Any]) -> dict[str, Any]:
    """The record with its top-level ISO timestamps parsed (in place)."""
    for key, value in row.items():
        if isinstance(value, str):
            row[key] = parse_ts(value)
    return row


def as_text(value: Any) -> str | None:
    """A value of no fixed type (field values, defaults) as text: strings as they are, numbers and
    booleans in JSON notation (`5`, `2.5`, `true`), objects and lists as JSON; null stays null."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _infer(values: list[Any]) -> pa.DataType:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return STR
    if kinds == {bool}:
        return BOOL
    if kinds == {int}:
        return INT
    if kinds <= {int, float}:
        return FLOAT
    if kinds <= {datetime}:
        return TS
    if kinds == {str}:
        return TS if all(ISO_TS.match(v) for v in values if v is not None) else STR
    return STR


def _coerce(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == TS:
        parsed = parse_ts(value)
        return parsed if isinstance(parsed, datetime) else None
    if kind == DATE:
        return parse_day(value)
    if kind == STR and not isinstance(value, str):
        return orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
    if kind in (INT, FLOAT) and isinstance(value, str):  # a number sent as text still means the number
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if kind == INT and number.is_integer() else number
    if kind == FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == INT and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fits(value: Any, kind: pa.DataType) -> bool:
    try:
        pa.array([_coerce(value, kind)], type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False
    return True


def _column(raw: list[Any], kind: pa.DataType) -> pa.Array:
    """One column: vectorised where the values allow (Python values of the type, ISO and
    `dd/mm/yyyy` strings parsed by Arrow), value by value otherwise."""
    try:
        return pa.array(raw, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    if kind in (TS, DATE) and all(v is None or isinstance(v, str) for v in raw):
        try:
            text = pa.array(raw, type=STR)
            if kind == DATE and any(v is not None and "/" in v for v in raw):
                return pc.strptime(text, format="%d/%m/%Y", unit="s").cast(DATE)
            return text.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    return pa.array([_coerce(v, kind) for v in raw], type=kind)


def to_arrow(
    rows: Iterable[Mapping[str, Any]], types: Mapping[str, pa.DataType] | None = None, keys: Iterable[str] = (),
) -> pa.Table:
    """Rows as an Arrow table: declared columns take their declared type (null when no row has
    them), others are inferred (nested values become JSON text). Columns appear in first-seen order; `keys` (primary key
    columns) are declared not nullable, as dlt declares them."""
    rows = list(rows)
    types = types or {}
    required = set(keys)
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            names.setdefault(key, None)
    arrays, fields_ = [], []
    retyped: dict[str, list[Any]] = {}  # declared column -> [declared type, seen type, values]
    for name in names:
        raw = [row.get(name) for row in rows]
        kind = types.get(name) or _infer(raw)
        variant: pa.Array | None = None
        try:
            arr = _column(raw, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            if name not in types:
                kind = STR
                arr = pa.array([_coerce(v, STR) for v in raw], type=STR)
            else:  # a retyped value keeps its row: the column gets what fits, a variant column the rest
                fits = [v is None or _fits(v, kind) for v in raw]
                arr = pa.array([_coerce(v, kind) if ok else None for v, ok in zip(raw, fits, strict=True)], type=kind)
                variant = pa.array([None if ok else _coerce(v, STR) for v, ok in zip(raw, fits, strict=True)], type=STR)
        if name in types and kind in NATIVE:
            odd = [v for v in raw if v is not None and (not isinstance(v, NATIVE[kind])
                                                        or (isinstance(v, bool) and kind != BOOL))]
            if odd:
                retyped[name] = [DECLARED_NAMES[kind], type(odd[0]).__name__, len(odd)]
        arrays.append(arr)
        fields_.append(pa.field(name, kind, nullable=not (name in required and arr.null_count == 0)))
        if variant is not None:
            arrays.append(variant)
            fields_.append(pa.field(f"{name}{VARIANT_TEXT}", STR))
    for name, kind in types.items():  # a declared field no row carries: its column, null
        if name not in names:
            arrays.append(pa.nulls(len(rows), kind))
            fields_.append(pa.field(name, kind))
    schema = pa.schema(fields_)
    if retyped:  # read by pipelines/drift.py, which records the change
        schema = schema.with_metadata({RETYPED_KEY: orjson.dumps(retyped)})
    return pa.Table.from_arrays(arrays, schema=schema)
