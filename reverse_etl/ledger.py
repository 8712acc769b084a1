"""The push ledger in the warehouse (schema `reverse_etl`): what was sent, what the server did with it.

- `pushes`      one row per run that was not a dry run (normally one upload); job id, state, counts.
- `push_rows`   one row per data row of the upload (plus rows rejected before sending or given up).
- `push_ledger` one row per push key: a delta key (definition|email|period) is applied at most once,
                ever; an overwrite key (definition|email) holds the last values the server confirmed.

Ledger status: `in_flight` (in an upload whose outcome is not recorded yet), `applied`, `failed`
(retried by later runs), `given_up` (retries used up), `unsent` (its upload never reached the server).
Every change that precedes an upload is committed before the upload starts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

SCHEMA = "reverse_etl"
OPEN_STATES = ("uploading", "queued", "processing")
TERMINAL_JOB_STATES = ("completed", "completed_with_errors", "failed")

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.pushes (
    push_id VARCHAR, definition VARCHAR, target VARCHAR, file_name VARCHAR, csv_path VARCHAR,
    state VARCHAR, job_id VARCHAR, job_status VARCHAR,
    total_rows INTEGER, invalid_rows INTEGER, changed_rows INTEGER, sent_rows INTEGER,
    success_rows INTEGER, failed_rows INTEGER, skipped_rows INTEGER, given_up_rows INTEGER,
    warnings INTEGER, error VARCHAR,
    created_at TIMESTAMP, uploaded_at TIMESTAMP, finished_at TIMESTAMP, updated_at TIMESTAMP,
    owner VARCHAR  -- host:pid of the process that uploads it
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.push_rows (
    push_id VARCHAR, definition VARCHAR, row_number INTEGER, email VARCHAR, period VARCHAR,
    push_keys VARCHAR, values_json VARCHAR, result VARCHAR, error VARCHAR, warning VARCHAR,
    attempt INTEGER, updated_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.push_ledger (
    push_key VARCHAR, definition VARCHAR, email VARCHAR, period VARCHAR, kind VARCHAR,
    status VARCHAR, applied_values VARCHAR, attempt_values VARCHAR, attempts INTEGER,
    last_push_id VARCHAR, last_error VARCHAR, updated_at TIMESTAMP
);
"""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class LedgerEntry:
    push_key: str
    kind: str  # "delta" | "overwrite"
    status: str
    applied_values: dict[str, str] | None
    attempt_values: dict[str, str] | None
    attempts: int
    last_push_id: str | None = None
    last_error: str | None = None


@dataclass
class PlannedKey:
    """A ledger key an upload carries, with the values it sends for that key."""

    push_key: str
    kind: str
    email: str
    period: str | None
    values: dict[str, str]


@dataclass
class PlannedRow:
    row_number: int | None  # 1-based data row of the CSV; None when not sent
    email: str
    period: str | None
    values: dict[str, Any]
    keys: list[PlannedKey]
    result: str  # pending | invalid | given_up
    error: str | None = None
    warning: str | None = None


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    con.execute(f"ALTER TABLE {SCHEMA}.pushes ADD COLUMN IF NOT EXISTS owner VARCHAR")


def has_schema(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'push_ledger'",
        [SCHEMA],
    ).fetchone()
    return bool(row and row[0])


def _loads(text: str | None) -> dict[str, str] | None:
    return json.loads(text) if text else None


def dumps(values: dict[str, str] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, ensure_ascii=False)


def load_entries(con: duckdb.DuckDBPyConnection, definition: str) -> dict[str, LedgerEntry]:
    if not has_schema(con):
        return {}
    rows = con.execute(
        f"""SELECT push_key, kind, status, applied_values, attempt_values, attempts, last_push_id, last_error
            FROM {SCHEMA}.push_ledger WHERE definition = ?""",
        [definition],
    ).fetchall()
    return {
        r[0]: LedgerEntry(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), int(r[5] or 0), r[6], r[7])
        for r in rows
    }


