"""The push ledger in the warehouse (schema `reverse_etl`): what was sent, what the server did with it.

- `pushes`      one row per run that was not a dry run (normally one upload); job id, state, counts.
- `push_rows`   one row per data row of the upload (plus rows rejected before sending or given up).
- `push_ledger` one row per push key: a delta key (definition|email|period) is applied at most once,
                ever; an overwrite key (definition|email) holds the last values the server confirmed.
- `push_claims` one row per definition while one of its uploads is open: the run's claim.

Ledger status: `in_flight` (in an upload whose outcome is not recorded yet), `applied`, `failed`
(retried by later runs), `given_up` (retries used up), `unsent` (its upload never reached the server),
`accepted` (in an upload the server accepted when the API serves no bulk-jobs list to confirm it: kept
claimed, like `applied`, never sent again), `unknown` (a per-row message whose answer was lost and that
Get Messages did not show yet: looked for again before anything is sent, see `rowledger`; or a CSV
delta whose upload's answer was lost with no bulk-jobs list to settle it: never re-sent until a person
settles it with `push NAME --release` or `--confirm`).

Exactly once rests on the warehouse's own constraints, on every destination: a run first inserts its
definition's claim (primary key `definition`), and only then reads the ledger, plans and records its
push, all in one transaction. A second run's insert fails on the key (`WarehouseConflict`; on Postgres
it first waits for the holder's transaction), so it never plans keys another run is sending, and a run
that claims after an earlier one finished reads that run's committed results. The claim goes in the
same transaction that moves its push out of the open states. Moving a push out of an open state is
itself conditional (`... WHERE state IN open RETURNING`), so of two processes settling the same upload
one records it and the other records nothing. Every change that precedes an upload is committed
before the upload starts.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from warehouse.connection import Connection, WarehouseConflict, WarehouseQueryError
from warehouse.location import PUSH_SCHEMA, WarehouseLocation

SCHEMA = PUSH_SCHEMA
OPEN_STATES = ("uploading", "queued", "processing", "sending")  # sending: a per-row push (rowledger)
TERMINAL_JOB_STATES = ("completed", "completed_with_errors", "failed")
CHUNK = 400  # rows per multi-row INSERT / keys per IN list

# table -> (columns, constraint); the SQL is DuckDB's dialect, transpiled for other destinations
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "pushes": ((
        ("push_id", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("target", "VARCHAR"),
        ("file_name", "VARCHAR"), ("csv_path", "VARCHAR"), ("state", "VARCHAR"), ("job_id", "VARCHAR"),
        ("job_status", "VARCHAR"), ("total_rows", "INTEGER"), ("invalid_rows", "INTEGER"),
        ("changed_rows", "INTEGER"), ("sent_rows", "INTEGER"), ("success_rows", "INTEGER"),
        ("failed_rows", "INTEGER"), ("skipped_rows", "INTEGER"), ("given_up_rows", "INTEGER"),
        ("warnings", "INTEGER"), ("error", "VARCHAR"), ("created_at", "TIMESTAMP"),
        ("uploaded_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("updated_at", "TIMESTAMP"),
        ("owner", "VARCHAR"),  # host:pid of the process that uploads it
    ), "PRIMARY KEY (push_id)"),
    "push_rows": ((
        ("push_id", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("row_number", "INTEGER"),
        ("email", "VARCHAR"), ("period", "VARCHAR"), ("push_keys", "VARCHAR"), ("values_json", "VARCHAR"),
        ("result", "VARCHAR"), ("error", "VARCHAR"), ("warning", "VARCHAR"), ("attempt", "INTEGER"),
        ("updated_at", "TIMESTAMP"),
    ), "UNIQUE (push_id, row_number)"),  # sent rows are unique per upload; unsent rows have no number
    "push_ledger": ((
        ("push_key", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("email", "VARCHAR"),
        ("period", "VARCHAR"), ("kind", "VARCHAR"), ("status", "VARCHAR"), ("applied_values", "VARCHAR"),
        ("attempt_values", "VARCHAR"), ("attempts", "INTEGER"), ("last_push_id", "VARCHAR"),
        ("last_error", "VARCHAR"), ("updated_at", "TIMESTAMP"),
    ), "PRIMARY KEY (push_key)"),
    "push_claims": ((
        ("definition", "VARCHAR NOT NULL"), ("push_id", "VARCHAR NOT NULL"), ("owner", "VARCHAR"),
        ("claimed_at", "TIMESTAMP"),
    ), "PRIMARY KEY (definition)"),
}
# the key an old table (created before the constraints) is deduplicated on when it is rebuilt
DEDUPE = {"pushes": "push_id", "push_ledger": "push_key", "push_claims": "definition"}


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


class ClaimTaken(Exception):
    """Another run of this definition holds its claim (an upload of it is open or being recorded)."""


# -- connections ----------------------------------------------------------------------------------

def port(con: Any) -> Connection:
    """`con` as a warehouse-port connection (callers that still hold a DuckDB connection pass it)."""
    return con if isinstance(con, Connection) else Connection(WarehouseLocation(), con)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(con: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Multi-row INSERTs of `rows` (a primary key taken raises WarehouseConflict)."""
    one = "(" + ", ".join("?" for _ in columns) + ")"
    for chunk in _chunks(rows):
        con.execute(f"INSERT INTO {SCHEMA}.{table} ({', '.join(columns)}) VALUES {', '.join(one for _ in chunk)}",
                    [v for row in chunk for v in row])


