"""The push ledger's data: what each push sent and what the server did with it (tables: `schema`).

Key states (`KeyState`): `in_flight` (in a push whose outcome is not recorded yet), `applied`, `failed`
(retried by later runs), `given_up` (retries used up), `unsent` (its push never reached the server),
`accepted` (in an upload the server accepted when the API serves no bulk-jobs list to confirm it: kept
claimed, like `applied`, never sent again), `unknown` (a per-row message whose answer was lost and that
Get Messages did not show yet: looked for again before anything is sent; or a CSV delta whose upload's
answer was lost with no bulk-jobs list to settle it: never re-sent until a person settles it with
`push NAME --release` or `--confirm`).

Exactly once rests on the warehouse's own constraints, on every destination: a run first inserts its
definition's claim (primary key `definition`), and only then reads the ledger, plans and records its
push, all in one transaction. A second run's insert fails on the key (`WarehouseConflict`; on Postgres
it first waits for the holder's transaction), so it never plans keys another run is sending, and a run
that claims after an earlier one finished reads that run's committed results. The claim ends in the
same transaction that moves its push out of the open states. Moving a push out of an open state is
itself conditional (`... WHERE state IN open RETURNING`), so of two processes settling the same push
one records it and the other records nothing. Every change that precedes a send is committed before
the send starts.

Per-row pushes (message, redemption_status, purchase_history) are recorded like an upload: the push in
state `sending`, its rows `pending`, every key `in_flight`. Each answer is recorded as it comes
(`record_outcomes`, in batches) while the push is still open, and `finish_push` ends it and its claim.
An `Outcome`'s status: `success` (key `applied`), `failed` (a definite refusal: retried up to the
definition's `retries`, then `given_up`), `unsent` (it never reached the server: sendable again, no
attempt counted), `refused` (the server refused the key, not the row: never counted as sent, its key
sendable again), `unknown` (a message whose answer was lost and that Get Messages did not show).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reverse_etl.schema import SCHEMA, columns, has_schema
from reverse_etl.states import OPEN_STATES, KeyState, PushState, RowState
from warehouse.connection import Connection, WarehouseConflict

CHUNK = 400  # rows per multi-row INSERT / keys per IN list
_CONFIRMED = (KeyState.APPLIED, KeyState.ACCEPTED)  # the values sent become the last confirmed ones
# a key refused for its row: one attempt more, given up past the definition's retries
_FAIL_KEYS = (f"attempts = coalesce(attempts, 0) + 1, status = CASE WHEN coalesce(attempts, 0) + 1 > ? "
              f"THEN '{KeyState.GIVEN_UP}' ELSE '{KeyState.FAILED}' END, last_error = ?, updated_at = ?")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class LedgerEntry:
    push_key: str
    kind: str  # "delta" | "overwrite" | "message"
    status: str  # a KeyState
    applied_values: dict[str, str] | None
    attempt_values: dict[str, str] | None
    attempts: int
    last_push_id: str | None = None
    last_error: str | None = None


@dataclass
class PlannedKey:
    """A ledger key a push carries, with the values it sends for that key."""

    push_key: str
    kind: str
    email: str
    period: str | None
    values: dict[str, str]


@dataclass
class PlannedRow:
    row_number: int | None  # 1-based data row of the push; None when not sent
    email: str
    period: str | None
    values: dict[str, Any]
    keys: list[PlannedKey]
    result: str  # a RowState: pending | invalid | given_up
    error: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one per-row call came to (see the module docstring)."""

    status: str  # success | failed | unsent | unknown | refused
    error: str | None = None
    note: str | None = None  # e.g. "confirmed through Get Messages"
    fatal: bool = False  # the key was refused (401/403, Invalid token, Insufficient permission): stop sending


ROW_RESULT = {"success": RowState.SUCCESS, "failed": RowState.FAILED, "unsent": RowState.NOT_SENT,
              "unknown": RowState.UNKNOWN, "refused": RowState.REFUSED}
KEY_STATE = {"unsent": KeyState.UNSENT, "unknown": KeyState.UNKNOWN, "refused": KeyState.UNSENT}