def open_pushes(con: duckdb.DuckDBPyConnection, definition: str | None = None) -> list[dict[str, Any]]:
    """Uploads whose outcome is not recorded yet, oldest first."""
    if not has_schema(con):
        return []
    sql = f"SELECT * FROM {SCHEMA}.pushes WHERE state IN {OPEN_STATES}"
    params: list[Any] = []
    if definition:
        sql += " AND definition = ?"
        params.append(definition)
    cur = con.execute(sql + " ORDER BY created_at", params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def stale_pushes(con: duckdb.DuckDBPyConnection, definition: str, minutes: float) -> list[dict[str, Any]]:
    """Uploads of `definition` still not terminal `minutes` after they were created."""
    if not has_schema(con):
        return []
    cutoff = now() - dt.timedelta(minutes=minutes)
    cur = con.execute(
        f"""SELECT push_id, job_id, state, created_at FROM {SCHEMA}.pushes
            WHERE definition = ? AND state IN {OPEN_STATES} AND created_at < ? ORDER BY created_at""",
        [definition, cutoff],
    )
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def last_runs(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """definition -> its latest push row."""
    if not has_schema(con):
        return {}
    cur = con.execute(
        f"""SELECT * FROM {SCHEMA}.pushes
            QUALIFY row_number() OVER (PARTITION BY definition ORDER BY created_at DESC) = 1"""
    )
    cols = [c[0] for c in cur.description]
    return {r[1]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def create_push(
    con: duckdb.DuckDBPyConnection, push: dict[str, Any], rows: Sequence[PlannedRow], definition: str
) -> None:
    """Record a run before its upload starts: the push, its rows, and every carried key as in flight."""
    ts = now()
    con.begin()
    try:
        cols = list(push)
        con.execute(
            f"INSERT INTO {SCHEMA}.pushes ({', '.join(cols)}, created_at, updated_at) "
            f"VALUES ({', '.join('?' for _ in cols)}, ?, ?)",
            [push[c] for c in cols] + [ts, ts],
        )
        for r in rows:
            con.execute(
                f"INSERT INTO {SCHEMA}.push_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [push["push_id"], definition, r.row_number, r.email, r.period,
                 json.dumps([k.push_key for k in r.keys]), json.dumps(r.values, default=str, ensure_ascii=False),
                 r.result, r.error, r.warning, None, ts],
            )
            if r.result != "pending":
                continue
            for k in r.keys:
                _mark_in_flight(con, k, definition, push["push_id"], ts)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _mark_in_flight(con: duckdb.DuckDBPyConnection, k: PlannedKey, definition: str, push_id: str,
                    ts: dt.datetime) -> None:
    row = con.execute(
        f"SELECT attempt_values, attempts FROM {SCHEMA}.push_ledger WHERE push_key = ?", [k.push_key]
    ).fetchone()
    values = dumps(k.values)
    if row is None:
        con.execute(
            f"INSERT INTO {SCHEMA}.push_ledger VALUES (?, ?, ?, ?, ?, 'in_flight', NULL, ?, 0, ?, NULL, ?)",
            [k.push_key, definition, k.email, k.period, k.kind, values, push_id, ts],
        )
        return
    attempts = int(row[1] or 0) if row[0] == values else 0  # new values: a fresh set of attempts
    con.execute(
        f"""UPDATE {SCHEMA}.push_ledger SET status = 'in_flight', attempt_values = ?, attempts = ?,
            last_push_id = ?, updated_at = ? WHERE push_key = ?""",
        [values, attempts, push_id, ts, k.push_key],
    )


def update_push(con: duckdb.DuckDBPyConnection, push_id: str, **fields: Any) -> None:
    fields["updated_at"] = now()
    sets = ", ".join(f"{k} = ?" for k in fields)
    con.execute(f"UPDATE {SCHEMA}.pushes SET {sets} WHERE push_id = ?", [*fields.values(), push_id])


def release_push(con: duckdb.DuckDBPyConnection, push_id: str, error: str) -> None:
    """The upload never reached the server: its keys go back to be sent by a later run."""
    ts = now()
    con.begin()
    try:
        update_push(con, push_id, state="not_received", error=error, finished_at=ts)
        con.execute(
            f"UPDATE {SCHEMA}.push_rows SET result = 'not_sent', error = ?, updated_at = ? "
            f"WHERE push_id = ? AND result = 'pending'",
            [error, ts, push_id],
        )
        con.execute(
            f"UPDATE {SCHEMA}.push_ledger SET status = 'unsent', last_error = ?, updated_at = ? "
            f"WHERE last_push_id = ? AND status = 'in_flight'",
            [error, ts, push_id],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def record_results(
    con: duckdb.DuckDBPyConnection,
    push_id: str,
    results: dict[int, tuple[str, str | None]],
    retries: int,
    job: dict[str, Any],
) -> dict[str, int]:
    """Apply a finished job's per-row results (row_number -> (status, error)); return counts."""
    ts = now()
    counts = {"success_rows": 0, "failed_rows": 0, "skipped_rows": 0, "given_up_rows": 0}
    con.begin()
    try:
        sent = con.execute(
            f"SELECT row_number, push_keys FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending' "
            f"ORDER BY row_number",
            [push_id],
        ).fetchall()
        state = con.execute(f"SELECT state FROM {SCHEMA}.pushes WHERE push_id = ?", [push_id]).fetchone()
        if not state or state[0] not in OPEN_STATES:  # another process recorded it first
            con.rollback()
            return counts
        for row_number, keys_json in sent:
            status, error = results.get(int(row_number), ("failed", "no per-row result reported"))
            keys: Iterable[str] = json.loads(keys_json)
            if status == "success":
                counts["success_rows"] += 1
                result, attempt = "success", None
                for key in keys:
                    con.execute(
                        f"""UPDATE {SCHEMA}.push_ledger SET status = 'applied', applied_values = attempt_values,
                            attempts = 0, last_error = NULL, updated_at = ? WHERE push_key = ?""",
                        [ts, key],
                    )
            else:
                counts["skipped_rows" if status == "skipped" else "failed_rows"] += 1
                error = error or status
                attempt = 0
                gave_up = False
                for key in keys:
                    row = con.execute(
                        f"SELECT attempts FROM {SCHEMA}.push_ledger WHERE push_key = ?", [key]
                    ).fetchone()
                    attempt = int(row[0] or 0) + 1 if row else 1
                    new_status = "given_up" if attempt > retries else "failed"
                    gave_up = gave_up or new_status == "given_up"
                    con.execute(
                        f"""UPDATE {SCHEMA}.push_ledger SET status = ?, attempts = ?, last_error = ?,
                            updated_at = ? WHERE push_key = ?""",
                        [new_status, attempt, error, ts, key],
                    )
                result = "skipped" if status == "skipped" else "failed"
                if gave_up:
                    counts["given_up_rows"] += 1
            con.execute(
                f"""UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, attempt = ?, updated_at = ?
                    WHERE push_id = ? AND row_number = ?""",
                [result, error if result != "success" else None, attempt, ts, push_id, row_number],
            )
        update_push(
            con, push_id, state=job.get("status"), job_status=job.get("status"), finished_at=ts,
            success_rows=counts["success_rows"], failed_rows=counts["failed_rows"],
            skipped_rows=counts["skipped_rows"],
        )
        con.execute(
            f"UPDATE {SCHEMA}.pushes SET given_up_rows = coalesce(given_up_rows, 0) + ? WHERE push_id = ?",
            [counts["given_up_rows"], push_id],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return counts
