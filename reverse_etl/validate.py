"""Row validation before anything is sent: a rejected row is recorded with its reason, never uploaded."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from reverse_etl.definitions import DELTA_OPERATORS, Definition

EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\]\\]+@[^@\s\"(),:;<>\[\]\\]+\.[^@\s\"(),:;<>\[\]\\]+$")
_NUMBER_TEXT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")

# Platform fields a bulk update may write (contract 7.1 lists; read-only ones like join_date left out).
PLATFORM_FIELDS: dict[str, str] = {
    "first_name": "text", "last_name": "text", "username": "text", "display_name": "text",
    "language": "text", "tier": "text", "xp": "number", "coins": "number",
}
PREMIUM_FIELDS: dict[str, str] = {"premium_currency": "number"}
WHOLE_NUMBERS = {"xp", "coins", "premium_currency"}  # balances: whole and never below zero
NUMERIC_TYPES = {"number", "numerical", "integer", "float", "decimal"}
BOOLEAN_TEXT = {"true", "false", "1", "0", "yes", "no"}
_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class CheckedRow:
    index: int  # position in the query result, 0-based
    email: str
    period: str | None
    values: dict[str, Any]
    reason: str | None = None  # None: valid
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # number | text | select | boolean | date
    options: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind == "number"


def field_types(definition: Definition, custom_fields: Iterable[Mapping[str, Any]]) -> dict[str, FieldSpec]:
    """field key -> its spec, for the fields this definition's target may write (platform + custom, 7.3)."""
    if definition.target == "premium_currency":
        return {k: FieldSpec(v) for k, v in PREMIUM_FIELDS.items()}
    types = {k: FieldSpec(v) for k, v in PLATFORM_FIELDS.items()}
    for f in custom_fields:
        key = f.get("field")
        if not key:
            continue
        kind = str(f.get("type", "")).lower()
        if kind in NUMERIC_TYPES:
            kind = "number"
        elif kind not in ("select", "boolean", "date"):
            kind = "text"
        options = tuple(str(o.get("value", o) if isinstance(o, dict) else o) for o in (f.get("options") or []))
        types[str(key)] = FieldSpec(kind, options if kind == "select" else ())
    return types


def as_number(value: Any) -> int | float | Decimal | None:
    """The value as a finite number, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def period_text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _check_value(col: str, op: str, value: Any, types: Mapping[str, FieldSpec]) -> str | None:
    spec = types.get(col)
    if spec is None:
        return f"column {col!r} is not a user field this target accepts"
    if value is None or value == "":
        return f"no value for {col!r}"
    if spec.numeric:
        number = as_number(value)
        if number is None:
            return f"{col!r} value {value!r} is not a number"
        if op in DELTA_OPERATORS and number < 0:
            return f"{col!r} {op} value {value!r} is negative; use the opposite operator"
        if col in WHOLE_NUMBERS and number != int(number):
            return f"{col!r} value {value!r} is not a whole number"
        if op == "overwrite" and col in WHOLE_NUMBERS and number < 0:
            return f"{col!r} cannot be set below zero ({value!r})"
        return None
    if op in DELTA_OPERATORS:
        return f"operator {op!r} on non-numeric field {col!r}; only numbers add or subtract"
    text = value if isinstance(value, str) else None
    if text is not None and "\x00" in text:
        return f"{col!r} value contains a NUL character"
    if spec.kind == "select" and spec.options and str(value) not in spec.options:
        return f"{col!r} value {value!r} is not one of its options"
    if spec.kind == "boolean" and not isinstance(value, bool) and str(value).strip().lower() not in BOOLEAN_TEXT:
        return f"{col!r} value {value!r} is not a boolean"
    if spec.kind == "date" and not isinstance(value, dt.date) and not _YMD.match(str(value)):
        return f"{col!r} value {value!r} is not a YYYY-MM-DD date"
    return None


def validate_rows(
    definition: Definition, rows: Sequence[Mapping[str, Any]], types: Mapping[str, FieldSpec]
) -> list[CheckedRow]:
    """Check every row of a query result; each comes back valid or with the reason it is not."""
    emails = [r.get(definition.key) for r in rows]
    counts = Counter(e.strip().lower() for e in emails if isinstance(e, str))
    out: list[CheckedRow] = []
    for i, row in enumerate(rows):
        email = row.get(definition.key)
        values = {c: row.get(c) for c in definition.columns}
        period = None
        reason: str | None = None
        if not isinstance(email, str) or not email:
            reason = "no email"
        elif len(email) > 254 or not EMAIL.match(email):
            reason = f"email {email!r} is not an email address"
        elif counts[email.strip().lower()] > 1:
            reason = f"duplicate email in the result ({counts[email.strip().lower()]} rows)"
        if reason is None and definition.period:
            if definition.period not in row:
                reason = f"the query has no period column {definition.period!r}"
            elif row[definition.period] is None:
                reason = f"no period value in {definition.period!r}"
            else:
                period = period_text(row[definition.period])
        if reason is None:
            for col, op in definition.columns.items():
                if col not in row:
                    reason = f"the query has no column {col!r}"
                    break
                reason = _check_value(col, op, row[col], types)
                if reason:
                    break
        out.append(CheckedRow(index=i, email=email if isinstance(email, str) else str(email),
                              period=period, values=values, reason=reason))
    return out
