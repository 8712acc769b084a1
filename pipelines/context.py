"""What the resources of one sync share: the client, the server's day, cached look-ups,
progress counters and read access to what the warehouse already holds."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dlt

from pipelines.client import ReturningClient
from pipelines.completeness import Counts
from pipelines.config import Settings
from pipelines.drift import Seen
from pipelines.errors import ApiError, PermissionDenied
from pipelines.memo import RunMemo
from pipelines.shapes import parse_day, to_utc_datetime
from pipelines.skips import Skips
from warehouse import readback

log = logging.getLogger("pipelines.sync")


@dataclass
class ResourceProgress:
    pages: int = 0
    rows: int = 0
    started: float | None = None
    finished: float | None = None

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started


ProgressCallback = Callable[[str, ResourceProgress], None]


@dataclass
class Tracker:
    callback: ProgressCallback | None = None
    by_resource: dict[str, ResourceProgress] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    finishers: list[Callable[[], Any]] = field(default_factory=list, repr=False)
    skips: Skips = field(default_factory=Skips)  # the datasets this run left out, and why (pipelines/skips.py)
    counts: Counts = field(default_factory=Counts)  # what the server counted (pipelines/completeness.py)
    seen: Seen = field(default_factory=Seen)  # what the rows carried (pipelines/drift.py)

    def start(self, resource: str) -> None:
        p = self.by_resource.setdefault(resource, ResourceProgress())
        if p.started is None:
            p.started = time.monotonic()

    def after_load(self, action: Callable[[], Any]) -> None:
        """Run `action` once the load of this run is committed (see `loaded`)."""
        with self.lock:
            self.finishers.append(action)

    def loaded(self) -> None:
        """The run's load is committed: what waited for it runs now (landed segments removed)."""
        with self.lock:
            actions, self.finishers[:] = list(self.finishers), []
        for action in actions:
            action()

    def page(self, resource: str, rows: int) -> None:
        with self.lock:  # fan-outs report from worker threads
            p = self.by_resource.setdefault(resource, ResourceProgress(started=time.monotonic()))
            p.pages += 1
            p.rows += rows
            p.finished = time.monotonic()
            if self.callback is not None:
                self.callback(resource, p)


