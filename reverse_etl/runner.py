"""One push run: query, validate, diff, write the CSV, upload once, await the job, record per-row results.

Exactly once, on any warehouse: everything an upload carries is committed to the ledger (keys
`in_flight`, push `uploading`) before the upload starts, in the transaction that inserts the run's
claim on its definition (see `ledger`): of two runs started at once, one claims and the other stops
(`blocked`) before it plans anything. A run first settles every upload an earlier run left open:
with no job id it looks the job up by its unique file name (which carries the push id) and releases
the keys only when the server never received it; with a job id it waits for the job and records
its rows. Only then does it plan new rows, so no delta is ever sent twice.

When the API serves no bulk-jobs list (404/405, checked once per run), no upload can be followed: one
the server accepts is recorded `accepted` (rows `unconfirmed`, keys kept claimed), and one whose answer
was lost, or that a dead process left open, is recorded `unknown`: its deltas are never sent again
until a person settles it (`push NAME --confirm/--release PUSH_ID`, `ledger.settle_by_hand`).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import socket
import time
from pathlib import Path
from typing import Any

from reverse_etl import jobs, ledger
from reverse_etl.csvfile import CsvColumn, CsvRow, formula_warnings, write_files
from reverse_etl.definitions import Definition, get_definition
from reverse_etl.diff import Plan, plan_rows
from reverse_etl.errors import QueryError, UploadUnserved
from reverse_etl.pushrun import PushRun, location_of, open_ledger
from reverse_etl.result import PushResult
from reverse_etl.validate import CheckedRow, FieldSpec, field_types, validate_rows
from warehouse.connection import Connection, WarehouseConflict, WarehouseQueryError
from warehouse.location import RAW_SCHEMA
from warehouse.private import resolve_members

# test hook: "kill:<stage>" SIGKILLs this process at that stage, "pause:<stage>:<seconds>" sleeps there
FAULT_ENV = "RETURNING_PUSH_FAULT"
# An upload with no job id whose process cannot be checked (another host) counts as still in progress
# for this long; after it, a job the list does not show was never received.
UPLOAD_GRACE = dt.timedelta(minutes=15)


def checkpoint(stage: str) -> None:
    """Fault-injection point for crash and race tests (see FAULT_ENV); a no-op otherwise."""
    fault = os.environ.get(FAULT_ENV, "")
    if fault == f"kill:{stage}":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault.startswith(f"pause:{stage}:"):
        time.sleep(float(fault.rsplit(":", 1)[1]))


def last_runs(settings: Any) -> dict[str, dict[str, Any]]:
    """definition -> its latest push, from the ledger on the configured warehouse ({} before any)."""
    location = location_of(settings)
    if location.embedded and not location.file.exists():
        return {}
    with open_ledger(settings, read_only=True) as con:
        return ledger.last_runs(con)


def query_rows(con: Connection, definition: Definition) -> list[dict[str, Any]]:
    """The rows of the definition's SQL; a QueryError naming the file when the warehouse refuses it."""
    try:
        # hashed emails (the PII policy) become addresses again through returning_private.member_keys
        return resolve_members(con, con.dicts(definition.sql))
    except WarehouseQueryError as exc:
        first = (str(getattr(exc, "original", exc)).strip().splitlines() or [str(exc)])[0]
        raise QueryError(f"push {definition.name}: its SQL ({definition.path.name}) failed on the warehouse: "
                         f"{first}; load the tables (and seeds) and build the models it reads first") from None