class ClaimTaken(Exception):
    """Another run of this definition holds its claim (a push of it is open or being recorded)."""


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(con: Connection, table: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Multi-row INSERTs of `rows` (a primary key taken raises WarehouseConflict)."""
    one = "(" + ", ".join("?" for _ in names) + ")"
    for chunk in chunks(rows):
        con.execute(f"INSERT INTO {SCHEMA}.{table} ({', '.join(names)}) VALUES {', '.join(one for _ in chunk)}",
                    [v for row in chunk for v in row])


def _set_keys(state: KeyState) -> str:
    """The SET clause that moves keys to `state` (parameters: last_error, updated_at)."""
    confirmed = "applied_values = attempt_values, attempts = 0, " if state in _CONFIRMED else ""
    return f"status = '{state}', {confirmed}last_error = ?, updated_at = ?"


def _loads(text: str | None) -> dict[str, str] | None:
    return json.loads(text) if text else None


def dumps(values: dict[str, str] | None) -> str | None:
    return None if values is None else json.dumps(values, sort_keys=True, ensure_ascii=False)


# -- reading --------------------------------------------------------------------------------------

def load_entries(con: Connection, definition: str) -> dict[str, LedgerEntry]:
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


def open_pushes(con: Connection, definition: str) -> list[dict[str, Any]]:
    """`definition`'s pushes whose outcome is not recorded yet, oldest first."""
    if not has_schema(con):
        return []
    return con.dicts(f"SELECT * FROM {SCHEMA}.pushes WHERE state IN ? AND definition = ? ORDER BY created_at",
                     [OPEN_STATES, definition])


def stale_pushes(con: Connection, definition: str, minutes: float) -> list[dict[str, Any]]:
    """Pushes of `definition` still open `minutes` after they were created."""
    if not has_schema(con):
        return []
    cutoff = now() - dt.timedelta(minutes=minutes)
    return con.dicts(
        f"""SELECT push_id, job_id, state, created_at FROM {SCHEMA}.pushes
            WHERE definition = ? AND state IN ? AND created_at < ? ORDER BY created_at""",
        [definition, OPEN_STATES, cutoff],
    )


def unknown_pushes(con: Connection, definition: str) -> list[str]:
    """`definition`'s uploads whose outcome nobody could settle (state `unknown`), oldest first."""
    if not has_schema(con):
        return []
    return [str(r[0]) for r in con.fetchall(
        f"SELECT push_id FROM {SCHEMA}.pushes WHERE definition = ? AND state = ? ORDER BY created_at",
        [definition, PushState.UNKNOWN.value])]


def last_runs(con: Connection) -> dict[str, dict[str, Any]]:
    """definition -> its latest push row."""
    if not has_schema(con):
        return {}
    rows = con.dicts(
        f"""SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY definition ORDER BY created_at DESC) AS _latest
            FROM {SCHEMA}.pushes) AS p WHERE _latest = 1""")
    return {r["definition"]: {k: v for k, v in r.items() if k != "_latest"} for r in rows}


def push_state(con: Connection, push_id: str) -> str:
    """The recorded state of `push_id` (`unknown` when there is no such push)."""
    row = con.fetchone(f"SELECT state FROM {SCHEMA}.pushes WHERE push_id = ?", [push_id])
    return str(row[0]) if row else PushState.UNKNOWN.value


def push_counts(con: Connection, push_id: str) -> dict[str, int]:
    names = ("success_rows", "failed_rows", "skipped_rows", "given_up_rows")
    row = con.fetchone(f"SELECT {', '.join(names)} FROM {SCHEMA}.pushes WHERE push_id = ?", [push_id])
    return {n: int(v or 0) for n, v in zip(names, row or (0, 0, 0, 0), strict=True)}


def _pending(con: Connection, push_id: str) -> list[tuple[Any, ...]]:
    """(row number, push keys as JSON) of `push_id`'s rows whose outcome is not recorded yet."""
    return con.fetchall(f"SELECT row_number, push_keys FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = ? "
                        "ORDER BY row_number", [push_id, RowState.PENDING.value])


def sent_row_numbers(con: Connection, push_id: str) -> list[int]:
    """Row numbers of `push_id` whose outcome is not recorded yet."""
    return [int(n) for n, _ in _pending(con, push_id)]


def pending_rows(con: Connection, push_id: str) -> list[dict[str, Any]]:
    """Rows of `push_id` sent (or about to be) whose answer is not recorded, with their keys' values."""
    rows = con.dicts(f"SELECT row_number, email, push_keys, values_json FROM {SCHEMA}.push_rows "
                     "WHERE push_id = ? AND result = ? ORDER BY row_number", [push_id, RowState.PENDING.value])
    keys = [json.loads(r["push_keys"])[-1] for r in rows if r["push_keys"] and json.loads(r["push_keys"])]
    attempt: dict[str, Any] = {}
    for chunk in chunks(keys):
        attempt.update({str(k): _loads(v) for k, v in con.fetchall(
            f"SELECT push_key, attempt_values FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])})
    out = []
    for r in rows:
        ks = json.loads(r["push_keys"]) if r["push_keys"] else []
        out.append({**r, "push_keys": ks, "values": json.loads(r["values_json"] or "{}"),
                    "attempt_values": attempt.get(ks[-1]) if ks else None})
    return out


def unknown_keys(con: Connection, definition: str) -> list[dict[str, Any]]:
    """Message keys of `definition` whose answer was lost and not found yet (`attempt_values` read)."""
    return [{**r, "attempt_values": _loads(r["attempt_values"])} for r in con.dicts(
        f"SELECT push_key, email, attempt_values, last_push_id FROM {SCHEMA}.push_ledger "
        "WHERE definition = ? AND status = ? ORDER BY push_key", [definition, KeyState.UNKNOWN.value])]


# -- the claim ------------------------------------------------------------------------------------

def claim(con: Connection, definition: str, push_id: str, owner: str) -> None:
    """Insert `definition`'s claim for `push_id` inside the caller's transaction; ClaimTaken when
    another run holds it (the caller's transaction is then aborted: roll it back)."""
    try:
        _insert(con, "push_claims", ("definition", "push_id", "owner", "claimed_at"),
                [(definition, push_id, owner, now())])
    except WarehouseConflict:
        raise ClaimTaken(definition) from None


def drop_orphan_claim(con: Connection, definition: str) -> bool:
    """Remove `definition`'s claim when its push is not open (left by hand edits); True if removed."""
    gone = con.fetchall(
        f"""DELETE FROM {SCHEMA}.push_claims WHERE definition = ? AND push_id NOT IN
            (SELECT push_id FROM {SCHEMA}.pushes WHERE state IN ?) RETURNING push_id""",
        [definition, OPEN_STATES])
    return bool(gone)


def _release_claim(con: Connection, push_id: str) -> None:
    con.execute(f"DELETE FROM {SCHEMA}.push_claims WHERE push_id = ?", [push_id])


def take_open(con: Connection, push_id: str) -> bool:
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
    names = list(push)
    _insert(con, "pushes", [*names, "created_at", "updated_at"], [[push[c] for c in names] + [ts, ts]])
    push_id = push["push_id"]
    _insert(con, "push_rows", columns("push_rows"), [
        (push_id, definition, r.row_number, r.email, r.period, json.dumps([k.push_key for k in r.keys]),
         json.dumps(r.values, default=str, ensure_ascii=False), r.result, r.error, r.warning, None, ts)
        for r in rows])
    keys = [k for r in rows if r.result == RowState.PENDING for k in r.keys]
    known = [k for k in keys if k.push_key in entries]
    # keys seen before: rewritten whole (their applied values kept); new ones: inserted, and a key
    # another run inserted meanwhile fails here on the primary key
    for chunk in chunks([k.push_key for k in known]):
        con.execute(f"DELETE FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])
    ledger_rows = []
    for k in keys:
        values = dumps(k.values)
        entry = entries.get(k.push_key)
        applied = dumps(entry.applied_values) if entry else None
        attempts = (entry.attempts if dumps(entry.attempt_values) == values else 0) if entry else 0
        last_error = entry.last_error if entry else None
        ledger_rows.append((k.push_key, definition, k.email, k.period, k.kind, KeyState.IN_FLIGHT.value, applied,
                            values, attempts, push_id, last_error, ts))
    _insert(con, "push_ledger", columns("push_ledger"), ledger_rows)
    if push.get("state") not in OPEN_STATES:
        _release_claim(con, push_id)  # nothing to send: the claim ends with this transaction


def update_push(con: Connection, push_id: str, **fields: Any) -> None:
    """Update an open push (a push another process already recorded is left as it is)."""
    fields["updated_at"] = now()
    sets = ", ".join(f"{k} = ?" for k in fields)
    con.execute(f"UPDATE {SCHEMA}.pushes SET {sets} WHERE push_id = ? AND state IN ?",
                [*fields.values(), push_id, OPEN_STATES])


def _close_open(con: Connection, push_id: str, state: PushState, rows: RowState, keys: KeyState, note: str,
                **fields: Any) -> bool:
    """In one transaction, if `push_id` is still open: the push to `state` (with `fields`), its rows
    whose outcome is not recorded to `rows`, its keys in flight to `keys`, each noting `note`, and
    its claim ends. False when another process settled it first."""
    ts = now()
    with con.transaction():
        if not take_open(con, push_id):
            return False
        update_push(con, push_id, state=state.value, error=note, finished_at=ts, **fields)
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, updated_at = ? "
                    "WHERE push_id = ? AND result = ?", [rows.value, note, ts, push_id, RowState.PENDING.value])
        con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_set_keys(keys)} WHERE last_push_id = ? AND status = ?",
                    [note, ts, push_id, KeyState.IN_FLIGHT.value])
        _release_claim(con, push_id)
    return True


def release_push(con: Connection, push_id: str, error: str) -> bool:
    """The upload never reached the server: its keys go back to be sent by a later run and its claim
    ends. False when another process settled it first."""
    return _close_open(con, push_id, PushState.NOT_RECEIVED, RowState.NOT_SENT, KeyState.UNSENT, error)


def mark_unknown(con: Connection, push_id: str, reason: str) -> bool:
    """The outcome of `push_id`'s upload cannot be settled (its answer lost, no bulk-jobs list): its
    rows and keys become `unknown` (never sent again until a person settles them, `settle_by_hand`)
    and its claim ends. False when another process settled it first."""
    return _close_open(con, push_id, PushState.UNKNOWN, RowState.UNKNOWN, KeyState.UNKNOWN, reason)


def record_accepted(con: Connection, push_id: str, reason: str, job_id: str | None = None) -> bool:
    """The server accepted the upload of `push_id` but serves no job status: its rows are
    `unconfirmed` with `reason`, its keys stay claimed (`accepted`, the values sent taken as the last
    confirmed ones) and its claim ends. False when another process settled it first."""
    return _close_open(con, push_id, PushState.ACCEPTED, RowState.UNCONFIRMED, KeyState.ACCEPTED, reason,
                       job_id=job_id, uploaded_at=now(), success_rows=0, failed_rows=0, skipped_rows=0)


def _end_push(con: Connection, push_id: str, given_up: int, **fields: Any) -> None:
    """Inside the transaction that settles `push_id`: its final fields, its given-up rows, its claim."""
    update_push(con, push_id, finished_at=now(), **fields)
    con.execute(f"UPDATE {SCHEMA}.pushes SET given_up_rows = coalesce(given_up_rows, 0) + ? WHERE push_id = ?",
                [given_up, push_id])
    _release_claim(con, push_id)


def record_results(
    con: Connection,
    push_id: str,
    results: dict[int, tuple[str, str | None]],
    retries: int,
    job: dict[str, Any],
) -> dict[str, int]:
    """Apply a finished job's per-row results (row_number -> (status, error)); return counts. When
    another process recorded the job first, nothing changes and its counts are returned."""
    ts = now()
    counts = {"success_rows": 0, "failed_rows": 0, "skipped_rows": 0, "given_up_rows": 0}
    with con.transaction():
        recorded = take_open(con, push_id)  # False: another process recorded it first
        if recorded:
            _record_job_rows(con, push_id, results, retries, counts, ts)
            _end_push(con, push_id, counts["given_up_rows"], state=job.get("status"), job_status=job.get("status"),
                      **{k: counts[k] for k in ("success_rows", "failed_rows", "skipped_rows")})
    return counts if recorded else push_counts(con, push_id)


def _record_job_rows(con: Connection, push_id: str, results: dict[int, tuple[str, str | None]], retries: int,
                     counts: dict[str, int], ts: dt.datetime) -> None:
    """The keys and rows of a finished job (a row it does not report: failed); `counts` filled in."""
    outcome = {int(n): (json.loads(keys), *results.get(int(n), ("failed", "no per-row result reported")))
               for n, keys in _pending(con, push_id)}
    applied = [k for keys, status, _ in outcome.values() if status == RowState.SUCCESS for k in keys]
    for chunk in chunks(applied):
        con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_set_keys(KeyState.APPLIED)} WHERE push_key IN ?",
                    [None, ts, list(chunk)])
    by_error: dict[str, list[str]] = {}
    for keys, status, error in outcome.values():
        if status != RowState.SUCCESS:
            by_error.setdefault(error or status, []).extend(keys)
    for error, keys in by_error.items():
        for chunk in chunks(keys):
            con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_FAIL_KEYS} WHERE push_key IN ?",
                        [retries, error, ts, list(chunk)])
    state: dict[str, tuple[int, str]] = {}
    for chunk in chunks([k for keys in by_error.values() for k in keys]):
        state.update({str(k): (int(a or 0), str(s)) for k, a, s in con.fetchall(
            f"SELECT push_key, attempts, status FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])})
    row_updates: dict[tuple[str, str | None, int | None], list[int]] = {}
    for n, (keys, status, error) in outcome.items():
        if status == RowState.SUCCESS:
            counts["success_rows"] += 1
            row_updates.setdefault((RowState.SUCCESS.value, None, None), []).append(n)
            continue
        skipped = status == RowState.SKIPPED
        counts["skipped_rows" if skipped else "failed_rows"] += 1
        attempt = state[keys[-1]][0] if keys and keys[-1] in state else 1
        if any(state.get(k, (0, ""))[1] == KeyState.GIVEN_UP for k in keys):
            counts["given_up_rows"] += 1
        result = RowState.SKIPPED if skipped else RowState.FAILED
        row_updates.setdefault((result.value, error or status, attempt), []).append(n)
    for (result, error, attempt), numbers in row_updates.items():
        for chunk in chunks(numbers):
            con.execute(f"""UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, attempt = ?, updated_at = ?
                            WHERE push_id = ? AND row_number IN ?""",
                        [result, error, attempt, ts, push_id, list(chunk)])


def record_outcomes(con: Connection, push_id: str, outcomes: dict[int, Outcome], retries: int) -> bool:
    """Record per-row answers (row number -> outcome) of the open push `push_id`; False when it is no
    longer open (another process settled it) and nothing was written."""
    if not outcomes:
        return True
    ts = now()
    open_keys = [KeyState.IN_FLIGHT.value, KeyState.UNKNOWN.value]
    with con.transaction():
        if not take_open(con, push_id):
            return False
        keys_of: dict[int, list[str]] = {}
        for chunk in chunks(sorted(outcomes)):
            for n, keys in con.fetchall(
                    f"SELECT row_number, push_keys FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = ? "
                    "AND row_number IN ?", [push_id, RowState.PENDING.value, list(chunk)]):
                keys_of[int(n)] = json.loads(keys)
        for n, o in outcomes.items():
            keys = keys_of.get(n)
            if not keys:
                continue  # recorded before
            attempt = None
            if o.status == "failed":
                con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_FAIL_KEYS} WHERE push_key IN ? AND status IN ?",
                            [retries, o.error, ts, keys, open_keys])
                row = con.fetchone(f"SELECT attempts FROM {SCHEMA}.push_ledger WHERE push_key = ?", [keys[-1]])
                attempt = int(row[0] or 1) if row else 1
            else:
                state = KeyState.APPLIED if o.status == "success" else KEY_STATE[o.status]
                con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_set_keys(state)} WHERE push_key IN ? AND status IN ?",
                            [None if state is KeyState.APPLIED else o.error, ts, keys, open_keys])
            con.execute(f"""UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, warning = coalesce(?, warning),
                            attempt = ?, updated_at = ? WHERE push_id = ? AND row_number = ?""",
                        [ROW_RESULT[o.status].value, o.error, o.note, attempt, ts, push_id, n])
    return True


