"""One per-row push run (targets message, redemption_status, purchase_history): query, validate, diff,
then one API call per row, concurrent within the client's rate limit, each answer recorded.

Exactly once for messages (8.4 has no idempotency key and answers no message id):
1. Settle first. A push an earlier run left `sending` (killed, or its process gone) has rows whose
   answer was never recorded: each is looked for through Get Messages (same channel, sender and text,
   newer than the channel's newest message before that run sent) and recorded as posted when found,
   sendable again when not. Keys left `unknown` (a lost answer not found yet) are looked for again.
   A push whose process may still be sending blocks this run.
2. Claim the definition (`push_claims`), read the ledger, plan and record the push with every key it
   will send `in_flight`, all in one committed transaction, before the first call. A key applied,
   in flight or unknown is never planned: a message key (definition, channel, sender, period) is
   posted at most once, ever. Two runs at once: the second stops at the claim (`blocked`).
3. Send. A definite answer is recorded as it comes (success; refusal, HTTP 200 with an error body
   included; never sent). A lost answer (timeout, reset, truncated body, 5xx) is looked for through
   Get Messages before anything else happens to that key; found = posted, not found = `unknown`.
   A refused key (Invalid token, Insufficient permission, 401/403) stops the rows not sent yet.
4. End the push and its claim in one transaction.

The overwrites (8.5, 8.6) are sent only when their values differ from the last ones the server
confirmed; they are idempotent, so an unknown outcome is simply sent again.

Test hook (see `runner.FAULT_ENV`): `kill:after_send` SIGKILLs the process once the first call's answer
is back and before it is recorded; `kill:before_send` after the push is recorded, before any call.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from pipelines.errors import KeyRefused
from reverse_etl import ledger, rowcheck, rowledger, rowsend
from reverse_etl.csvfile import format_value, neutralise
from reverse_etl.definitions import ROW_TARGETS, Definition
from reverse_etl.diff import Plan, _needs
from reverse_etl.ledger import LedgerEntry, PlannedKey, PlannedRow
from reverse_etl.pushrun import PushRun
from reverse_etl.result import PushResult
from reverse_etl.rowledger import Outcome
from reverse_etl.validate import CheckedRow
from warehouse.connection import Connection, WarehouseConflict
from warehouse.location import RAW_SCHEMA

FLUSH_ROWS = 25  # answers recorded per transaction at most
FLUSH_SECONDS = 1.0  # ... or this often


def _runner() -> Any:
    from reverse_etl import runner

    return runner


# -- planning -------------------------------------------------------------------------------------

def _message_needs(entry: LedgerEntry | None, retries: int) -> str:
    if entry is None or entry.status == "unsent":
        return "send"
    if entry.status in ("applied", "in_flight", "unknown"):
        return "done"
    if entry.status == "given_up":
        return "given_up"
    return "retry" if entry.attempts <= retries else "given_up"


def plan_rows(definition: Definition, checked: list[CheckedRow], entries: dict[str, LedgerEntry]) -> Plan:
    plan = Plan()
    for row in checked:
        if not row.valid:
            plan.invalid.append(PlannedRow(None, row.email, row.period, row.values, [], "invalid", row.reason))
            continue
        key = str(row.extra["key"])
        entry = entries.get(key)
        if definition.target == "message":
            values = {**{c: str(v) for c, v in row.values.items()}, "email": str(row.extra["email"])}
            state = _message_needs(entry, definition.retries)
            kind = "message"
        else:
            values = {c: format_value(v) for c, v in row.values.items() if v is not None}
            state = _needs(entry, values, definition.retries, "overwrite")
            kind = "overwrite"
        if state in ("send", "retry"):
            k = PlannedKey(key, kind, row.email, row.period, values)
            plan.send.append(PlannedRow(len(plan.send) + 1, row.email, row.period, dict(row.values), [k], "pending"))
            plan.retries += state == "retry"
        elif state == "given_up":
            plan.given_up.append(PlannedRow(None, row.email, row.period, row.values, [], "given_up",
                                            entry.last_error if entry else None))
        else:
            plan.unchanged += 1
    return plan


def _with_floors(plan: Plan, floors: dict[str, dict[str, Any]]) -> None:
    for row in plan.send:
        for k in row.keys:
            floor = floors[k.values["channel_id"]]
            k.values.update({"after": floor["after"], "not": floor["not"]})


def send_values(definition: Definition, row: PlannedRow) -> dict[str, Any]:
    id_column = ROW_TARGETS[definition.target].key
    values = dict(row.values)
    if id_column:
        values[id_column] = row.email
    if definition.target == "message":
        values["email"] = row.keys[0].values["email"]
    return values


# -- the run --------------------------------------------------------------------------------------

def run_row_push(run: PushRun, pacing: rowsend.Pacing | None = None) -> PushResult:
    runner = _runner()
    pacing = pacing or rowsend.Pacing()
    definition, result = run.definition, run.result
    if not result.dry_run:
        result.resumed = settle(run, pacing)
        if any(r["state"] in ledger.OPEN_STATES for r in result.resumed):
            return runner._blocked(result)
    with run.db(read_only=result.dry_run) as con:
        rows = runner.query_rows(con, definition)
        checked = rowcheck.check_rows(definition, rows, con, lambda: _statuses(con, run.client),
                                      max_chars=_max_chars(run.settings))
        push_id = runner.new_push_id(definition.name)
        plan = plan_rows(definition, checked, ledger.load_entries(con, definition.name))
        if result.dry_run:
            runner._count(result, len(rows), plan)
            _write_preview(run, plan, f"dry-run-{push_id}")
            return result
    floors: dict[str, dict[str, Any]] = {}
    if definition.target == "message":
        for channel in sorted({r.values["channel_id"] for r in plan.send}):
            floors[channel] = rowsend.floor_of(run.client, channel)
    runner.checkpoint("before_claim")
    with run.db() as con:
        try:
            plan = _claim_and_record(con, run, checked, len(rows), push_id, floors)
        except ledger.ClaimTaken:
            return runner._blocked(result)
    result.push_id = push_id
    if not plan.send:
        result.state = "no_changes"
        return result
    runner.checkpoint("before_send")
    _send_all(run, plan, pacing)
    return result


def _statuses(con: Connection, client: Any) -> list[dict[str, Any]] | None:
    """The community's redemption statuses: the warehouse's copy when loaded, else the API's (7.10);
    None when the API does not serve the list (its path is [assumed]): the server checks the status."""
    from pipelines.errors import ApiError

    if con.table_exists(RAW_SCHEMA, "redemption_statuses"):
        rows = con.dicts(f"SELECT _id, name FROM {RAW_SCHEMA}.redemption_statuses")
        if rows:
            return rows
    try:
        return list(client.request_json("redemption_statuses") or [])
    except ApiError as exc:
        if exc.status in (404, 405):
            return None
        raise


def _max_chars(settings: Any) -> int:
    try:
        return settings.endpoint("message_send").max_chars  # an int: overrides are typed (registry)
    except AttributeError:
        return rowcheck.MAX_MESSAGE_CHARS


def _claim_and_record(con: Connection, run: PushRun, checked: list[CheckedRow], total: int, push_id: str,
                      floors: dict[str, dict[str, Any]]) -> Plan:
    runner = _runner()
    definition, result = run.definition, run.result
    owner = f"{socket.gethostname()}:{os.getpid()}"
    for attempt in range(2):
        try:
            with con.transaction():
                ledger.claim(con, definition.name, push_id, owner)
                runner.checkpoint("after_claim")
                entries = ledger.load_entries(con, definition.name)  # read after the claim: current
                plan = plan_rows(definition, checked, entries)
                if definition.target == "message":
                    for channel in {r.values["channel_id"] for r in plan.send} - set(floors):
                        floors[channel] = rowsend.floor_of(run.client, channel)  # a key released meanwhile
                    _with_floors(plan, floors)
                runner._count(result, total, plan)
                if plan.send:
                    _write_preview(run, plan, push_id)
                push = {
                    "push_id": push_id, "definition": definition.name, "target": definition.target,
                    "file_name": None, "csv_path": str(result.csv_path) if result.csv_path else None,
                    "state": "sending" if plan.send else "no_changes",
                    "total_rows": result.total, "invalid_rows": result.invalid, "changed_rows": result.changed,
                    "sent_rows": len(plan.send), "given_up_rows": result.given_up, "warnings": 0, "owner": owner,
                }
                ledger.record_push(con, push, plan.recorded_rows, definition.name, entries)
            return plan
        except (ledger.ClaimTaken, WarehouseConflict):
            if attempt == 0 and ledger.drop_orphan_claim(con, definition.name):
                continue
            raise ledger.ClaimTaken(definition.name) from None
    raise ledger.ClaimTaken(definition.name)


def _send_all(run: PushRun, plan: Plan, pacing: rowsend.Pacing) -> None:
    runner = _runner()
    definition, client, result, push_id = run.definition, run.client, run.result, run.push_id
    stop = rowsend.Stop()

    def task(row: PlannedRow) -> tuple[int, Outcome]:
        values = send_values(definition, row)
        find: Callable[[], bool] | None = None
        if definition.target == "message":
            key = row.keys[0].values

            def find() -> bool:
                return rowsend.find_message(client, values["channel_id"], values["email"], values["message"], key)
        assert row.row_number is not None
        return row.row_number, rowsend.send_row(client, definition.target, definition.endpoint, values, stop,
                                                pacing, find)

    buffer: dict[int, Outcome] = {}
    last = time.monotonic()
    fatal: str | None = None

    def flush() -> None:
        nonlocal last
        if buffer:
            with run.db() as con:
                rowledger.record_outcomes(con, push_id, dict(buffer), definition.retries)
            buffer.clear()
        last = time.monotonic()

    try:
        for n, outcome in client.map_ordered(task, plan.send):
            runner.checkpoint("after_send")  # the answer is back; nothing about it is recorded yet
            if outcome.fatal and fatal is None:
                fatal = outcome.error or "the API key was refused"
                stop.reason = f"the API key was refused on an earlier row ({fatal})"
                stop.event.set()
            buffer[n] = outcome
            if len(buffer) >= FLUSH_ROWS or time.monotonic() - last >= FLUSH_SECONDS:
                flush()
    finally:
        flush()
    with run.db() as con:
        counts = rowledger.finish_push(con, push_id, error=fatal, state="failed" if fatal else None)
        if counts is None:
            counts = rowledger.counts(con, push_id)
        state = ledger.port(con).fetchone(f"SELECT state FROM {ledger.SCHEMA}.pushes WHERE push_id = ?", [push_id])
    result.state = str(state[0]) if state else "unknown"
    result.sent = rowledger.sent(counts)  # a refused row is never counted as sent
    result.success, result.failed, result.refused = counts["success"], counts["failed"], counts["refused"]
    result.skipped = counts["unsent"] + counts["unknown"]
    result.given_up += counts["given_up"]
    if fatal:
        result.error = f"{fatal}; the rows not sent yet were left for a later run"
        result.exit_code = KeyRefused.exit_code
    elif counts["unknown"]:
        result.error = (f"{counts['unknown']} message(s) lost their answer and Get Messages does not show them "
                        "yet; the next run looks again before sending anything")


# -- settling what earlier runs left --------------------------------------------------------------

def settle(run: PushRun, pacing: rowsend.Pacing) -> list[dict[str, Any]]:
    """Finish pushes an earlier run left `sending`, then look for `unknown` messages; returns each
    push's id and the state it ended in (an open state: its process may still be sending)."""
    runner = _runner()
    definition, client = run.definition, run.client
    with run.db() as con:
        open_ = ledger.open_pushes(con, definition.name)
    out: list[dict[str, Any]] = []
    for push in open_:
        push_id = push["push_id"]
        if push.get("state") != "sending" or runner._may_still_upload(push):
            out.append({"push_id": push_id, "state": push.get("state") or "sending"})
            continue
        with run.db() as con:
            pending = rowledger.pending_rows(con, push_id)
        outcomes: dict[int, Outcome] = {}
        for row in pending:
            n = int(row["row_number"])
            if definition.target != "message":
                outcomes[n] = Outcome("unsent", "the run ended before recording the answer; sent again (an overwrite)")
                continue
            values = row["attempt_values"] or {}
            try:
                found = rowsend.find_message(client, values["channel_id"], values.get("email"), values["message"],
                                             values)
            except Exception as exc:  # noqa: BLE001 - not knowing: keep it from being sent
                outcomes[n] = Outcome("unknown", f"the run ended before recording; Get Messages failed: {exc}")
                continue
            outcomes[n] = (Outcome("success", note="the run ended before recording; found through Get Messages")
                           if found else Outcome("unsent", "the run ended before sending it (not in Get Messages)"))
        with run.db() as con:
            rowledger.record_outcomes(con, push_id, outcomes, definition.retries)
            counts = rowledger.finish_push(con, push_id, error="settled by a later run")
            state = rowledger.end_state(counts) if counts else runner._state(con, push_id)
        out.append({"push_id": push_id, "state": state})
    if definition.target == "message":
        with run.db() as con:
            unknown = rowledger.unknown_keys(con, definition.name)
        for key in unknown:
            values = ledger._loads(key["attempt_values"]) or {}
            try:
                found = rowsend.find_message(client, values["channel_id"], values.get("email"), values["message"],
                                             values)
            except Exception:  # noqa: BLE001 - still unknown: looked for again next time
                continue
            with run.db() as con:
                rowledger.settle_key(con, key["push_key"], found,
                                     "found through Get Messages by a later run" if found
                                     else "not in Get Messages after its answer was lost: sendable again")
    return out


# -- the people-facing file -----------------------------------------------------------------------

def _write_preview(run: PushRun, plan: Plan, stem: str) -> None:
    """The calls a run makes, as a CSV for people (formula-like cells neutralised): out/pushes/<name>/."""
    definition = run.definition
    spec = ROW_TARGETS[definition.target]
    header = [*([spec.key] if spec.key else []), *definition.columns, *([definition.period] if definition.period
                                                                        else [])]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in plan.send:
        cells = [row.email] if spec.key else []
        cells += [format_value(row.values.get(c)) for c in definition.columns]
        cells += [row.period or ""] if definition.period else []
        writer.writerow([neutralise(c) for c in cells])
    path = run.files / f"{stem}.preview.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    run.result.preview_path = path