def _custom_fields(con: Connection, run: PushRun) -> list[dict[str, Any]]:
    """The community's user fields: from the warehouse when loaded, else from the API (7.3)."""
    if con.table_exists(RAW_SCHEMA, "user_fields"):
        rows = con.dicts(f'SELECT _dlt_id, field, "type" FROM {RAW_SCHEMA}.user_fields')
        if rows:
            options: dict[str, list[str]] = {}
            if con.table_exists(RAW_SCHEMA, "user_fields__options"):  # dlt's child table of the list
                for parent, value in con.fetchall(
                        f"SELECT _dlt_parent_id, value FROM {RAW_SCHEMA}.user_fields__options "
                        "ORDER BY _dlt_list_idx"):
                    options.setdefault(parent, []).append(value)
            return [{**r, "options": options.get(r["_dlt_id"], [])} for r in rows]
    community = getattr(run.settings, "community_id", None)
    data = run.client.request_json("user_fields", path_params={"communityId": community} if community else None)
    return list(data or [])


def _csv_layout(definition: Definition, types: dict[str, FieldSpec]) -> list[CsvColumn]:
    return [CsvColumn(c, op if c in types and types[c].numeric else None) for c, op in definition.columns.items()]


def new_push_id(name: str) -> str:
    return f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _open_client(settings: Any) -> Any:
    from pipelines.client import ReturningClient

    return ReturningClient(settings)


def run_push(name: str, settings: Any, dry_run: bool = False, *, client: Any = None,
             waiting: jobs.Waiting | None = None, definitions_dir: Path | None = None,
             pacing: Any = None) -> PushResult:
    """Run the push `name` against the configured warehouse; see the module docstring (CSV targets)
    and `rowrunner` (per-row targets: message, redemption_status, purchase_history)."""
    definition = get_definition(name, definitions_dir)
    waiting = waiting or jobs.Waiting()
    if client is None:
        with _open_client(settings) as owned:
            return _dispatch(PushRun.start(definition, settings, owned, dry_run), waiting, pacing)
    return _dispatch(PushRun.start(definition, settings, client, dry_run), waiting, pacing)


def _dispatch(run: PushRun, waiting: jobs.Waiting, pacing: Any) -> PushResult:
    if run.definition.per_row:
        from reverse_etl.rowrunner import run_row_push

        return run_row_push(run, pacing)
    return _run(run, waiting)


def _run(run: PushRun, waiting: jobs.Waiting) -> PushResult:
    definition, result = run.definition, run.result
    if not result.dry_run:
        # PermissionDenied (exit 3) before anything is written or sent; or: the API serves no job list
        run.untracked = result.untracked = jobs.check_permission(run.client)
        result.resumed = settle_open_pushes(run, waiting)
        if any(r["state"] in ledger.OPEN_STATES for r in result.resumed):
            return _blocked(result)

    with run.db(read_only=result.dry_run) as con:
        rows = query_rows(con, definition)
        types = field_types(definition, _custom_fields(con, run))
        checked = validate_rows(definition, rows, types)
        push_id = new_push_id(definition.name)
        if result.dry_run:
            plan = plan_rows(definition, checked, ledger.load_entries(con, definition.name))
            _count(result, len(rows), plan)
            _write_csv(run, plan, types, push_id)
            return result
        checkpoint("before_claim")
        try:
            plan, content = _claim_and_record(con, run, checked, len(rows), types, push_id)
        except ledger.ClaimTaken:
            return _blocked(result)
    result.push_id = push_id
    if not plan.send:
        result.state = "no_changes"
        return result

    checkpoint("before_upload")
    job = _upload(run, content)
    if job is None:
        return result
    checkpoint("after_job_recorded")
    _finish(run, job, waiting)
    return result


def _file_name(push_id: str) -> str:
    return f"rs-{push_id}.csv"


