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
    "language": "text", "tier": "text", "xp": "number", "coins": "number", "level": "number",
}
PREMIUM_FIELDS: dict[str, str] = {"premium_currency": "number"}
NON_NEGATIVE = {"xp", "coins", "level", "premium_currency"}
NUMERIC_TYPES = {"number", "numerical", "integer", "float", "decimal"}


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


def field_types(definition: Definition, custom_fields: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """field key -> "number" | "text" for the fields this definition's target may write."""
    if definition.target == "premium_currency":
        return dict(PREMIUM_FIELDS)
    types = dict(PLATFORM_FIELDS)
    for f in custom_fields:
        key = f.get("field")
        if key:
            types[str(key)] = "number" if str(f.get("type", "")).lower() in NUMERIC_TYPES else "text"
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


def _check_value(col: str, op: str, value: Any, types: Mapping[str, str]) -> str | None:
    kind = types.get(col)
    if kind is None:
        return f"column {col!r} is not a user field this target accepts"
    if value is None:
        return f"no value for {col!r}"
    if kind == "number":
        number = as_number(value)
        if number is None:
            return f"{col!r} value {value!r} is not a number"
        if op in DELTA_OPERATORS and number < 0:
            return f"{col!r} {op} value {value!r} is negative; use the opposite operator"
        if op == "overwrite" and col in NON_NEGATIVE and number < 0:
            return f"{col!r} cannot be set below zero ({value!r})"
        return None
    if op in DELTA_OPERATORS:
        return f"operator {op!r} on text field {col!r}; text fields are overwritten"
    if isinstance(value, str) and "\x00" in value:
        return f"{col!r} value contains a NUL character"
    return None


def validate_rows(
    definition: Definition, rows: Sequence[Mapping[str, Any]], types: Mapping[str, str]
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
