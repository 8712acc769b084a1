"""The CSV bulk push (targets users, premium_currency): one upload, its job awaited, its per-row
results recorded (see `protocol` for the steps every push follows).

Exactly once, on any warehouse: everything an upload carries is committed to the ledger (keys
`in_flight`, push `uploading`) before the upload starts. A run first settles every upload an earlier
run left open: with no job id it looks the job up by its unique file name (which carries the push id)
and releases the keys only when the server never received it; with a job id it waits for the job and
records its rows. Only then does it plan new rows, so no delta is ever sent twice.

When the API serves no bulk-jobs list (404/405, checked once per run), no upload can be followed: one
the server accepts is recorded `accepted` (rows `unconfirmed`, keys kept claimed), and one whose answer
was lost, or that a dead process left open, is recorded `unknown`: its deltas are never sent again
until a person settles it (`push NAME --confirm/--release PUSH_ID`, `ledger.settle_by_hand`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.errors import AmbiguousWriteError, ApiError, ContractError, ReturningError
from reverse_etl import jobs, ledger, steps
from reverse_etl.csvfile import CsvColumn, CsvRow, formula_warnings, write_files
from reverse_etl.diff import Plan, plan_rows
from reverse_etl.errors import UploadUnserved
from reverse_etl.ledger import LedgerEntry
from reverse_etl.protocol import Push
from reverse_etl.pushrun import PushRun
from reverse_etl.states import TERMINAL_JOB_STATES, PushState
from reverse_etl.validate import CheckedRow, FieldSpec, field_types, validate_rows
from warehouse.connection import Connection
from warehouse.location import RAW_SCHEMA


def file_name(push_id: str) -> str:
    """The upload's file name: unique, so the bulk-jobs list finds its job."""
    return f"rs-{push_id}.csv"