def row_counts(con: Connection, push_id: str) -> dict[str, int]:
    """A per-row push's rows by result (sent rows only) and how many of its keys are given up."""
    by = {str(r): int(c) for r, c in con.fetchall(
        f"SELECT result, count(*) FROM {SCHEMA}.push_rows WHERE push_id = ? AND row_number IS NOT NULL GROUP BY result",
        [push_id])}
    given = con.fetchone(f"SELECT count(*) FROM {SCHEMA}.push_ledger WHERE last_push_id = ? AND status = ?",
                         [push_id, KeyState.GIVEN_UP.value])
    return {"success": by.get(RowState.SUCCESS, 0), "failed": by.get(RowState.FAILED, 0),
            "unsent": by.get(RowState.NOT_SENT, 0), "unknown": by.get(RowState.UNKNOWN, 0),
            "pending": by.get(RowState.PENDING, 0), "refused": by.get(RowState.REFUSED, 0),
            "given_up": int(given[0]) if given else 0}


def sent(c: dict[str, int]) -> int:
    """Rows the server took or may have taken: a refused or unsent row was never sent."""
    return c["success"] + c["failed"] + c["unknown"] + c["pending"]


def end_state(c: dict[str, int]) -> PushState:
    """A per-row push's state from its row counts."""
    if c["failed"] == c["unsent"] == c["unknown"] == c["pending"] == c["refused"] == 0:
        return PushState.COMPLETED
    if c["success"] == 0:
        return PushState.FAILED
    return PushState.COMPLETED_WITH_ERRORS