# -- schema ---------------------------------------------------------------------------------------

def _create_sql(table: str, name: str | None = None) -> str:
    columns, constraint = TABLES[table]
    body = ", ".join(f"{c} {t}" for c, t in columns)
    return f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name or table} ({body}, {constraint})"


def _constrained(con: Connection) -> set[str]:
    return {str(r[0]) for r in con.fetchall(
        "SELECT DISTINCT table_name FROM information_schema.table_constraints WHERE table_schema = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')", [SCHEMA])}


def ensure_schema(con: Any, attempts: int = 5) -> None:
    """Create the ledger's tables with their keys; rebuild tables an older version made without keys.
    Two processes creating them at once may collide on the server's catalog: retried."""
    con = port(con)
    for attempt in range(attempts):
        try:
            _ensure(con)
            return
        except WarehouseQueryError:
            if attempt + 1 >= attempts:
                raise
            time.sleep(0.1 * (attempt + 1))


def _ensure(con: Connection) -> None:
    if _constrained(con) >= set(TABLES):
        return
    existing = set(con.tables(SCHEMA))
    with con.transaction():
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for table in TABLES:
            if table not in existing:
                con.execute(_create_sql(table))
    old = [t for t in TABLES if t in existing and t not in _constrained(con)]
    for table in old:
        _rebuild(con, table)
    if "push_claims" not in existing and "pushes" in existing:
        _claim_open_pushes(con)


def _rebuild(con: Connection, table: str) -> None:
    """Copy a table made without keys into one with them (missing columns NULL, duplicate keys dropped)."""
    have = {c for c, _ in con.columns(SCHEMA, table)}
    columns = [c for c, _ in TABLES[table][0]]
    types = dict(TABLES[table][0])
    select = ", ".join(c if c in have else f"CAST(NULL AS {types[c].split()[0]}) AS {c}" for c in columns)
    if table == "push_rows":  # only numbered rows are unique per upload
        key, keep = "push_id, row_number", "row_number IS NULL OR _n = 1"
    else:
        key, keep = DEDUPE[table], "_n = 1"
    order = "updated_at DESC" if "updated_at" in have else key
    first = columns[0]
    staged = f"{table}__keyed"
    with con.transaction():
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{staged}")
        con.execute(_create_sql(table, staged))
        con.execute(
            f"INSERT INTO {SCHEMA}.{staged} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM "
            f"(SELECT {select}, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS _n "
            f"FROM {SCHEMA}.{table} WHERE {first} IS NOT NULL) AS t WHERE {keep}")
        con.execute(f"DROP TABLE {SCHEMA}.{table}")
        con.execute(f"ALTER TABLE {SCHEMA}.{staged} RENAME TO {table}")