def _claim_and_record(con: Connection, run: PushRun, checked: list[CheckedRow], total: int,
                      types: dict[str, FieldSpec], push_id: str) -> tuple[Plan, bytes]:
    """In one transaction: claim the definition, read the ledger, plan, write the CSV and record the
    push with its keys in flight. ClaimTaken when another run holds the claim."""
    definition, result = run.definition, run.result
    owner = f"{socket.gethostname()}:{os.getpid()}"
    earlier = list(result.warnings)  # from settling earlier uploads
    for attempt in range(2):
        result.warnings = list(earlier)
        try:
            with con.transaction():
                ledger.claim(con, definition.name, push_id, owner)
                checkpoint("after_claim")
                entries = ledger.load_entries(con, definition.name)  # read after the claim: current
                plan = plan_rows(definition, checked, entries)
                _count(result, total, plan)
                content = b""
                if plan.send:  # a run with nothing to send leaves no file behind
                    content = _write_csv(run, plan, types, push_id)
                push = {
                    "push_id": push_id, "definition": definition.name, "target": definition.target,
                    "file_name": _file_name(push_id),
                    "csv_path": str(result.csv_path) if result.csv_path else None,
                    "state": "uploading" if plan.send else "no_changes",
                    "total_rows": result.total, "invalid_rows": result.invalid, "changed_rows": result.changed,
                    "sent_rows": len(plan.send), "given_up_rows": result.given_up,
                    "warnings": len(result.warnings), "owner": owner,
                }
                ledger.record_push(con, push, plan.recorded_rows, definition.name, entries)
            return plan, content
        except (ledger.ClaimTaken, WarehouseConflict):
            if attempt == 0 and ledger.drop_orphan_claim(con, definition.name):
                continue  # a claim whose push is not open (hand edit): gone, try once more
            raise ledger.ClaimTaken(definition.name) from None
    raise ledger.ClaimTaken(definition.name)


def _blocked(result: PushResult) -> PushResult:
    result.state = "blocked"
    result.error = "an earlier upload of this push is still being processed; nothing new sent, run again later"
    return result


def _write_csv(run: PushRun, plan: Plan, types: dict[str, FieldSpec], push_id: str) -> bytes:
    """Write the upload file and its preview; note formula-like text as warnings."""
    result = run.result
    stem = f"dry-run-{push_id}" if result.dry_run else push_id
    csv_rows = [CsvRow(r.email, r.values, dict(run.definition.columns)) for r in plan.send]
    path = run.files / f"{stem}.csv"
    content, preview = write_files(csv_rows, _csv_layout(run.definition, types), path)
    result.csv_path, result.preview_path = path, preview
    for row_number, col, value in formula_warnings(csv_rows):
        result.warnings.append(f"row {row_number} ({csv_rows[row_number - 1].email}) {col}: {value!r} "
                               "starts like a spreadsheet formula; sent as is, neutralised in the preview")
        plan.send[row_number - 1].warning = "formula-like text"
    return content


def _count(result: PushResult, total: int, plan: Plan) -> None:
    result.total = total
    result.held = plan.held
    result.invalid = len(plan.invalid)
    result.invalid_reasons = [f"{r.email}: {r.error}" for r in plan.invalid]
    result.given_up = len(plan.given_up)
    result.unchanged = plan.unchanged
    result.retried = plan.retries
    result.would_send = len(plan.send)
    result.changed = len(plan.send) - plan.retries


def _upload(run: PushRun, content: bytes) -> dict[str, Any] | None:
    """Upload once. Returns the job (at least its id), or None when the run ends here."""
    from pipelines.errors import AmbiguousWriteError, ApiError, ContractError, ReturningError

    result, file_name = run.result, _file_name(run.push_id)
    try:
        response = run.client.upload_csv(run.definition.endpoint, filename=file_name, content=content)
    except (AmbiguousWriteError, ContractError) as exc:  # a 2xx we could not read counts as unknown
        return _reconcile(run, str(exc))
    except ReturningError as exc:  # a definite refusal: the server did not take the file
        with run.db() as con:
            ledger.release_push(con, run.push_id, str(exc))
        if isinstance(exc, ApiError) and exc.status in jobs.UNSERVED_STATUS:
            raise _unserved_upload(run, exc) from None
        raise
    checkpoint("after_upload")  # the server has the file; nothing about it is recorded yet
    result.sent = result.would_send
    job_id = jobs.job_id_of(response)
    if run.untracked:  # no job list: accepted, and that is all anyone can know here
        _accepted(run, run.push_id, job_id)
        return None
    if job_id is None:  # older servers: find the job through the list (8.1)
        found = jobs.find_job_patiently(run.client, file_name)
        if found is None:
            result.state = "pending"
            result.error = "upload accepted but its job is not listed yet; the next run will look again"
            return None
        job_id = str(found["jobId"])
    _queued(run, run.push_id, job_id)
    result.job_id = job_id
    return {"jobId": job_id}