def finish_push(con: Connection, push_id: str, error: str | None = None,
                state: PushState | None = None) -> dict[str, int] | None:
    """End the open per-row push `push_id`: its state from its rows (or `state`), counts, and its
    claim, in one transaction. None when another process ended it first."""
    with con.transaction():
        if not take_open(con, push_id):
            return None
        c = row_counts(con, push_id)
        _end_push(con, push_id, c["given_up"], state=(state or end_state(c)).value, success_rows=c["success"],
                  failed_rows=c["failed"], skipped_rows=c["unsent"] + c["unknown"] + c["refused"],
                  sent_rows=sent(c), error=error)
    return c


def settle_key(con: Connection, push_key: str, found: bool, note: str) -> None:
    """A message key left `unknown`: applied when Get Messages showed it, else sendable again."""
    ts = now()
    state, result = (KeyState.APPLIED, RowState.SUCCESS) if found else (KeyState.UNSENT, RowState.NOT_SENT)
    with con.transaction():
        con.execute(f"UPDATE {SCHEMA}.push_ledger SET {_set_keys(state)} WHERE push_key = ? AND status = ?",
                    [None if found else note, ts, push_key, KeyState.UNKNOWN.value])
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = ?, warning = ?, updated_at = ? "
                    "WHERE result = ? AND push_keys = ?",
                    [result.value, note, ts, RowState.UNKNOWN.value, json.dumps([push_key])])