def _claim_open_pushes(con: Connection) -> None:
    """A ledger from before claims: each definition with an open upload gets its claim."""
    with suppress(WarehouseConflict):  # another process did it
        con.execute(
            f"""INSERT INTO {SCHEMA}.push_claims (definition, push_id, owner, claimed_at)
                SELECT definition, min(push_id), CAST(NULL AS VARCHAR), min(created_at) FROM {SCHEMA}.pushes
                WHERE state IN ? AND definition NOT IN (SELECT definition FROM {SCHEMA}.push_claims)
                GROUP BY definition""", [OPEN_STATES])


def has_schema(con: Any) -> bool:
    return port(con).table_exists(SCHEMA, "push_ledger")


# -- reading --------------------------------------------------------------------------------------

def _loads(text: str | None) -> dict[str, str] | None:
    return json.loads(text) if text else None


def dumps(values: dict[str, str] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, ensure_ascii=False)


def load_entries(con: Any, definition: str) -> dict[str, LedgerEntry]:
    con = port(con)
    if not has_schema(con):
        return {}
    rows = con.fetchall(
        f"""SELECT push_key, kind, status, applied_values, attempt_values, attempts, last_push_id, last_error
            FROM {SCHEMA}.push_ledger WHERE definition = ?""",
        [definition],
    )
    return {
        r[0]: LedgerEntry(r[0], r[1], r[2], _loads(r[3]), _loads(r[4]), int(r[5] or 0), r[6], r[7])
        for r in rows
    }


def open_pushes(con: Any, definition: str | None = None) -> list[dict[str, Any]]:
    """Uploads whose outcome is not recorded yet, oldest first."""
    con = port(con)
    if not has_schema(con):
        return []
    sql = f"SELECT * FROM {SCHEMA}.pushes WHERE state IN ?"
    params: list[Any] = [OPEN_STATES]
    if definition:
        sql += " AND definition = ?"
        params.append(definition)
    return con.dicts(sql + " ORDER BY created_at", params)


def stale_pushes(con: Any, definition: str, minutes: float) -> list[dict[str, Any]]:
    """Uploads of `definition` still not terminal `minutes` after they were created."""
    con = port(con)
    if not has_schema(con):
        return []
    cutoff = now() - dt.timedelta(minutes=minutes)
    return con.dicts(
        f"""SELECT push_id, job_id, state, created_at FROM {SCHEMA}.pushes
            WHERE definition = ? AND state IN ? AND created_at < ? ORDER BY created_at""",
        [definition, OPEN_STATES, cutoff],
    )


def last_runs(con: Any) -> dict[str, dict[str, Any]]:
    """definition -> its latest push row."""
    con = port(con)
    if not has_schema(con):
        return {}
    rows = con.dicts(
        f"""SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY definition ORDER BY created_at DESC) AS _latest
            FROM {SCHEMA}.pushes) AS p WHERE _latest = 1""")
    return {r["definition"]: {k: v for k, v in r.items() if k != "_latest"} for r in rows}


def push_counts(con: Any, push_id: str) -> dict[str, int]:
    row = port(con).fetchone(
        f"SELECT success_rows, failed_rows, skipped_rows, given_up_rows FROM {SCHEMA}.pushes WHERE push_id = ?",
        [push_id])
    names = ("success_rows", "failed_rows", "skipped_rows", "given_up_rows")
    return {n: int(v or 0) for n, v in zip(names, row or (0, 0, 0, 0), strict=True)}


# -- the claim ------------------------------------------------------------------------------------