def _reconcile(run: PushRun, problem: str) -> dict[str, Any] | None:
    """The upload's answer was lost: the job list says whether the server has the file."""
    result, file_name = run.result, _file_name(run.push_id)
    if run.untracked:  # nothing can say whether the server has it: never sent again blindly
        reason = f"upload outcome unknown ({problem}) and {jobs.UNTRACKED_REASON}"
        with run.db() as con:
            ledger.mark_unknown(con, run.push_id, reason)
        result.state, result.sent = "unknown", result.would_send
        result.error = _unknown_help(run.definition.name, run.push_id, file_name, problem)
        return None
    found = jobs.find_job_patiently(run.client, file_name)
    if found is None:
        with run.db() as con:
            ledger.release_push(con, run.push_id, f"upload outcome unknown and no job {file_name} listed: {problem}")
        result.state = "not_received"
        result.error = f"upload lost ({problem}); the server has no job for it, the next run sends again"
        return None
    _queued(run, run.push_id, str(found["jobId"]))
    result.sent, result.job_id = result.would_send, str(found["jobId"])
    return found


def _unknown_help(name: str, push_id: str, file_name: str, problem: str) -> str:
    return (f"upload {file_name}: its outcome is unknown ({problem}) and the API serves no bulk-jobs list "
            f"to look it up: its rows will NOT be sent again. Look for {file_name} in the "
            f"community's Api Log (community settings), then run `returning-sync push {name} --confirm {push_id}` "
            f"if it is there, or `returning-sync push {name} --release {push_id}` if it is not (the next run "
            "sends released rows)")


def _unserved_upload(run: PushRun, exc: Any) -> Exception:
    """The upload endpoint answered 404/405: one line naming it, whether it is [doc] or [assumed],
    and the registry override that changes its path. Nothing was sent (the rows stay sendable)."""
    from pipelines.skips import path_override

    name = run.definition.endpoint
    method, path, mark = jobs.endpoint_mark(run.client, name)
    said = f": {exc.server_message}" if exc.server_message else ""
    return UploadUnserved(
        name, exc.status, f"push {run.definition.name}: {method} {path} [{mark}] answered HTTP {exc.status}{said}; "
        f"nothing was sent (its rows stay unsent); if the API serves it elsewhere, set "
        f"{path_override(name, path)} (the path it serves)")


def _accepted(run: PushRun, push_id: str, job_id: str | None) -> None:
    """The server accepted the upload of `push_id`, and serves no job status to follow it."""
    with run.db() as con:
        ledger.record_accepted(con, push_id, jobs.UNTRACKED_REASON, job_id)
    if push_id == run.result.push_id:
        result = run.result
        result.state, result.job_id, result.unconfirmed = "accepted", job_id, result.sent


def _queued(run: PushRun, push_id: str, job_id: str) -> None:
    """The server has the upload of `push_id` as job `job_id`."""
    with run.db() as con:
        ledger.update_push(con, push_id, state="queued", job_id=job_id, uploaded_at=ledger.now())


def _finish(run: PushRun, job: dict[str, Any], waiting: jobs.Waiting) -> None:
    result, job_id = run.result, str(job["jobId"])
    final = jobs.await_job(run.client, job_id, waiting)
    status = str(final.get("status"))
    result.job_id = job_id
    if status not in ledger.TERMINAL_JOB_STATES:
        with run.db() as con:
            ledger.update_push(con, run.push_id, state="processing" if status == "processing" else "queued",
                               job_status=status)
        result.state = "pending"
        result.error = f"job {job_id} still {status} after {waiting.timeout:.0f}s; the next run resumes it"
        return
    counts = _record(run, run.push_id, job_id, final)
    result.state = status
    result.success, result.failed = counts["success_rows"], counts["failed_rows"]
    result.skipped = counts["skipped_rows"]
    result.given_up += counts["given_up_rows"]


