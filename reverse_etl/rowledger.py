"""The ledger side of per-row pushes (message, redemption_status, purchase_history): the same tables as
the CSV pushes (`ledger`), written row by row as the API answers.

A per-row push is recorded like an upload, in the transaction that holds its definition's claim: the
push in state `sending`, its rows `pending`, every key it carries `in_flight` (`ledger.record_push`).
Then each answer is recorded (`record_outcomes`, in batches) while the push is still open, and
`finish_push` ends it and its claim in one transaction. Outcomes:

- `success`  the server confirmed it (or Get Messages showed the message): key `applied`, its values
             become the last confirmed ones;
- `failed`   a definite refusal (400/404/409, an HTTP 200 whose body says error): retried by later runs
             up to the definition's `retries`, then `given_up`;
- `unsent`   it never reached the server (no connection, 429, not sent after a fatal error): sendable
             again, no attempt counted;
- `refused`  the server refused the key, not the row (401/403, an HTTP 200 "Invalid token" or
             "Insufficient permission"): nothing was taken, so it is never counted as sent; its key is
             sendable again (`unsent`) with no attempt counted;
- `unknown`  a message whose answer was lost and that Get Messages did not show: never sent again
             before a later run has looked for it once more (`settle_unknown`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reverse_etl import ledger
from reverse_etl.ledger import SCHEMA, _chunks, _take_open, now
from warehouse.connection import Connection

ROW_RESULT = {"success": "success", "failed": "failed", "unsent": "not_sent", "unknown": "unknown",
              "refused": "refused"}
LEDGER_STATUS = {"refused": "unsent"}  # a refused row's key: sendable again


@dataclass(frozen=True)
class Outcome:
    """What one row's call came to (see the module docstring)."""

    status: str  # success | failed | unsent | unknown | refused
    error: str | None = None
    note: str | None = None  # e.g. "confirmed through Get Messages"
    fatal: bool = False  # the key was refused (401/403, Invalid token, Insufficient permission): stop sending


def record_outcomes(con: Connection, push_id: str, outcomes: dict[int, Outcome], retries: int) -> bool:
    """Record answers (row number -> outcome) of the open push `push_id`; False when it is no longer open
    (another process settled it) and nothing was written."""
    if not outcomes:
        return True
    ts = now()
    with con.transaction():
        if not _take_open(con, push_id):
            return False
        keys_of: dict[int, list[str]] = {}
        for chunk in _chunks(sorted(outcomes)):
            for n, keys in con.fetchall(
                    f"SELECT row_number, push_keys FROM {SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending' "
                    "AND row_number IN ?", [push_id, list(chunk)]):
                keys_of[int(n)] = json.loads(keys)
        open_ = ("in_flight", "unknown")
        for n, o in outcomes.items():
            keys = keys_of.get(n)
            if not keys:
                continue  # recorded before
            if o.status == "success":
                con.execute(f"""UPDATE {SCHEMA}.push_ledger SET status = 'applied', applied_values = attempt_values,
                                attempts = 0, last_error = NULL, updated_at = ? WHERE push_key IN ? AND status IN ?""",
                            [ts, keys, open_])
            elif o.status == "failed":
                con.execute(f"""UPDATE {SCHEMA}.push_ledger SET attempts = coalesce(attempts, 0) + 1,
                                status = CASE WHEN coalesce(attempts, 0) + 1 > ? THEN 'given_up' ELSE 'failed' END,
                                last_error = ?, updated_at = ? WHERE push_key IN ? AND status IN ?""",
                            [retries, o.error, ts, keys, open_])
            else:
                con.execute(f"""UPDATE {SCHEMA}.push_ledger SET status = ?, last_error = ?, updated_at = ?
                                WHERE push_key IN ? AND status IN ?""",
                            [LEDGER_STATUS.get(o.status, o.status), o.error, ts, keys, open_])
            attempt = None
            if o.status == "failed":
                row = con.fetchone(f"SELECT attempts FROM {SCHEMA}.push_ledger WHERE push_key = ?", [keys[-1]])
                attempt = int(row[0] or 1) if row else 1
            con.execute(f"""UPDATE {SCHEMA}.push_rows SET result = ?, error = ?, warning = coalesce(?, warning),
                            attempt = ?, updated_at = ? WHERE push_id = ? AND row_number = ?""",
                        [ROW_RESULT[o.status], o.error, o.note, attempt, ts, push_id, n])
    return True