class BulkPush(Push):
    sending = PushState.UPLOADING

    def __init__(self, run: PushRun, waiting: jobs.Waiting) -> None:
        super().__init__(run)
        self.waiting = waiting
        self.types: dict[str, FieldSpec] = {}
        self.content = b""

    def file_name(self, push_id: str) -> str:
        return file_name(push_id)

    # -- settle ---------------------------------------------------------------------------------------

    def settle(self) -> list[dict[str, Any]]:
        """Finish what earlier runs left open; returns each push's id and the state it ended in. First
        the bulk-jobs list: PermissionDenied (exit 3) before anything is written or sent; or the API
        serves no job list (`untracked`, once per run)."""
        run = self.run
        run.untracked = run.result.untracked = jobs.check_permission(run.client)
        with run.db() as con:
            open_ = ledger.open_pushes(con, run.definition.name)
        out = []
        for push in open_:
            push_id, job_id = push["push_id"], push["job_id"]
            if run.untracked:
                out.append(self._settle_untracked(push))
                continue
            if not job_id:
                found = jobs.find_job_patiently(run.client, push["file_name"])
                if found is None and steps.may_still_send(push):
                    out.append({"push_id": push_id, "state": PushState.UPLOADING.value})
                    continue
                if found is None:
                    with run.db() as con:
                        released = ledger.release_push(con, push_id, "the server never received this upload")
                        state = PushState.NOT_RECEIVED.value if released else ledger.push_state(con, push_id)
                    out.append({"push_id": push_id, "state": state})
                    continue
                job_id = str(found["jobId"])
                self._queued(push_id, job_id)
            final = jobs.await_job(run.client, job_id, self.waiting)
            status = str(final.get("status"))
            if status not in TERMINAL_JOB_STATES:
                out.append({"push_id": push_id, "state": _open_state(status)})
                continue
            counts = self._record(push_id, job_id, final)
            out.append({"push_id": push_id, "state": status, **counts})
        return out

    def _settle_untracked(self, push: dict[str, Any]) -> dict[str, Any]:
        """An open upload when the API serves no bulk-jobs list: with a job id the server accepted it;
        without one nothing can say whether it got there, so its rows become `unknown` (never re-sent)."""
        push_id = push["push_id"]
        if push["job_id"]:
            self._accepted(push_id, str(push["job_id"]))
            return {"push_id": push_id, "state": PushState.ACCEPTED.value}
        if steps.may_still_send(push):
            return {"push_id": push_id, "state": PushState.UPLOADING.value}
        problem = "its process ended before the answer was recorded"
        with self.run.db() as con:
            marked = ledger.mark_unknown(con, push_id, _unknown_reason(problem))
            state = PushState.UNKNOWN.value if marked else ledger.push_state(con, push_id)
        if marked:
            self.run.result.warnings.append(self._unknown_help(push_id, problem))
        return {"push_id": push_id, "state": state}

    # -- check, plan, files ---------------------------------------------------------------------------

    def check(self, con: Connection, rows: Sequence[Mapping[str, Any]]) -> list[CheckedRow]:
        self.types = field_types(self.run.definition, self._custom_fields(con))
        return validate_rows(self.run.definition, rows, self.types)

    def _custom_fields(self, con: Connection) -> list[dict[str, Any]]:
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
        community = getattr(self.run.settings, "community_id", None)
        data = self.run.client.request_json("user_fields",
                                            path_params={"communityId": community} if community else None)
        return list(data or [])

    def plan(self, checked: list[CheckedRow], entries: dict[str, LedgerEntry]) -> Plan:
        return plan_rows(self.run.definition, checked, entries)

    def write_files(self, plan: Plan, stem: str) -> None:
        """Write the upload file and its preview; note formula-like text as warnings."""
        definition, result = self.run.definition, self.run.result
        csv_rows = [CsvRow(r.email, r.values, dict(definition.columns)) for r in plan.send]
        layout = [CsvColumn(c, op if c in self.types and self.types[c].numeric else None)
                  for c, op in definition.columns.items()]
        path = self.run.files / f"{stem}.csv"
        self.content, preview = write_files(csv_rows, layout, path)
        result.csv_path, result.preview_path = path, preview
        for row_number, col, value in formula_warnings(csv_rows):
            result.warnings.append(f"row {row_number} ({csv_rows[row_number - 1].email}) {col}: {value!r} "
                                   "starts like a spreadsheet formula; sent as is, neutralised in the preview")
            plan.send[row_number - 1].warning = "formula-like text"

    # -- send, confirm, record ------------------------------------------------------------------------

    def send(self, plan: Plan) -> None:
        steps.checkpoint("before_upload")
        job = self._upload()
        if job is None:
            return
        steps.checkpoint("after_job_recorded")
        self._finish(str(job["jobId"]))

    def _upload(self) -> dict[str, Any] | None:
        """Upload once. Returns the job (at least its id), or None when the run ends here."""
        run, result = self.run, self.run.result
        name = file_name(run.push_id)
        try:
            response = run.client.upload_csv(run.definition.endpoint, filename=name, content=self.content)
        except (AmbiguousWriteError, ContractError) as exc:  # a 2xx we could not read counts as unknown
            return self._reconcile(str(exc))
        except ReturningError as exc:  # a definite refusal: the server did not take the file
            with run.db() as con:
                ledger.release_push(con, run.push_id, str(exc))
            if isinstance(exc, ApiError) and exc.status in jobs.UNSERVED_STATUS:
                raise self._unserved_upload(exc) from None
            raise
        steps.checkpoint("after_upload")  # the server has the file; nothing about it is recorded yet
        result.sent = result.would_send
        job_id = jobs.job_id_of(response)
        if run.untracked:  # no job list: accepted, and that is all anyone can know here
            self._accepted(run.push_id, job_id)
            return None
        if job_id is None:  # older servers: find the job through the list (8.1)
            found = jobs.find_job_patiently(run.client, name)
            if found is None:
                result.state = "pending"
                result.error = "upload accepted but its job is not listed yet; the next run will look again"
                return None
            job_id = str(found["jobId"])
        self._queued(run.push_id, job_id)
        result.job_id = job_id
        return {"jobId": job_id}

    def _reconcile(self, problem: str) -> dict[str, Any] | None:
        """The upload's answer was lost: the job list says whether the server has the file."""
        run, result = self.run, self.run.result
        name = file_name(run.push_id)
        if run.untracked:  # nothing can say whether the server has it: never sent again blindly
            with run.db() as con:
                ledger.mark_unknown(con, run.push_id, _unknown_reason(problem))
            result.state, result.sent = PushState.UNKNOWN.value, result.would_send
            result.error = self._unknown_help(run.push_id, problem)
            return None
        found = jobs.find_job_patiently(run.client, name)
        if found is None:
            with run.db() as con:
                ledger.release_push(con, run.push_id, f"upload outcome unknown and no job {name} listed: {problem}")
            result.state = PushState.NOT_RECEIVED.value
            result.error = f"upload lost ({problem}); the server has no job for it, the next run sends again"
            return None
        self._queued(run.push_id, str(found["jobId"]))
        result.sent, result.job_id = result.would_send, str(found["jobId"])
        return found

    def _unknown_help(self, push_id: str, problem: str) -> str:
        name, upload = self.run.definition.name, file_name(push_id)
        return (f"upload {upload}: its outcome is unknown ({problem}) and the API serves no bulk-jobs list "
                f"to look it up: its rows will NOT be sent again. Look for {upload} in the community's Api Log "
                f"(community settings), then run `returning-sync push {name} --confirm {push_id}` if it is "
                f"there, or `returning-sync push {name} --release {push_id}` if it is not (the next run "
                "sends released rows)")

    def _unserved_upload(self, exc: Any) -> Exception:
        """The upload endpoint answered 404/405: one line naming it, whether it is [doc] or [assumed],
        and the registry override that changes its path. Nothing was sent (the rows stay sendable)."""
        from pipelines.skips import path_override

        definition = self.run.definition
        name = definition.endpoint
        method, path, mark = jobs.endpoint_mark(self.run.client, name)
        said = f": {exc.server_message}" if exc.server_message else ""
        return UploadUnserved(
            name, exc.status, f"push {definition.name}: {method} {path} [{mark}] answered HTTP {exc.status}{said}; "
            f"nothing was sent (its rows stay unsent); if the API serves it elsewhere, set "
            f"{path_override(name, path)} (the path it serves)")

    def _accepted(self, push_id: str, job_id: str | None) -> None:
        """The server accepted the upload of `push_id`, and serves no job status to follow it."""
        with self.run.db() as con:
            ledger.record_accepted(con, push_id, jobs.UNTRACKED_REASON, job_id)
        result = self.run.result
        if push_id == result.push_id:
            result.state, result.job_id, result.unconfirmed = PushState.ACCEPTED.value, job_id, result.sent

    def _queued(self, push_id: str, job_id: str) -> None:
        """The server has the upload of `push_id` as job `job_id`."""
        with self.run.db() as con:
            ledger.update_push(con, push_id, state=PushState.QUEUED.value, job_id=job_id, uploaded_at=ledger.now())

    def _finish(self, job_id: str) -> None:
        run, result = self.run, self.run.result
        final = jobs.await_job(run.client, job_id, self.waiting)
        status = str(final.get("status"))
        result.job_id = job_id
        if status not in TERMINAL_JOB_STATES:
            with run.db() as con:
                ledger.update_push(con, run.push_id, state=_open_state(status), job_status=status)
            result.state = "pending"
            result.error = f"job {job_id} still {status} after {self.waiting.timeout:.0f}s; the next run resumes it"
            return
        counts = self._record(run.push_id, job_id, final)
        result.state = status
        result.success, result.failed = counts["success_rows"], counts["failed_rows"]
        result.skipped = counts["skipped_rows"]
        result.given_up += counts["given_up_rows"]

    def _record(self, push_id: str, job_id: str, job: dict[str, Any]) -> dict[str, int]:
        """A finished job's per-row results in the ledger (a row the job does not report: its status)."""
        status = str(job.get("status"))
        details = jobs.row_results(self.run.client, job_id)
        with self.run.db() as con:
            results = {}
            for n in ledger.sent_row_numbers(con, push_id):
                if n in details:
                    results[n] = details[n]
                elif status == PushState.COMPLETED:
                    results[n] = ("success", None)
                else:
                    results[n] = ("failed", f"job {status}: {job.get('error') or 'no per-row result reported'}")
            return ledger.record_results(con, push_id, results, self.run.definition.retries, job)


def _open_state(job_status: str) -> str:
    """The push's state while its job is not terminal."""
    return (PushState.PROCESSING if job_status == PushState.PROCESSING else PushState.QUEUED).value


def _unknown_reason(problem: str) -> str:
    return f"upload outcome unknown ({problem}) and {jobs.UNTRACKED_REASON}"