def settle_by_hand(con: Connection, push_id: str, landed: bool) -> int:
    """A person checked the community's Api Log for the upload of `push_id` (state `unknown`):
    `landed` marks its unknown keys applied (rows `success`), otherwise releases them (`unsent`,
    rows `not_sent`) for the next run to send. Returns the number of keys changed; 0 when the push
    is not `unknown` or has no unknown keys left."""
    ts = now()
    if landed:
        keys, result, state = KeyState.APPLIED, RowState.SUCCESS, PushState.CONFIRMED
        note = "confirmed by hand (push --confirm)"
    else:
        keys, result, state = KeyState.UNSENT, RowState.NOT_SENT, PushState.RELEASED
        note = "released by hand (push --release)"
    with con.transaction():
        row = con.fetchone(f"SELECT state FROM {SCHEMA}.pushes WHERE push_id = ?", [push_id])
        if not row or row[0] != PushState.UNKNOWN:
            return 0
        changed = con.fetchall(
            f"UPDATE {SCHEMA}.push_ledger SET {_set_keys(keys)} WHERE last_push_id = ? AND status = ? "
            "RETURNING push_key", [note, ts, push_id, KeyState.UNKNOWN.value])
        con.execute(f"UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, updated_at = ? "
                    "WHERE push_id = ? AND result = ?", [result.value, note, ts, push_id, RowState.UNKNOWN.value])
        con.execute(f"UPDATE {SCHEMA}.pushes SET state = ?, error = ?, updated_at = ? WHERE push_id = ?",
                    [state.value, note, ts, push_id])
    return len(changed)
