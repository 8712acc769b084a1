"""The per-row push (targets message, redemption_status, purchase_history): one API call per row,
concurrent within the client's rate limit, each answer recorded (see `protocol` for the steps every
push follows).

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

The overwrites (8.5, 8.6) are sent only when their values differ from the last values the server
confirmed; they are idempotent, so an unknown outcome is simply sent again.

Test hook (see `steps.FAULT_ENV`): `kill:after_send` SIGKILLs the process once the first call's answer
is back and before it is recorded; `kill:before_send` after the push is recorded, before any call.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipelines.errors import ApiError, KeyRefused
from reverse_etl import ledger, rowcheck, rowsend, steps
from reverse_etl.csvfile import format_value, neutralise
from reverse_etl.definitions import ROW_TARGETS, Definition
from reverse_etl.diff import Plan, needs
from reverse_etl.ledger import LedgerEntry, Outcome, PlannedKey, PlannedRow
from reverse_etl.protocol import Push
from reverse_etl.pushrun import PushRun
from reverse_etl.states import KeyState, PushState, RowState
from reverse_etl.validate import CheckedRow
from warehouse.connection import Connection
from warehouse.location import RAW_SCHEMA

FLUSH_ROWS = 25  # answers recorded per transaction at most
FLUSH_SECONDS = 1.0  # ... or this often


# -- planning -------------------------------------------------------------------------------------

def _message_needs(entry: LedgerEntry | None, retries: int) -> str:
    if entry is None or entry.status == KeyState.UNSENT:
        return "send"
    if entry.status in (KeyState.APPLIED, KeyState.IN_FLIGHT, KeyState.UNKNOWN):
        return "done"
    if entry.status == KeyState.GIVEN_UP:
        return "given_up"
    return "retry" if entry.attempts <= retries else "given_up"


def plan_rows(definition: Definition, checked: list[CheckedRow], entries: dict[str, LedgerEntry]) -> Plan:
    plan = Plan()
    for row in checked:
        if not row.valid:
            plan.invalid.append(PlannedRow(None, row.email, row.period, row.values, [], RowState.INVALID.value,
                                           row.reason))
            continue
        key = str(row.extra["key"])
        entry = entries.get(key)
        if definition.target == "message":
            values = {**{c: str(v) for c, v in row.values.items()}, "email": str(row.extra["email"])}
            state = _message_needs(entry, definition.retries)
            kind = "message"
        else:
            values = {c: format_value(v) for c, v in row.values.items() if v is not None}
            state = needs(entry, values, definition.retries, "overwrite")
            kind = "overwrite"
        if state in ("send", "retry"):
            k = PlannedKey(key, kind, row.email, row.period, values)
            plan.send.append(PlannedRow(len(plan.send) + 1, row.email, row.period, dict(row.values), [k],
                                        RowState.PENDING.value))
            plan.retries += state == "retry"
        elif state == "given_up":
            plan.given_up.append(PlannedRow(None, row.email, row.period, row.values, [], RowState.GIVEN_UP.value,
                                            entry.last_error if entry else None))
        else:
            plan.unchanged += 1
    return plan


def send_values(definition: Definition, row: PlannedRow) -> dict[str, Any]:
    id_column = ROW_TARGETS[definition.target].key
    values = dict(row.values)
    if id_column:
        values[id_column] = row.email
    if definition.target == "message":
        values["email"] = row.keys[0].values["email"]
    return values


def _statuses(con: Connection, client: Any) -> list[dict[str, Any]] | None:
    """The community's redemption statuses: the warehouse's copy when loaded, else the API's (7.10);
    None when the API does not serve the list (its path is [assumed]): the server checks the status."""
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


def _find(client: Any, values: dict[str, Any]) -> bool:
    """Whether the message of `values` (a message key's attempt values) landed: Get Messages."""
    return rowsend.find_message(client, values["channel_id"], values.get("email"), values["message"], values)


class RowPush(Push):
    sending = PushState.SENDING

    def __init__(self, run: PushRun, pacing: rowsend.Pacing | None = None) -> None:
        super().__init__(run)
        self.pacing = pacing or rowsend.Pacing()
        self.floors: dict[str, dict[str, Any]] = {}  # channel -> its newest message before sending

    # -- settle ---------------------------------------------------------------------------------------

    def settle(self) -> list[dict[str, Any]]:
        """Finish pushes an earlier run left `sending`, then look for `unknown` messages; returns each
        push's id and the state it ended in (an open state: its process may still be sending)."""
        run, definition = self.run, self.run.definition
        with run.db() as con:
            open_ = ledger.open_pushes(con, definition.name)
        out: list[dict[str, Any]] = []
        for push in open_:
            push_id = push["push_id"]
            if push.get("state") != PushState.SENDING or steps.may_still_send(push):
                out.append({"push_id": push_id, "state": push.get("state") or PushState.SENDING.value})
                continue
            with run.db() as con:
                pending = ledger.pending_rows(con, push_id)
            outcomes = {int(row["row_number"]): self._after_crash(row) for row in pending}
            with run.db() as con:
                ledger.record_outcomes(con, push_id, outcomes, definition.retries)
                counts = ledger.finish_push(con, push_id, error="settled by a later run")
                state = ledger.end_state(counts).value if counts else ledger.push_state(con, push_id)
            out.append({"push_id": push_id, "state": state})
        if definition.target == "message":
            self._settle_unknown()
        return out

    def _after_crash(self, row: dict[str, Any]) -> Outcome:
        """A row a dead run sent (or was about to) without recording the answer."""
        if self.run.definition.target != "message":
            return Outcome("unsent", "the run ended before recording the answer; sent again (an overwrite)")
        try:
            found = _find(self.run.client, row["attempt_values"] or {})
        except Exception as exc:  # noqa: BLE001 - not knowing: keep it from being sent
            return Outcome("unknown", f"the run ended before recording; Get Messages failed: {exc}")
        return (Outcome("success", note="the run ended before recording; found through Get Messages")
                if found else Outcome("unsent", "the run ended before sending it (not in Get Messages)"))

    def _settle_unknown(self) -> None:
        """Message keys whose answer was lost: looked for again."""
        with self.run.db() as con:
            unknown = ledger.unknown_keys(con, self.run.definition.name)
        for key in unknown:
            try:
                found = _find(self.run.client, key["attempt_values"] or {})
            except Exception:  # noqa: BLE001 - still unknown: looked for again next time
                continue
            with self.run.db() as con:
                ledger.settle_key(con, key["push_key"], found,
                                  "found through Get Messages by a later run" if found
                                  else "not in Get Messages after its answer was lost: sendable again")

    # -- check, plan, files ---------------------------------------------------------------------------

    def check(self, con: Connection, rows: Sequence[Mapping[str, Any]]) -> list[CheckedRow]:
        return rowcheck.check_rows(self.run.definition, rows, con, lambda: _statuses(con, self.run.client),
                                   max_chars=_max_chars(self.run.settings))

    def plan(self, checked: list[CheckedRow], entries: dict[str, LedgerEntry]) -> Plan:
        return plan_rows(self.run.definition, checked, entries)

    def prepare(self, plan: Plan) -> None:
        """Each message channel's newest message before sending, asked once per channel and run."""
        if self.run.definition.target == "message":
            for channel in sorted({r.values["channel_id"] for r in plan.send}):
                self.floors[channel] = rowsend.floor_of(self.run.client, channel)

    def planned(self, plan: Plan) -> None:
        """A message key carries its channel's floor: a lost answer is looked for after it."""
        if self.run.definition.target != "message":
            return
        for channel in {r.values["channel_id"] for r in plan.send} - set(self.floors):
            self.floors[channel] = rowsend.floor_of(self.run.client, channel)  # a key released meanwhile
        for row in plan.send:
            for k in row.keys:
                floor = self.floors[k.values["channel_id"]]
                k.values.update({"after": floor["after"], "not": floor["not"]})

    def write_files(self, plan: Plan, stem: str) -> None:
        """The calls a run makes, as a CSV for people (formula-like cells neutralised): out/pushes/<name>/."""
        definition = self.run.definition
        spec = ROW_TARGETS[definition.target]
        header = [*([spec.key] if spec.key else []), *definition.columns,
                  *([definition.period] if definition.period else [])]
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        for row in plan.send:
            cells = [row.email] if spec.key else []
            cells += [format_value(row.values.get(c)) for c in definition.columns]
            cells += [row.period or ""] if definition.period else []
            writer.writerow([neutralise(c) for c in cells])
        path = self.run.files / f"{stem}.preview.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue(), encoding="utf-8")
        self.run.result.preview_path = path

    # -- send, record ---------------------------------------------------------------------------------

    def send(self, plan: Plan) -> None:
        steps.checkpoint("before_send")
        run, definition, client, result, push_id = (self.run, self.run.definition, self.run.client,
                                                    self.run.result, self.run.push_id)
        stop = rowsend.Stop()

        def task(row: PlannedRow) -> tuple[int, Outcome]:
            values = send_values(definition, row)
            find: Callable[[], bool] | None = None
            if definition.target == "message":
                key = row.keys[0].values

                def find() -> bool:
                    return rowsend.find_message(client, values["channel_id"], values["email"], values["message"],
                                                key)
            assert row.row_number is not None
            return row.row_number, rowsend.send_row(client, definition.target, definition.endpoint, values, stop,
                                                    self.pacing, find)

        buffer: dict[int, Outcome] = {}
        last = time.monotonic()
        fatal: str | None = None

        def flush() -> None:
            nonlocal last
            if buffer:
                with run.db() as con:
                    ledger.record_outcomes(con, push_id, dict(buffer), definition.retries)
                buffer.clear()
            last = time.monotonic()

        try:
            for n, outcome in client.map_ordered(task, plan.send):
                steps.checkpoint("after_send")  # the answer is back; nothing about it is recorded yet
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
            counts = ledger.finish_push(con, push_id, error=fatal, state=PushState.FAILED if fatal else None)
            if counts is None:
                counts = ledger.row_counts(con, push_id)
            result.state = ledger.push_state(con, push_id)
        result.sent = ledger.sent(counts)  # a refused row is never counted as sent
        result.success, result.failed, result.refused = counts["success"], counts["failed"], counts["refused"]
        result.skipped = counts["unsent"] + counts["unknown"]
        result.given_up += counts["given_up"]
        if fatal:
            result.error = f"{fatal}; the rows not sent yet were left for a later run"
            result.exit_code = KeyRefused.exit_code
        elif counts["unknown"]:
            result.error = (f"{counts['unknown']} message(s) lost their answer and Get Messages does not show them "
                            "yet; the next run looks again before sending anything")
