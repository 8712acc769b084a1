"""One push run: query, validate, diff, write the CSV, upload once, await the job, record per-row results.

Exactly once: everything an upload carries is committed to the ledger (keys `in_flight`, push
`uploading`) before the upload starts. A run first settles every upload an earlier run left open:
with no job id it looks the job up by its unique file name (which carries the push id) and releases
the keys only when the server never received it; with a job id it waits for the job and records
its rows. Only then does it plan new rows, so no delta is ever sent twice.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from reverse_etl import jobs, ledger
from reverse_etl.csvfile import CsvColumn, CsvRow, formula_warnings, write_files
from reverse_etl.definitions import Definition, get_definition
from reverse_etl.diff import Plan, plan_rows
from reverse_etl.result import PushResult
from reverse_etl.validate import FieldSpec, field_types, validate_rows

FAULT_ENV = "RETURNING_PUSH_FAULT"  # test hook: "kill:<stage>" SIGKILLs this process at that stage
# An upload with no job id whose process cannot be checked (another host) counts as still in progress
# for this long; after it, a job the list does not show was never received.
UPLOAD_GRACE = dt.timedelta(minutes=15)


def checkpoint(stage: str) -> None:
    """Fault-injection point for crash tests (see FAULT_ENV); a no-op otherwise."""
    if os.environ.get(FAULT_ENV) == f"kill:{stage}":
        os.kill(os.getpid(), signal.SIGKILL)


def files_dir(settings: Any) -> Path:
    """Where upload files and previews go: `out/pushes/` beside the warehouse file (git-ignored)."""
    return Path(settings.warehouse).resolve().parent / "out" / "pushes"


@contextmanager
def _db(settings: Any, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    from warehouse.duck import connect

    con = connect(settings.warehouse, read_only=read_only, wait_seconds=60.0)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            ledger.ensure_schema(con)
        yield con
    finally:
        con.close()


class QueryError(Exception):
    """A definition's SQL failed on the warehouse (missing table, bad column): exit code 2."""

    exit_code = 2


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _custom_fields(con: duckdb.DuckDBPyConnection, client: Any, settings: Any) -> list[dict[str, Any]]:
    """The community's user fields: from the warehouse when loaded, else from the API (7.3)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'returning_raw' "
        "AND table_name = 'user_fields'"
    ).fetchone()
    if found and found[0]:
        rows = _query(con, 'SELECT _dlt_id, field, "type" FROM returning_raw.user_fields')
        if rows:
            options: dict[str, list[str]] = {}
            try:  # dlt keeps a list of strings as the child table user_fields__options
                for parent, value in con.execute(
                        "SELECT _dlt_parent_id, value FROM returning_raw.user_fields__options "
                        "ORDER BY _dlt_list_idx").fetchall():
                    options.setdefault(parent, []).append(value)
            except duckdb.Error:
                pass
            return [{**r, "options": options.get(r["_dlt_id"], [])} for r in rows]
    path_params = {"communityId": settings.community_id} if getattr(settings, "community_id", None) else None
    data = client.request_json("user_fields", path_params=path_params)
    return list(data or [])


def _csv_layout(definition: Definition, types: dict[str, FieldSpec]) -> list[CsvColumn]:
    return [CsvColumn(c, op if c in types and types[c].numeric else None) for c, op in definition.columns.items()]


def new_push_id(name: str) -> str:
    return f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _open_client(settings: Any) -> Any:
    from pipelines.client import ReturningClient

    return ReturningClient(settings)


def run_push(name: str, settings: Any, dry_run: bool = False, *, client: Any = None,
             waiting: jobs.Waiting | None = None, definitions_dir: Path | None = None) -> PushResult:
    """Run the push `name` against the warehouse at `settings.warehouse`; see the module docstring."""
    definition = get_definition(name, definitions_dir)
    waiting = waiting or jobs.Waiting()
    if client is None:
        with _open_client(settings) as owned:
            return _run(definition, settings, dry_run, owned, waiting)
    return _run(definition, settings, dry_run, client, waiting)


def _run(definition: Definition, settings: Any, dry_run: bool, client: Any, waiting: jobs.Waiting) -> PushResult:
    result = PushResult(definition=definition.name, dry_run=dry_run, state="dry_run" if dry_run else "pending")
    if not dry_run:
        jobs.check_permission(client)  # PermissionDenied (exit 3) before anything is written or sent
        result.resumed = settle_open_pushes(definition, settings, client, waiting)
        if any(r["state"] in ledger.OPEN_STATES for r in result.resumed):
            return _blocked(result)

    # Plan and record in one connection: DuckDB admits one writing process, so two runs of the same
    # push cannot both plan the same keys before either has marked them in flight.
    with _db(settings, read_only=dry_run) as con:
        if not dry_run and ledger.open_pushes(con, definition.name):
            return _blocked(result)  # another process uploaded since we settled
        try:
            rows = _query(con, definition.sql)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            raise QueryError(f"push {definition.name}: its SQL ({definition.path.name}) failed on the warehouse: "
                             f"{first}; load the tables and build the models it reads first") from None
        types = field_types(definition, _custom_fields(con, client, settings))
        checked = validate_rows(definition, rows, types)
        plan = plan_rows(definition, checked, ledger.load_entries(con, definition.name))
        _count(result, len(rows), plan)
        push_id = new_push_id(definition.name)
        content = b""
        if dry_run or plan.send:  # a run with nothing to send leaves no file behind
            content = _write_csv(definition, settings, plan, types, push_id, result)
        if dry_run:
            return result
        file_name = f"rs-{push_id}.csv"
        push = {
            "push_id": push_id, "definition": definition.name, "target": definition.target,
            "file_name": file_name, "csv_path": str(result.csv_path) if result.csv_path else None,
            "state": "uploading" if plan.send else "no_changes",
            "total_rows": result.total, "invalid_rows": result.invalid, "changed_rows": result.changed,
            "sent_rows": len(plan.send), "given_up_rows": result.given_up, "warnings": len(result.warnings),
            "owner": f"{socket.gethostname()}:{os.getpid()}",
        }
        ledger.create_push(con, push, plan.recorded_rows, definition.name)
    result.push_id = push_id
    if not plan.send:
        result.state = "no_changes"
        return result

    checkpoint("before_upload")
    job = _upload(definition, settings, client, push_id, file_name, content, result)
    if job is None:
        return result
    checkpoint("after_job_recorded")
    _finish(definition, settings, client, push_id, job, waiting, result)
    return result


def _blocked(result: PushResult) -> PushResult:
    result.state = "blocked"
    result.error = "an earlier upload of this push is still being processed; nothing new sent, run again later"
    return result


def _write_csv(definition: Definition, settings: Any, plan: Plan, types: dict[str, FieldSpec], push_id: str,
               result: PushResult) -> bytes:
    """Write the upload file and its preview; note formula-like text as warnings."""
    stem = f"dry-run-{push_id}" if result.dry_run else push_id
    csv_rows = [CsvRow(r.email, r.values, dict(definition.columns)) for r in plan.send]
    path = files_dir(settings) / definition.name / f"{stem}.csv"
    content, preview = write_files(csv_rows, _csv_layout(definition, types), path)
    result.csv_path, result.preview_path = path, preview
    for row_number, col, value in formula_warnings(csv_rows):
        result.warnings.append(f"row {row_number} ({csv_rows[row_number - 1].email}) {col}: {value!r} "
                               "starts like a spreadsheet formula; sent as is, neutralised in the preview")
        plan.send[row_number - 1].warning = "formula-like text"
    return content


def _count(result: PushResult, total: int, plan: Plan) -> None:
    result.total = total
    result.invalid = len(plan.invalid)
    result.invalid_reasons = [f"{r.email}: {r.error}" for r in plan.invalid]
    result.given_up = len(plan.given_up)
    result.unchanged = plan.unchanged
    result.retried = plan.retries
    result.would_send = len(plan.send)
    result.changed = len(plan.send) - plan.retries


def _upload(definition: Definition, settings: Any, client: Any, push_id: str, file_name: str,
            content: bytes, result: PushResult) -> dict[str, Any] | None:
    """Upload once. Returns the job (at least its id), or None when the run ends here."""
    from pipelines.errors import AmbiguousWriteError, ContractError, ReturningError

    try:
        response = client.upload_csv(definition.endpoint, filename=file_name, content=content)
    except (AmbiguousWriteError, ContractError) as exc:  # a 2xx we could not read counts as unknown
        return _reconcile(settings, client, push_id, file_name, str(exc), result)
    except ReturningError as exc:  # a definite refusal: the server did not take the file
        with _db(settings) as con:
            ledger.release_push(con, push_id, str(exc))
        raise
    checkpoint("after_upload")  # the server has the file; nothing about it is recorded yet
    result.sent = result.would_send
    job_id = jobs.job_id_of(response)
    if job_id is None:  # older servers: find the job through the list (8.1)
        found = jobs.find_job_patiently(client, file_name)
        if found is None:
            result.state = "pending"
            result.error = "upload accepted but its job is not listed yet; the next run will look again"
            return None
        job_id = str(found["jobId"])
    with _db(settings) as con:
        ledger.update_push(con, push_id, state="queued", job_id=job_id, uploaded_at=ledger.now())
    result.job_id = job_id
    return {"jobId": job_id}


def _reconcile(settings: Any, client: Any, push_id: str, file_name: str, problem: str,
               result: PushResult) -> dict[str, Any] | None:
    found = jobs.find_job_patiently(client, file_name)
    if found is None:
        with _db(settings) as con:
            ledger.release_push(con, push_id, f"upload outcome unknown and no job {file_name} listed: {problem}")
        result.state = "not_received"
        result.error = f"upload lost ({problem}); the server has no job for it, the next run sends again"
        return None
    job_id = str(found["jobId"])
    with _db(settings) as con:
        ledger.update_push(con, push_id, state="queued", job_id=job_id, uploaded_at=ledger.now())
    result.sent = result.would_send
    result.job_id = job_id
    return found


def _finish(definition: Definition, settings: Any, client: Any, push_id: str, job: dict[str, Any],
            waiting: jobs.Waiting, result: PushResult) -> None:
    job_id = str(job["jobId"])
    final = jobs.await_job(client, job_id, waiting)
    status = str(final.get("status"))
    result.job_id = job_id
    if status not in ledger.TERMINAL_JOB_STATES:
        with _db(settings) as con:
            ledger.update_push(con, push_id, state="processing" if status == "processing" else "queued",
                               job_status=status)
        result.state = "pending"
        result.error = f"job {job_id} still {status} after {waiting.timeout:.0f}s; the next run resumes it"
        return
    counts = _record(definition, settings, client, push_id, job_id, final)
    result.state = status
    result.success, result.failed = counts["success_rows"], counts["failed_rows"]
    result.skipped = counts["skipped_rows"]
    result.given_up += counts["given_up_rows"]


def _record(definition: Definition, settings: Any, client: Any, push_id: str, job_id: str,
            job: dict[str, Any]) -> dict[str, int]:
    status = str(job.get("status"))
    details = jobs.row_results(client, job_id)
    with _db(settings) as con:
        sent = con.execute(
            f"SELECT row_number FROM {ledger.SCHEMA}.push_rows WHERE push_id = ? AND result = 'pending'",
            [push_id],
        ).fetchall()
        results = {}
        for (row_number,) in sent:
            n = int(row_number)
            if n in details:
                results[n] = details[n]
            elif status == "completed":
                results[n] = ("success", None)
            else:
                results[n] = ("failed", f"job {status}: {job.get('error') or 'no per-row result reported'}")
        return ledger.record_results(con, push_id, results, definition.retries, job)


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


def settle_open_pushes(definition: Definition, settings: Any, client: Any,
                       waiting: jobs.Waiting) -> list[dict[str, Any]]:
    """Finish what earlier runs left open; returns each push's id and the state it ended in."""
    with _db(settings) as con:
        open_ = ledger.open_pushes(con, definition.name)
    out = []
    for push in open_:
        push_id, job_id = push["push_id"], push["job_id"]
        if not job_id:
            found = jobs.find_job_patiently(client, push["file_name"])
            if found is None and _may_still_upload(push):
                out.append({"push_id": push_id, "state": "uploading"})
                continue
            if found is None:
                with _db(settings) as con:
                    ledger.release_push(con, push_id, "the server never received this upload")
                out.append({"push_id": push_id, "state": "not_received"})
                continue
            job_id = str(found["jobId"])
            with _db(settings) as con:
                ledger.update_push(con, push_id, state="queued", job_id=job_id, uploaded_at=ledger.now())
        final = jobs.await_job(client, job_id, waiting)
        status = str(final.get("status"))
        if status not in ledger.TERMINAL_JOB_STATES:
            out.append({"push_id": push_id, "state": "processing" if status == "processing" else "queued"})
            continue
        counts = _record(definition, settings, client, push_id, job_id, final)
        out.append({"push_id": push_id, "state": status, **counts})
    return out
