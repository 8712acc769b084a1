"""Compare the warehouse with the simulator's ground truth, table by table.

Truth rows are what the API returns; the warehouse holds them as dlt shapes them. Both sides are
brought to one comparable form: names normalised by dlt's naming convention, nested objects
flattened to `a__b`, lists rebuilt from their child tables, ISO timestamps as datetimes, the day
fields as dates, untyped values (field values, defaults) as text, and null the same as absent.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

from pipelines.shapes import as_text, parse_day
from warehouse.connection import Connection

NAMING = NamingConvention()
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
KEYS: dict[str, tuple[str, ...]] = {
    "gamification_daily": ("user_id", "date"),
    "activity_stats": ("user_id", "date"),
    "loyalty_overview": ("date",),
    "redemption_orders": ("transaction_id",),
    "tiers": ("name",),
    "bulk_jobs": ("job_id",),
    "messages": ("id",),
    "user_game_stats": ("user_id",),
}
DAY_FIELDS = {"gamification_daily": "date", "activity_stats": "date", "loyalty_overview": "date"}
TEXT_FIELDS = {"user_fields": ("defaultValue",), "user_field_histories": ("value", "previousValue")}


def _value(v: Any) -> Any:
    if isinstance(v, str) and ISO.match(v):
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    if isinstance(v, datetime):
        return v.astimezone(UTC)
    return v


def normalise(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A truth row (or a nested object) in the warehouse's flattened, normalised form."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = prefix + NAMING.normalize_identifier(key)
        if isinstance(value, dict):
            out.update(normalise(value, name + "__"))
        elif isinstance(value, list):
            out[name] = [normalise(v) if isinstance(v, dict) else _value(v) for v in value]
        else:
            out[name] = _value(value)
    return out


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Drop nulls and empty lists (the warehouse cannot tell them from absent)."""
    return {k: ([_clean(i) if isinstance(i, dict) else i for i in v] if isinstance(v, list) else v)
            for k, v in row.items() if v is not None and v != []}


def truth_form(dataset: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        row = dict(row)
        for name in TEXT_FIELDS.get(dataset, ()):
            if name in row:
                row[name] = as_text(row[name])
        if dataset in DAY_FIELDS:
            row[DAY_FIELDS[dataset]] = parse_day(row[DAY_FIELDS[dataset]])
        out.append(_clean(normalise(row)))
    return out


def _fetch(con: Connection, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = con.execute(f'SELECT * FROM returning_raw."{table}"')
    return [d[0] for d in cur.description], cur.fetchall()


def warehouse_rows(con: Connection, table: str, where: str = "") -> list[dict[str, Any]]:
    """The table's rows with their child tables folded back in as lists (dlt columns dropped);
    [] when the table does not exist (dlt creates no table for an empty first load)."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'returning_raw'").fetchall()}
    if table not in tables:
        return []
    return [_strip(r) for r in _rows(con, table, tables, where)]


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    return {k: ([_strip(i) if isinstance(i, dict) else i for i in v] if isinstance(v, list) else _value(v))
            for k, v in row.items() if not k.startswith("_dlt_")}


def _parent(table: str, tables: set[str]) -> str | None:
    candidates = [t for t in tables if table.startswith(t + "__")]
    return max(candidates, key=len) if candidates else None


def _rows(con: Connection, table: str, tables: set[str], where: str = "") -> list[dict[str, Any]]:
    cur = con.execute(f'SELECT * FROM returning_raw."{table}" {where}')
    names = [d[0] for d in cur.description]
    records = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if "_dlt_list_idx" in names:
        records.sort(key=lambda r: r["_dlt_list_idx"])
    by_id = {r["_dlt_id"]: r for r in records if "_dlt_id" in r}
    for child in sorted(t for t in tables if _parent(t, tables) == table):
        field = child[len(table) + 2:]
        for r in records:
            r.setdefault(field, [])
        for item in _rows(con, child, tables):
            parent = by_id.get(item.get("_dlt_parent_id"))
            if parent is not None:
                data = {k: v for k, v in item.items() if not k.startswith("_dlt_")}
                parent[field].append(data["value"] if set(data) == {"value"} else item)
    return records


def compare(con: Connection, dataset: str, truth: list[dict[str, Any]],
            *, ignore: tuple[str, ...] = (), where: str = "") -> list[str]:
    """Differences between the warehouse table and the truth rows (empty when equal)."""
    key = KEYS.get(dataset, ("_id",))
    want = {tuple(r.get(k) for k in key): r for r in truth_form(dataset, truth)}
    got_rows = [_clean({k: v for k, v in r.items() if k not in ignore}) for r in warehouse_rows(con, dataset, where)]
    got: dict[tuple[Any, ...], dict[str, Any]] = {}
    problems: list[str] = []
    for r in got_rows:
        k = tuple(r.get(c) for c in key)
        if k in got:
            problems.append(f"{dataset}: duplicate key {k}")
        got[k] = r
    if len(want) != len(truth):
        problems.append(f"{dataset}: truth has duplicate keys")
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        problems.append(f"{dataset}: {len(missing)} rows missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{dataset}: {len(extra)} rows not in truth, e.g. {extra[:3]}")
    differing = [k for k in want if k in got and want[k] != got[k]]
    if differing:
        k = differing[0]
        a, b = want[k], got[k]
        diff = {c: (a.get(c), b.get(c)) for c in set(a) | set(b) if a.get(c) != b.get(c)}
        problems.append(f"{dataset}: {len(differing)} rows differ, e.g. {k}: (truth, warehouse) {diff}")
    return problems


def day(value: str) -> date:
    parsed = parse_day(value)
    assert parsed is not None
    return parsed