def claim(con: Connection, definition: str, push_id: str, owner: str) -> None:
    """Insert `definition`'s claim for `push_id` inside the caller's transaction; ClaimTaken when
    another run holds it (the caller's transaction is then aborted: roll it back)."""
    try:
        _insert(con, "push_claims", ("definition", "push_id", "owner", "claimed_at"),
                [(definition, push_id, owner, now())])
    except WarehouseConflict:
        raise ClaimTaken(definition) from None
    if open_pushes(con, definition):  # an open upload from a ledger older than claims
        raise ClaimTaken(definition)


def drop_orphan_claim(con: Connection, definition: str) -> bool:
    """Remove `definition`'s claim when its push is not open (left by hand edits); True if removed."""
    gone = con.fetchall(
        f"""DELETE FROM {SCHEMA}.push_claims WHERE definition = ? AND push_id NOT IN
            (SELECT push_id FROM {SCHEMA}.pushes WHERE state IN ?) RETURNING push_id""",
        [definition, OPEN_STATES])
    return bool(gone)


def _release_claim(con: Connection, push_id: str) -> None:
    con.execute(f"DELETE FROM {SCHEMA}.push_claims WHERE push_id = ?", [push_id])


def _take_open(con: Connection, push_id: str) -> bool:
    """Lock `push_id`'s row if it is still open (inside a transaction); False when another process
    already moved it on. On Postgres a concurrent taker waits here, then finds it no longer open."""
    return bool(con.fetchall(
        f"UPDATE {SCHEMA}.pushes SET updated_at = ? WHERE push_id = ? AND state IN ? RETURNING push_id",
        [now(), push_id, OPEN_STATES]))


# -- writing --------------------------------------------------------------------------------------

