"""Reliability helpers: compare a warehouse with the simulator's ground truth, and snapshot the
warehouse plus dlt's state so that a failed run can be proved to have changed nothing."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

from tests.simadmin import SimAdmin
from warehouse.connection import Connection, connect
from warehouse.location import WarehouseLocation

RAW = "returning_raw"
_naming = NamingConvention()
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
DMY = re.compile(r"^\d{2}/\d{2}/\d{4}$")

# dataset -> the truth field(s) that identify a row (warehouse column names follow dlt's snake_case)
KEYS: dict[str, tuple[str, ...]] = {
    "users": ("_id",),
    "user_fields": ("_id",),
    "user_field_histories": ("_id",),
    "gamification_daily": ("user_id", "date"),
    "gamification_logs": ("_id",),
    "activity_stats": ("user_id", "date"),
    "loyalty_overview": ("date",),
    "redemption_orders": ("transactionId",),
    "redemption_statuses": ("_id",),
    "redemption_status_history": ("_id",),
    "purchase_histories": ("_id",),
    "store_products": ("_id",),
    "store_categories": ("_id",),
    "store_config": ("_id",),
    "leaderboards": ("_id",),
    "streaks": ("_id",),
    "streak_logs": ("_id",),
    "tiers": ("name",),
}


def column(name: str) -> str:
    return _naming.normalize_identifier(name)


def norm(value: Any) -> Any:
    """One comparable form for a value as the API sends it and as the warehouse holds it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) if not (isinstance(value, float) and math.isnan(value)) else None
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        if ISO.match(value):
            return norm(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        if DMY.match(value):
            return dt.datetime.strptime(value, "%d/%m/%Y").date().isoformat()
        return value
    return value


def same(truth: Any, stored: Any) -> bool:
    if norm(truth) == norm(stored):
        return True
    # values of no fixed type are stored as JSON text (`5`, `true`, `{"a": 1}`)
    return isinstance(stored, str) and not isinstance(truth, str) and json.dumps(truth) == stored


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dlt flattens them (`status__name`); lists (child tables) left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}__{column(key)}" if prefix else column(key)
        if isinstance(value, dict):
            out.update(flat(value, name))
        elif not isinstance(value, list):
            out[name] = value
    return out


def table_rows(con: Connection, table: str, where: str = "") -> list[dict[str, Any]]:
    cur = con.execute(f'SELECT * FROM {RAW}."{table}" {where}')
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def has_table(con: Connection, schema: str, table: str) -> bool:
    n = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                    [schema, table]).fetchone()
    return bool(n and n[0])


def location_of(warehouse: Path | WarehouseLocation) -> WarehouseLocation:
    """A DuckDB file path, or any warehouse location (Postgres: see the `destination` fixture)."""
    return warehouse if isinstance(warehouse, WarehouseLocation) else WarehouseLocation(path=warehouse)


def diff_with_truth(warehouse: Path | WarehouseLocation, sim: SimAdmin, datasets: Iterable[str]) -> dict[str, list[str]]:
    """Per dataset, every difference between the warehouse table and the truth: missing, extra and
    duplicated keys and differing values ({} when the warehouse holds exactly the truth)."""
    problems: dict[str, list[str]] = {}
    con = connect(location_of(warehouse), read_only=True)
    try:
        for dataset in datasets:
            found: list[str] = []
            keys = KEYS[dataset]
            truth = [flat(r) for r in sim.truth_rows(dataset)]
            if not has_table(con, RAW, dataset):
                stored: list[dict[str, Any]] = []
            else:
                where = "WHERE is_deleted IS NOT TRUE" if dataset == "users" else ""
                stored = table_rows(con, dataset, where)
            kcols = [column(k) for k in keys]

            def key_of(row: dict[str, Any], kcols: list[str] = kcols) -> tuple[Any, ...]:
                return tuple(norm(row.get(k)) for k in kcols)

            counts = Counter(key_of(r) for r in stored)
            dupes = [k for k, n in counts.items() if n > 1]
            if dupes:
                found.append(f"{len(dupes)} duplicated keys, e.g. {dupes[:3]}")
            by_key = {key_of(r): r for r in stored}
            want = {key_of(r): r for r in truth}
            missing = sorted(set(want) - set(by_key), key=str)
            extra = sorted(set(by_key) - set(want), key=str)
            if missing:
                found.append(f"{len(missing)} missing rows, e.g. {missing[:3]}")
            if extra:
                found.append(f"{len(extra)} rows the API does not hold, e.g. {extra[:3]}")
            bad = []
            for key, row in want.items():
                have = by_key.get(key)
                if have is None:
                    continue
                for name, value in row.items():
                    if name not in have:
                        if value is not None:
                            bad.append(f"{key}: column {name} absent (truth {value!r})")
                    elif not same(value, have[name]):
                        bad.append(f"{key}: {name} = {have[name]!r}, truth {value!r}")
            if bad:
                found.append(f"{len(bad)} differing values, e.g. {bad[:3]}")
            if found:
                problems[dataset] = found
    finally:
        con.close()
    return problems


def snapshot(warehouse: Path) -> dict[str, Any]:
    """Every row of every table of every schema in the warehouse, plus dlt's local working state
    (state.json, schema, and any load package left pending): the 'before' to compare with."""
    out: dict[str, Any] = {"tables": {}, "dlt": {}}
    if warehouse.exists():
        con = connect(location_of(warehouse), read_only=True)
        try:
            tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                 "ORDER BY 1, 2").fetchall()
            for schema, table in tables:
                cur = con.execute(f'SELECT * FROM "{schema}"."{table}"')
                cols = [d[0] for d in cur.description]
                rows = sorted(tuple(repr(v) for v in r) for r in cur.fetchall())
                out["tables"][f"{schema}.{table}"] = (cols, rows)
        finally:
            con.close()
    pipelines = warehouse.parent / ".dlt" / "pipelines" / "returning_ai"
    state = pipelines / "state.json"
    if state.exists():
        data = json.loads(state.read_text())
        data.pop("_local", None)  # dlt's own bookkeeping of the last run (timestamps, not cursors)
        out["dlt"]["state"] = data
    out["dlt"]["pending"] = pending_packages(warehouse)
    return out


def pending_packages(warehouse: Path | WarehouseLocation) -> list[str]:
    """Load packages dlt has not finished (extracted, normalized or loading): a next run loads them."""
    root = location_of(warehouse).pipelines_dir / "returning_ai"
    found = []
    for sub in ("normalize/extracted", "load/new", "load/normalized", "load/loading"):
        d = root / sub
        if d.is_dir():
            # packages are folders; a SIGKILL between dlt's copy and rename of an atomic file write
            # can leave a stray temp file (16 hex chars) that dlt never lists as a package
            found += [f"{sub}/{p.name}" for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found)


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(before["tables"]) | set(after["tables"])):
        b, a = before["tables"].get(name), after["tables"].get(name)
        if b != a:
            if b is None or a is None:
                out.append(f"{name}: {'created' if b is None else 'dropped'}")
            else:
                out.append(f"{name}: {len(b[1])} -> {len(a[1])} rows" + (", columns changed" if b[0] != a[0] else ""))
    if before["dlt"].get("state") != after["dlt"].get("state"):
        out.append("dlt state.json changed")
    if before["dlt"]["pending"] != after["dlt"]["pending"]:
        out.append(f"pending load packages {before['dlt']['pending']} -> {after['dlt']['pending']}")
    return out