def counts(con: Connection, push_id: str) -> dict[str, int]:
    """The push's rows by result (sent rows only) and how many of its keys are given up."""
    by = {str(r): int(c) for r, c in con.fetchall(
        f"SELECT result, count(*) FROM {SCHEMA}.push_rows WHERE push_id = ? AND row_number IS NOT NULL GROUP BY result",
        [push_id])}
    given = con.fetchone(f"SELECT count(*) FROM {SCHEMA}.push_ledger WHERE last_push_id = ? AND status = 'given_up'",
                         [push_id])
    return {"success": by.get("success", 0), "failed": by.get("failed", 0), "unsent": by.get("not_sent", 0),
            "unknown": by.get("unknown", 0), "pending": by.get("pending", 0), "refused": by.get("refused", 0),
            "given_up": int(given[0]) if given else 0}


def sent(c: dict[str, int]) -> int:
    """Rows the server took or may have taken: a refused or unsent row was never sent."""
    return c["success"] + c["failed"] + c["unknown"] + c["pending"]


def end_state(c: dict[str, int]) -> str:
    if c["failed"] == c["unsent"] == c["unknown"] == c["pending"] == c.get("refused", 0) == 0:
        return "completed"
    if c["success"] == 0:
        return "failed"
    return "completed_with_errors"


def finish_push(con: Connection, push_id: str, error: str | None = None,
                state: str | None = None) -> dict[str, int] | None:
    """End the open push `push_id`: its state from its rows (or `state`), counts, and its claim, in one
    transaction. None when another process ended it first."""
    ts = now()
    with con.transaction():
        if not _take_open(con, push_id):
            return None
        c = counts(con, push_id)
        ledger.update_push(con, push_id, state=state or end_state(c), finished_at=ts, success_rows=c["success"],
                           failed_rows=c["failed"], skipped_rows=c["unsent"] + c["unknown"] + c["refused"],
                           sent_rows=sent(c), error=error)
        con.execute(f"UPDATE {SCHEMA}.pushes SET given_up_rows = coalesce(given_up_rows, 0) + ? WHERE push_id = ?",
                    [c["given_up"], push_id])
        con.execute(f"DELETE FROM {SCHEMA}.push_claims WHERE push_id = ?", [push_id])
    return c


def pending_rows(con: Connection, push_id: str) -> list[dict[str, Any]]:
    """Rows of `push_id` sent (or about to be) whose answer is not recorded, with their keys' values."""
    rows = con.dicts(f"SELECT row_number, email, push_keys, values_json FROM {SCHEMA}.push_rows "
                     "WHERE push_id = ? AND result = 'pending' ORDER BY row_number", [push_id])
    return _with_attempts(con, rows)


def unknown_keys(con: Connection, definition: str) -> list[dict[str, Any]]:
    """Message keys of `definition` whose answer was lost and not found yet."""
    return con.dicts(f"SELECT push_key, email, attempt_values, last_push_id FROM {SCHEMA}.push_ledger "
                     "WHERE definition = ? AND status = 'unknown' ORDER BY push_key", [definition])


def settle_key(con: Connection, push_key: str, found: bool, note: str) -> None:
    """A key left `unknown`: applied when Get Messages showed it, else sendable again."""
    ts = now()
    with con.transaction():
        if found:
            con.execute(f"""UPDATE {SCHEMA}.push_ledger SET status = 'applied', applied_values = attempt_values,
                            attempts = 0, last_error = NULL, updated_at = ? WHERE push_key = ? AND status = 'unknown'""",
                        [ts, push_key])
        else:
            con.execute(f"UPDATE {SCHEMA}.push_ledger SET status = 'unsent', last_error = ?, updated_at = ? "
                        "WHERE push_key = ? AND status = 'unknown'", [note, ts, push_key])
        con.execute(f"""UPDATE {SCHEMA}.push_rows SET result = ?, warning = ?, updated_at = ?
                        WHERE result = 'unknown' AND push_keys = ?""",
                    ["success" if found else "not_sent", note, ts, json.dumps([push_key])])


def _with_attempts(con: Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [json.loads(r["push_keys"])[-1] for r in rows if r["push_keys"] and json.loads(r["push_keys"])]
    attempt: dict[str, Any] = {}
    for chunk in _chunks(keys):
        attempt.update({str(k): json.loads(v) if v else None for k, v in con.fetchall(
            f"SELECT push_key, attempt_values FROM {SCHEMA}.push_ledger WHERE push_key IN ?", [list(chunk)])})
    out = []
    for r in rows:
        ks = json.loads(r["push_keys"]) if r["push_keys"] else []
        out.append({**r, "push_keys": ks, "values": json.loads(r["values_json"] or "{}"),
                    "attempt_values": attempt.get(ks[-1]) if ks else None})
    return out
