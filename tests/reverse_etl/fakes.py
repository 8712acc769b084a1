"""An in-memory stand-in for the bulk-update endpoints, for unit tests of the runner's bookkeeping.

End-to-end tests use the real simulator; this fake only lets the ledger logic be tested in isolation.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import AmbiguousWriteError, ContractError, PermissionDenied


@dataclass
class FakeServer:
    users: dict[str, dict[str, Any]]
    return_job_id: bool = True
    lose_next_response: bool = False  # apply the upload, then lose the answer
    garble_next_response: bool = False  # apply the upload, then answer without `data`
    drop_next_request: bool = False  # lose the upload before the server sees it
    fail_emails: set[str] = field(default_factory=set)
    polls_before_done: int = 0
    allow_bulk: bool = True
    jobs: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: int = 0
    polls: dict[str, int] = field(default_factory=dict)

    def apply(self, filename: str, content: bytes) -> dict[str, Any]:
        rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
        header, data = rows[0], rows[1:]
        job_id = f"{len(self.jobs) + 1:024x}"
        results = []
        for n, cells in enumerate(data, start=1):
            row = dict(zip(header, cells, strict=True))
            email = row["email"]
            user = self.users.get(email)
            if user is None or email in self.fail_emails:
                results.append({"row": n, "email": email, "status": "failed",
                                "error": "unknown email" if user is None else "rejected"})
                continue
            for col in header[1:]:
                if col.endswith("_op"):
                    continue
                op = row.get(f"{col}_op", "overwrite")
                value = row[col]
                if op == "add":
                    user[col] = user.get(col, 0) + float(value)
                elif op == "subtract":
                    user[col] = user.get(col, 0) - float(value)
                else:
                    user[col] = value
            results.append({"row": n, "email": email, "status": "success", "error": None})
        failed = sum(r["status"] == "failed" for r in results)
        job = {"jobId": job_id, "type": "users", "fileName": filename,
               "status": "completed_with_errors" if failed else "completed",
               "totalRows": len(data), "processedRows": len(data), "successRows": len(data) - failed,
               "failedRows": failed}
        self.jobs.insert(0, job)
        self.details[job_id] = results
        return job


class FakeClient:
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _permission(self, endpoint: str) -> None:
        if not self.server.allow_bulk:
            raise PermissionDenied(endpoint, "bulkUpdateUser")

    def request_json(self, endpoint: str, *, path_params: dict[str, Any] | None = None,
                     params: dict[str, Any] | None = None, json: Any = None) -> Any:
        if endpoint == "user_fields":
            return [{"field": "loyalty_points", "type": "numerical"}, {"field": "city", "type": "text"}]
        self._permission(endpoint)
        if endpoint == "bulk_jobs":
            return {"pagination": {"page": 1, "limit": 1, "total": len(self.server.jobs)},
                    "results": self.server.jobs[:1]}
        if endpoint == "bulk_job":
            job_id = (path_params or {})["jobId"]
            job = next(j for j in self.server.jobs if j["jobId"] == job_id)
            seen = self.server.polls.get(job_id, 0)
            self.server.polls[job_id] = seen + 1
            if seen < self.server.polls_before_done:
                return {**job, "status": "processing"}
            return dict(job)
        raise AssertionError(endpoint)

    def paginate(self, endpoint: str, **kwargs: Any) -> Any:
        self._permission(endpoint)
        if endpoint == "bulk_jobs":
            yield [dict(j) for j in self.server.jobs]
        elif endpoint == "bulk_job_details":
            yield list(self.server.details[kwargs["path_params"]["jobId"]])
        else:
            raise AssertionError(endpoint)

    def upload_csv(self, endpoint: str, *, filename: str, content: bytes) -> dict[str, Any]:
        self._permission(endpoint)
        if self.server.drop_next_request:
            self.server.drop_next_request = False
            raise AmbiguousWriteError(endpoint, "ReadTimeout")
        self.server.uploads += 1
        job = self.server.apply(filename, content)
        if self.server.lose_next_response:
            self.server.lose_next_response = False
            raise AmbiguousWriteError(endpoint, "RemoteProtocolError")
        if self.server.garble_next_response:
            self.server.garble_next_response = False
            raise ContractError(endpoint, "response lacks object 'data'")
        data: dict[str, Any] = {"message": "Bulk update user process is queued."}
        if self.server.return_job_id:
            data["jobId"] = job["jobId"]
        return data