class RunContext:
    """Shared by the resources of one source instance (one run)."""

    def __init__(
        self, settings: Settings, *, client: ReturningClient | None = None,
        start_date: date | datetime | None = None, end_date: date | datetime | None = None,
        backfill: bool = False, refresh: bool = False, tracker: Tracker | None = None, strict: bool = False,
    ) -> None:
        self.settings = settings
        self._client = client
        self.start = to_utc_datetime(start_date)
        self.end = to_utc_datetime(end_date)
        self.backfill = backfill
        self.refresh = refresh  # a full refresh: cursors were reset, everything is read again (tables kept)
        self.tracker = tracker or Tracker()
        self.strict = strict  # the first failure ends the run (no skip and report)
        self.memo = RunMemo()
        self.run_started = datetime.now(UTC)
        self._lock = threading.Lock()
        self._today: date | None = None
        self.known_email: str | None = None
        self._clients: dict[tuple[int, int], Any] = {}  # warehouse connections kept for the run
        self._running: Any = None  # the dlt pipeline running this source, once found
        weakref.finalize(self, _close_all, self._clients)

    @property
    def client(self) -> ReturningClient:
        with self._lock:
            if self._client is None:
                self._client = ReturningClient(self.settings)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- cached look-ups ---------------------------------------------------------------------
    def user_fields(self) -> list[dict[str, Any]]:
        if self.memo.user_fields is None:
            data = self.client.request_json("user_fields")
            self.memo.user_fields = data if isinstance(data, list) else []
        return self.memo.user_fields

    def today(self) -> date:
        """The server's current day. The API states no clock, but activity stats end their range
        on it (docs/contract-readings.md), so one one-day stats call for any live user tells it."""
        if self._today is not None:
            return self._today
        email = self.known_email or self._any_email()
        found: date | None = None
        if email:
            ep = self.settings.endpoint("activity_stats")
            try:
                data = self.client.request_json("activity_stats", json={
                    ep.name_for("identifier"): email, ep.name_for("identifier_type"): "email", ep.name_for("days"): 1})
            except (PermissionDenied, ApiError) as exc:  # a key without getUserStats, no such endpoint
                log.warning("the server's day is unknown (%s); using today's UTC date", exc)
                data = None
            data = ep.arrived([data])[0] if isinstance(data, dict) else None
            found = parse_day((data.get("range") or {}).get("end_date")) if isinstance(data, dict) else None
        self._today = found or datetime.now(UTC).date()
        return self._today

    def _any_email(self) -> str | None:
        ep = self.settings.endpoint("users_filter")
        pages = self.client.paginate("users_filter", json={ep.name_for("fields"): [ep.served(ep.name_for("email"))]})
        try:
            for page in pages:
                for user in page:
                    if user.get(ep.name_for("email")):
                        return str(user[ep.name_for("email")])
        finally:
            pages.close()
        return None

    # -- the warehouse as it stands ----------------------------------------------------------
    def pipeline(self) -> Any:
        """The dlt pipeline running this source (None outside a run). Kept once found: asking dlt
        resolves its configuration each time (~5 ms), and the fan-outs ask per chunk of users."""
        if self._running is None:
            self._running = _pipeline()
        return self._running

    def columns(self, table: str) -> set[str]:
        """Column names the warehouse table has (empty when it does not exist yet)."""
        try:
            pipeline = self.pipeline()
            if pipeline is None or table not in pipeline.default_schema.tables:
                return set()
            return set(pipeline.default_schema.get_table_columns(table))
        except Exception:  # noqa: BLE001
            return set()

    def query(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of `sql` (DuckDB's dialect, `?` placeholders; a list parameter after `IN` is an IN
        list) where `{table}` names the warehouse table; [] when it does not exist. The destination
        is asked even when a refresh has dropped the table from dlt's schema: until the load, its
        rows are still there."""
        with self._warehouse() as client:
            return [] if client is None else readback.query(client, table, sql, params) or []

    def anti_join(self, table: str, key: str, keep: Any, where: str = "") -> Any:
        """Rows of the warehouse table whose `key` is not in the Arrow table `keep` (one column
        `key`), as an Arrow table; None when the table does not exist. The comparison runs inside
        the warehouse, so a million kept keys cost a few dozen MB, not a Python set."""
        with self._warehouse() as client:
            return None if client is None else readback.keys_not_in(client, table, key, keep, where)

    @contextmanager
    def _warehouse(self) -> Iterator[Any]:
        """dlt's SQL client of the running pipeline, open. On a server destination one connection
        per thread is kept for the whole run (a users page asks a few questions; a new login per
        question would cost more than the question, and so would building the client again);
        DuckDB's are cheap views of the held file."""
        pipeline = self.pipeline()
        if pipeline is None:
            yield None
            return
        key = (threading.get_ident(), id(pipeline))
        with self._lock:
            kept = self._clients.get(key)
        if kept is not None:
            yield kept
            return
        client = pipeline.sql_client()
        if readback.dialect_of(client) == "duckdb":
            with client:
                yield client
            return
        client.open_connection()
        with self._lock:
            self._clients[key] = client
        yield client


def _close_all(clients: dict[tuple[int, int], Any]) -> None:
    for client in clients.values():
        with contextlib.suppress(Exception):
            client.close_connection()
    clients.clear()


def _pipeline() -> Any:
    """The running dlt pipeline with a schema; None outside a pipeline run (nothing stored to compare)."""
    try:
        pipeline = dlt.current.pipeline()
    except Exception:  # noqa: BLE001 - no active pipeline
        return None
    if pipeline is None or not pipeline.default_schema_name:
        return None
    return pipeline
