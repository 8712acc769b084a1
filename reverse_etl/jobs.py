"""The server side of a push: upload once, find the job, wait for it, read its per-row results.

Uploads are never retried here or in the client: after an ambiguous outcome the only safe next step
is to look the job up by its unique file name in the bulk-jobs list (contract 8.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pipelines.errors import ApiError
from reverse_etl.states import TERMINAL_JOB_STATES


class Client(Protocol):
    def request_json(self, endpoint: str, *, path_params: dict[str, Any] | None = None,
                     params: dict[str, Any] | None = None, json: Any = None) -> Any: ...

    def paginate(self, endpoint: str, **kwargs: Any) -> Any: ...

    def upload_csv(self, endpoint: str, *, filename: str, content: bytes) -> Any: ...


@dataclass(frozen=True)
class Waiting:
    """How long to wait for a job: poll with backoff until `timeout` seconds have passed."""

    timeout: float = 120.0
    first: float = 0.2
    factor: float = 1.6
    ceiling: float = 5.0


UNSERVED_STATUS = frozenset({404, 405})  # an endpoint the API does not serve (as pipelines.skips)
UNTRACKED_REASON = "the API serves no bulk job status; see Api Log in community settings"


def endpoint_mark(client: Client, name: str) -> tuple[str, str, str]:
    """(method, path, "doc" | "assumed") of the registry entry `name` as the client's settings have it."""
    settings = getattr(client, "settings", None)
    ep = settings.registry.get(name) if settings is not None else None
    if ep is None:
        from pipelines.registry import DEFAULT_REGISTRY

        ep = DEFAULT_REGISTRY[name]
    return ep.method, ep.path, ep.status


def check_permission(client: Client) -> str | None:
    """A cheap read of the bulk-jobs list (8.3), which needs `bulkUpdateUser`: a key without it fails
    here (PermissionDenied, exit 3), before any upload. Returns None when the list is served, else
    the one line that says it is not (HTTP 404/405): no permission probe is possible then (the
    upload itself says whether the key may), and no upload can be followed to its job."""
    try:
        client.request_json("bulk_jobs")  # page sizes and parameter names live in the client's registry
    except ApiError as exc:
        if exc.status not in UNSERVED_STATUS:
            raise
        method, path, mark = endpoint_mark(client, "bulk_jobs")
        return (f"{method} {path} [{mark}] answered HTTP {exc.status}: {UNTRACKED_REASON}. An upload the "
                "server accepts is recorded as accepted (its rows unconfirmed, never sent again); one whose "
                "answer is lost is recorded as unknown and not sent again")
    return None


def job_id_of(response: Any) -> str | None:
    if isinstance(response, dict):
        for key in ("jobId", "job_id", "id"):
            if response.get(key):
                return str(response[key])
    return None


def find_job(client: Client, file_name: str, *, max_pages: int = 20) -> dict[str, Any] | None:
    """The newest job whose fileName is `file_name` (jobs are listed newest first)."""
    for pages, page in enumerate(client.paginate("bulk_jobs"), start=1):
        for job in page:
            if job.get("fileName") == file_name:
                return dict(job)
        if pages >= max_pages:
            break
    return None


def find_job_patiently(client: Client, file_name: str, *, attempts: int = 4, pause: float = 0.5,
                       sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """`find_job`, asked a few times: a just-queued job may take a moment to be listed."""
    for i in range(attempts):
        job = find_job(client, file_name)
        if job is not None:
            return job
        if i + 1 < attempts:
            sleep(pause * (i + 1))
    return None


def get_job(client: Client, job_id: str) -> dict[str, Any]:
    return dict(client.request_json("bulk_job", path_params={"jobId": job_id}))


def await_job(client: Client, job_id: str, waiting: Waiting, *,
              sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll the job until it is terminal or `waiting.timeout` passes; return its latest state."""
    started = clock()
    delay = waiting.first
    while True:
        job = get_job(client, job_id)
        if job.get("status") in TERMINAL_JOB_STATES:
            return job
        if clock() - started + delay > waiting.timeout:
            return job
        sleep(delay)
        delay = min(delay * waiting.factor, waiting.ceiling)


def row_results(client: Client, job_id: str) -> dict[int, tuple[str, str | None]]:
    """1-based CSV data row -> (status, error) from the job's details."""
    out: dict[int, tuple[str, str | None]] = {}
    for page in client.paginate("bulk_job_details", path_params={"jobId": job_id}):
        for detail in page:
            try:
                row = int(detail["row"])
            except (KeyError, TypeError, ValueError):
                continue
            out[row] = (str(detail.get("status") or "failed"), detail.get("error"))
    return out