def _record(run: PushRun, push_id: str, job_id: str, job: dict[str, Any]) -> dict[str, int]:
    """A finished job's per-row results in the ledger (a row the job does not report: its status)."""
    status = str(job.get("status"))
    details = jobs.row_results(run.client, job_id)
    with run.db() as con:
        results = {}
        for n in ledger.sent_row_numbers(con, push_id):
            if n in details:
                results[n] = details[n]
            elif status == "completed":
                results[n] = ("success", None)
            else:
                results[n] = ("failed", f"job {status}: {job.get('error') or 'no per-row result reported'}")
        return ledger.record_results(con, push_id, results, run.definition.retries, job)


def _may_still_upload(push: dict[str, Any]) -> bool:
    """Whether the process that owns an upload might still be sending it."""
    created = push.get("created_at")
    if created is None or ledger.now() - created >= UPLOAD_GRACE:
        return False
    host, _, pid = str(push.get("owner") or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot look: wait out the grace period
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _state(con: Connection, push_id: str) -> str:
    row = con.fetchone(f"SELECT state FROM {ledger.SCHEMA}.pushes WHERE push_id = ?", [push_id])
    return str(row[0]) if row else "unknown"


def settle_open_pushes(run: PushRun, waiting: jobs.Waiting) -> list[dict[str, Any]]:
    """Finish what earlier runs left open; returns each push's id and the state it ended in."""
    with run.db() as con:
        open_ = ledger.open_pushes(con, run.definition.name)
    out = []
    for push in open_:
        push_id, job_id = push["push_id"], push["job_id"]
        if run.untracked:
            out.append(_settle_untracked(run, push))
            continue
        if not job_id:
            found = jobs.find_job_patiently(run.client, push["file_name"])
            if found is None and _may_still_upload(push):
                out.append({"push_id": push_id, "state": "uploading"})
                continue
            if found is None:
                with run.db() as con:
                    released = ledger.release_push(con, push_id, "the server never received this upload")
                    state = "not_received" if released else _state(con, push_id)
                out.append({"push_id": push_id, "state": state})
                continue
            job_id = str(found["jobId"])
            _queued(run, push_id, job_id)
        final = jobs.await_job(run.client, job_id, waiting)
        status = str(final.get("status"))
        if status not in ledger.TERMINAL_JOB_STATES:
            out.append({"push_id": push_id, "state": "processing" if status == "processing" else "queued"})
            continue
        counts = _record(run, push_id, job_id, final)
        out.append({"push_id": push_id, "state": status, **counts})
    return out


def _settle_untracked(run: PushRun, push: dict[str, Any]) -> dict[str, Any]:
    """An open upload when the API serves no bulk-jobs list: with a job id the server accepted it;
    without one nothing can say whether it got there, so its rows become `unknown` (never re-sent)."""
    push_id = push["push_id"]
    if push["job_id"]:
        _accepted(run, push_id, str(push["job_id"]))
        return {"push_id": push_id, "state": "accepted"}
    if _may_still_upload(push):
        return {"push_id": push_id, "state": "uploading"}
    problem = "its process ended before the answer was recorded"
    with run.db() as con:
        marked = ledger.mark_unknown(con, push_id, f"upload outcome unknown ({problem}) and {jobs.UNTRACKED_REASON}")
        state = "unknown" if marked else _state(con, push_id)
    if marked:
        run.result.warnings.append(_unknown_help(run.definition.name, push_id, str(push["file_name"]), problem))
    return {"push_id": push_id, "state": state}