def record_push(con: Connection, push: dict[str, Any], rows: Sequence[PlannedRow], definition: str,
                entries: dict[str, LedgerEntry]) -> None:
    """Record a run inside the caller's transaction (the one that holds its claim): the push, its
    rows, and every carried key as in flight. `entries`: the ledger as read in that transaction."""
    ts = now()
    cols = list(push)
    _insert(con, "pushes", [*cols, "created_at", "updated_at"], [[push[c] for c in cols] + [ts, ts]])
    push_id = push["push_id"]
    _insert(con, "push_rows", [c for c, _ in TABLES["push_rows"][0]], [
        (push_id, definition, r.row_number, r.email, r.period, json.dumps([k.push_key for k in r.keys]),
         json.dumps(r.values, default=str, ensure_ascii=False), r.result, r.error, r.warning, None, ts)
        for r in rows])
    keys = [k for r in rows if r.result == "pending" for k in r.keys]
    known = [k for k in keys if k.push_key in entries]
    # keys seen before: rewritten whole (their applied values kept); new ones: inserted, and a key
    # another run inserted meanwhile fails here on the primary key
    for chunk in _chunks([k.push_key for k in known]):
        con.execute(f"DELETE FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])
    ledger_rows = []
    for k in keys:
        values = dumps(k.values)
        entry = entries.get(k.push_key)
        applied = dumps(entry.applied_values) if entry else None
        attempts = (entry.attempts if dumps(entry.attempt_values) == values else 0) if entry else 0
        last_error = entry.last_error if entry else None
        ledger_rows.append((k.push_key, definition, k.email, k.period, k.kind, "in_flight", applied, values,
                            attempts, push_id, last_error, ts))
    _insert(con, "push_ledger", [c for c, _ in TABLES["push_ledger"][0]], ledger_rows)
    if push.get("state") not in OPEN_STATES:
        _release_claim(con, push_id)  # nothing to upload: the claim ends with this transaction


def update_push(con: Any, push_id: str, **fields: Any) -> None:
    """Update an open push (a push another process already recorded is left as it is)."""
    fields["updated_at"] = now()
    sets = ", ".join(f"{k} = ?" for k in fields)
    port(con).execute(f"UPDATE {SCHEMA}.pushes SET {sets} WHERE push_id = ? AND state IN ?",
                      [*fields.values(), push_id, OPEN_STATES])


def release_push(con: Any, push_id: str, error: str) -> bool:
    """The upload never reached the server: its keys go back to be sent by a later run and its claim
    ends. False when another process settled it first."""
    con = port(con)
    ts = now()
    with con.transaction():
        if not _take_open(con, push_id):
            return False
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
        _release_claim(con, push_id)
    return True


def record_results(
    con: Any,
    push_id: str,
    results: dict[int, tuple[str, str | None]],
    retries: int,
    job: dict[str, Any],
) -> dict[str, int]:
    """Apply a finished job's per-row results (row_number -> (status, error)); return counts. When
    another process recorded the job first, nothing changes and its counts are returned."""
    con = port(con)
    ts = now()
    counts = {"success_rows": 0, "failed_rows": 0, "skipped_rows": 0, "given_up_rows": 0}
    con.begin()
    try:
        if not _take_open(con, push_id):  # another process recorded it first
            con.rollback()
            return push_counts(con, push_id)
        sent = con.fetchall(
            f"SELECT row_number, push_keys FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending' "
            f"ORDER BY row_number",
            [push_id],
        )
        outcome = {int(n): (json.loads(keys), *results.get(int(n), ("failed", "no per-row result reported")))
                   for n, keys in sent}
        applied = [k for keys, status, _ in outcome.values() if status == "success" for k in keys]
        for chunk in _chunks(applied):
            con.execute(
                f"""UPDATE {SCHEMA}.push_ledger SET status = 'applied', applied_values = attempt_values,
                    attempts = 0, last_error = NULL, updated_at = ? WHERE push_key IN ?""",
                [ts, list(chunk)],
            )
        by_error: dict[str, list[str]] = {}
        for keys, status, error in outcome.values():
            if status != "success":
                by_error.setdefault(error or status, []).extend(keys)
        for error, keys in by_error.items():
            for chunk in _chunks(keys):
                con.execute(
                    f"""UPDATE {SCHEMA}.push_ledger SET attempts = coalesce(attempts, 0) + 1,
                        status = CASE WHEN coalesce(attempts, 0) + 1 > ? THEN 'given_up' ELSE 'failed' END,
                        last_error = ?, updated_at = ? WHERE push_key IN ?""",
                    [retries, error, ts, list(chunk)],
                )
        failed_keys = [k for keys in by_error.values() for k in keys]
        state: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(failed_keys):
            state.update({str(k): (int(a or 0), str(s)) for k, a, s in con.fetchall(
                f"SELECT push_key, attempts, status FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])})
        row_updates: dict[tuple[str, str | None, int | None], list[int]] = {}
        for n, (keys, status, error) in outcome.items():
            if status == "success":
                counts["success_rows"] += 1
                row_updates.setdefault(("success", None, None), []).append(n)
                continue
            counts["skipped_rows" if status == "skipped" else "failed_rows"] += 1
            attempt = state[keys[-1]][0] if keys and keys[-1] in state else 1
            if any(state.get(k, (0, ""))[1] == "given_up" for k in keys):
                counts["given_up_rows"] += 1
            result = "skipped" if status == "skipped" else "failed"
            row_updates.setdefault((result, error or status, attempt), []).append(n)
        for (result, error, attempt), numbers in row_updates.items():
            for chunk in _chunks(numbers):
                con.execute(
                    f"""UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, attempt = ?, updated_at = ?
                        WHERE push_id = ? AND row_number IN ?""",
                    [result, error, attempt, ts, push_id, list(chunk)],
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
        _release_claim(con, push_id)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return counts


def sent_row_numbers(con: Any, push_id: str) -> list[int]:
    """CSV row numbers of `push_id` whose outcome is not recorded yet."""
    return [int(r[0]) for r in port(con).fetchall(
        f"SELECT row_number FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending' ORDER BY row_number",
        [push_id])]



UNTRACKED_STATES = ("accepted", "unknown")  # CSV pushes the API gave no job status for (no bulk-jobs list)


def record_accepted(con: Any, push_id: str, reason: str, job_id: str | None = None) -> bool:
    """The server accepted the upload of `push_id` but serves no job status: its rows are
    `unconfirmed` with `reason`, its keys stay claimed (`accepted`, the values sent taken as the last
    confirmed ones) and its claim ends. False when another process settled it first."""
    con = port(con)
    ts = now()
    with con.transaction():
        if not _take_open(con, push_id):
            return False
        n = con.fetchone(f"SELECT count(*) FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending'",
                         [push_id])
        update_push(con, push_id, state="accepted", job_id=job_id, error=reason, finished_at=ts,
                    uploaded_at=ts, success_rows=0, failed_rows=0, skipped_rows=0)
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = 'unconfirmed', error = ?, updated_at = ? "
                    f"WHERE push_id = ? AND result = 'pending'", [reason, ts, push_id])
        con.execute(f"UPDATE {SCHEMA}.push_ledger SET status = 'accepted', applied_values = attempt_values, "
                    f"attempts = 0, last_error = ?, updated_at = ? WHERE last_push_id = ? AND status = 'in_flight'",
                    [reason, ts, push_id])
        _release_claim(con, push_id)
    return bool(n and n[0])


def mark_unknown(con: Any, push_id: str, reason: str) -> bool:
    """The outcome of `push_id`'s upload cannot be settled (its answer lost, no bulk-jobs list): its
    rows and keys become `unknown` (never sent again until a person settles them, `settle_by_hand`)
    and its claim ends. False when another process settled it first."""
    con = port(con)
    ts = now()
    with con.transaction():
        if not _take_open(con, push_id):
            return False
        update_push(con, push_id, state="unknown", error=reason, finished_at=ts)
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = 'unknown', error = ?, updated_at = ? "
                    f"WHERE push_id = ? AND result = 'pending'", [reason, ts, push_id])
        con.execute(f"UPDATE {SCHEMA}.push_ledger SET status = 'unknown', last_error = ?, updated_at = ? "
                    f"WHERE last_push_id = ? AND status = 'in_flight'", [reason, ts, push_id])
        _release_claim(con, push_id)
    return True


def settle_by_hand(con: Any, push_id: str, landed: bool) -> int:
    """A person checked the community's Api Log for the upload of `push_id` (state `unknown`):
    `landed` marks its unknown keys applied (rows `success`), otherwise releases them (`unsent`,
    rows `not_sent`) for the next run to send. Returns the number of keys changed; 0 when the push
    is not `unknown` or has no unknown keys left."""
    con = port(con)
    ts = now()
    status, result = ("applied", "success") if landed else ("unsent", "not_sent")
    note = "confirmed by hand (push --confirm)" if landed else "released by hand (push --release)"
    with con.transaction():
        row = con.fetchone(f"SELECT state FROM {SCHEMA}.pushes WHERE push_id = ?", [push_id])
        if not row or row[0] != "unknown":
            return 0
        keys = con.fetchall(
            f"UPDATE {SCHEMA}.push_ledger SET status = ?, "
            + ("applied_values = attempt_values, attempts = 0, " if landed else "")
            + "last_error = ?, updated_at = ? WHERE last_push_id = ? AND status = 'unknown' RETURNING push_key",
            [status, note, ts, push_id])
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, updated_at = ? "
                    f"WHERE push_id = ? AND result = 'unknown'", [result, note, ts, push_id])
        con.execute(f"UPDATE {SCHEMA}.pushes SET state = ?, error = ?, updated_at = ? WHERE push_id = ?",
                    ["confirmed" if landed else "released", note, ts, push_id])
    return len(keys)


def unknown_pushes(con: Any, definition: str) -> list[str]:
    """`definition`'s uploads whose outcome nobody could settle (state `unknown`), oldest first."""
    con = port(con)
    if not has_schema(con):
        return []
    return [str(r[0]) for r in con.fetchall(
        f"SELECT push_id FROM {SCHEMA}.pushes WHERE definition = ? AND state = 'unknown' ORDER BY created_at",
        [definition])]
