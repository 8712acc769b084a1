"""One sync of the warehouse, as the command line and Dagster both run it: `sync_session()`.

The session holds the warehouse directory's sync lock (`sync_lock`), the API client and
the warehouse itself (DuckDB's file opened for writing once), builds the source over the selected
datasets for the run's `Window` and the dlt pipeline, and repairs what a killed run left
(`repair`) before it hands itself to the caller. The caller runs the source into the
pipeline: the command line with `SyncSession.run`, Dagster through dagster-dlt's `DagsterDltResource.run`.
When the caller's block ends without an error the load is committed: the session lets the webhook
segments it held go and records completeness and drift beside the data (`pipelines.afterload`); once
the lock is released it forgets the members the platform deleted long enough ago
(`privacy.erase_deleted_after_days`).

A `Window` says what a run reads: from the stored high-water marks (the default), from a day on
(`--since`) or a range of whole days (Dagster partitions, `Window.of_days`).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.helpers import pipeline_drop
from dlt.sources import DltSource

from pipelines.afterload import Bookkeeping, bookkeep
from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import ProgressCallback, Tracker
from pipelines.errors import ConfigError, ReturningError, SyncBusy
from pipelines.forget import erase_deleted
from pipelines.overrides import CursorNeverAdvances, stalled_cursors
from pipelines.pipeline import loader_file_format, make_pipeline, make_source, select_resources
from pipelines.skips import Skip, refused_key
from pipelines.tables import RESOURCES
from warehouse.connection import hold_for_load

__all__ = ["SyncSession", "Window", "open_warehouse", "repair", "reset_cursors", "sync_lock", "sync_session"]
READER_WAIT = 30.0  # seconds a sync waits for readers (`returning-sync sql`) to let go of the warehouse


def abort_partial_load(pipeline: dlt.Pipeline) -> list[str]:
    """A load killed midway leaves its package half loaded. dlt would run the interrupted jobs
    again, and a job whose insert committed just before the kill loads its rows twice. Abort the
    package instead: dlt restores the local state (cursors) and schemas to what they were before
    it was extracted, so this run reads its data again and merges it once.
    Returns the resources a full refresh in the aborted package had already emptied: their old
    cursors came back with the state, so the caller must refresh them again or their history is lost."""
    for load_id in pipeline.list_normalized_load_packages():
        jobs = pipeline.get_load_package_info(load_id).jobs
        if jobs["started_jobs"] or jobs["completed_jobs"] or jobs["failed_jobs"]:
            package = pipeline.get_load_package_state(load_id)
            dropped = {t["name"] for t in package.get("dropped_tables") or [] if isinstance(t, dict)}
            pipeline.abort_packages()
            return [r for r in RESOURCES if r in dropped]
    return []


@contextmanager
def open_warehouse(settings: Settings, wait: float = READER_WAIT) -> Iterator[Any]:
    """The warehouse, held for the whole run (see `warehouse.connection.hold_for_load`): DuckDB's file
    opened for writing once, so a reader cannot break the load halfway; a server's login checked once."""
    with hold_for_load(settings.location, memory_limit=settings.duckdb_memory_limit, wait=wait) as held:
        yield held


def repair(pipeline: dlt.Pipeline, settings: Settings, client: ReturningClient | None = None) -> None:
    """Before loading anything new, under the sync lock: abort what a run killed mid-load left
    (see `abort_partial_load`), and redo a full refresh of an earlier release killed after it
    emptied tables: their cursors are reset and they are read again from the start. That redo is
    noted beside the lock and stays owed until a refresh succeeds, even if this run fails too."""
    owed = lock_path(settings).with_name("refresh-owed.json")
    redo = sorted(set(abort_partial_load(pipeline)) | set(json.loads(owed.read_text()) if owed.exists() else []))
    # a package a killed run extracted but never started loading is complete: load it now. Left to
    # `pipeline.run`, dlt would load it and return without reading anything new
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        pipeline.load()
    if redo:
        owed.write_text(json.dumps(redo))
        reset_cursors(pipeline, redo)
        pipeline.run(make_source(settings, redo, refresh=True, client=client),
                     loader_file_format=loader_file_format(settings))
        owed.unlink()


def reset_cursors(pipeline: dlt.Pipeline, resources: list[str]) -> list[str]:
    """A full refresh's first step: forget the stored state (high-water marks, per-channel marks,
    stored days, users-pass stamps) of `resources`, committed to the warehouse on its own, so the
    run that follows reads them from the start. The tables are never dropped or emptied: what the
    read brings is merged over what they hold, and history the API no longer serves (deleted
    members' daily history and messages, webhook events already loaded) stays. A run that fails
    after this leaves the cursors reset: the next run reads everything again, losing nothing.
    Returns the resources whose state was reset (none on a pipeline that never ran)."""
    pipeline.sync_destination()  # a fresh machine: the state and schema come from the warehouse
    if not pipeline.default_schema_name:
        return []
    drop = pipeline_drop(pipeline, resources=[f"re:^{name}$" for name in resources], state_only=True)
    if drop.is_empty:
        return []
    drop()
    return list(drop.info["resource_states"])


def lock_path(settings: Settings) -> Path:
    return settings.location.workdir / "sync.lock"


@contextmanager
def sync_lock(settings: Settings) -> Iterator[None]:
    """Hold the warehouse directory's sync lock; SyncBusy when another process keeps it longer
    than `settings.lock_wait` seconds."""
    path = lock_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # the first write beside the warehouse: say which setting is wrong
        raise ConfigError(f"RETURNING_WAREHOUSE {Path(settings.warehouse)} cannot be written "
                          f"({exc.strerror}: {exc.filename})") from None
    try:
        deadline = time.monotonic() + settings.lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                    raise SyncBusy(
                        f"another sync is already loading into {Path(settings.warehouse)} ({holder}); "
                        "wait for it to finish, or set RETURNING_SYNC_LOCK_WAIT to the seconds to wait"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@dataclass(frozen=True)
class Window:
    """What the incremental datasets read. `start`/`end` bound the read (half-open); `backfill`
    leaves the stored high-water marks where they are. The default reads from the marks to now
    and moves them (a first sync: everything)."""

    start: date | datetime | None = None
    end: date | datetime | None = None
    backfill: bool = False

    @classmethod
    def since(cls, day: date | None) -> Window:
        """`--since`: from `day` on, the marks untouched (None: from the marks)."""
        return cls() if day is None else cls(start=day, backfill=True)

    @classmethod
    def of_days(cls, start: datetime, end: datetime, *, open_day: bool) -> Window:
        """Whole days [start, end), as a run of Dagster's day partitions reads them.

        Closed days (`open_day` False: `end` is past) are read exactly, the marks untouched, so a
        backfill of old days never moves what the next scheduled run reads from. A range that
        reaches the open day (today, still filling) reads from `start`, or from a stored mark
        later than `start`, to now, and moves the marks: today's hourly run reads only what is new.
        A mark later than `start` is trusted to have read the rest of its day first, which holds for
        the marks the command line and the day partitions move (each open-day run starts at most at
        its day's start)."""
        return cls(start=start, end=end, backfill=True) if not open_day else cls(start=start)

    def describe(self) -> str:
        def day(value: date | datetime | None) -> str:
            return value.strftime("%Y-%m-%d") if value is not None else ""

        if self.start is None and self.end is None:
            return "from the stored high-water marks to now"
        if self.end is None:
            marks = "the stored marks untouched" if self.backfill else "or the later stored mark"
            return f"from {day(self.start)} ({marks}) to now"
        return f"[{day(self.start)}, {day(self.end)}), the stored marks untouched"


@dataclass
class SyncSession:
    """What a running sync holds; see the module docstring."""

    settings: Settings
    names: list[str]  # the selected datasets with the parents they need, in source order
    window: Window
    source: DltSource
    pipeline: dlt.Pipeline
    client: ReturningClient
    tracker: Tracker
    connection: Any  # the DuckDB connection the load holds (None on a server destination)
    refreshed: list[str] = field(default_factory=list)  # full refresh: the resources whose cursors were reset
    info: Any = None  # dlt's LoadInfo of the run
    bookkeeping: Bookkeeping = field(default_factory=Bookkeeping)
    erased: int = 0  # members forgotten after the load (set once the session closed)
    seconds: float = 0.0

    @property
    def loader_file_format(self) -> Any:
        return loader_file_format(self.settings)

    def run(self) -> Any:
        """Load the source (the command line's run; Dagster runs it through dagster-dlt)."""
        self.info = self.pipeline.run(self.source, loader_file_format=self.loader_file_format)
        return self.info

    def skips(self) -> list[Skip]:
        """The selected datasets the run left out, and why."""
        return self.tracker.skips.all()

    def stalled(self, names: Iterable[str] | None = None) -> list[CursorNeverAdvances]:
        """Incremental datasets whose cursor field no record had (pipelines/overrides.py)."""
        return stalled_cursors(self.settings.registry, list(self.names if names is None else names),
                               self.client.stats.cursor_counts())

    def refused(self, names: Iterable[str] | None = None) -> ReturningError | None:
        """The key's refusal when it refused every selected dataset the settings leave on (exit 3)."""
        wanted = [n for n in (self.names if names is None else names) if n not in self.settings.disabled]
        skipped = [s for s in self.skips() if names is None or s.dataset in wanted]
        return refused_key(skipped, wanted)

    def _committed(self) -> None:
        self.tracker.loaded()  # committed: landed webhook segments can go
        if self.info is None:
            trace = self.pipeline.last_trace
            self.info = trace.last_load_info if trace else None
        self.bookkeeping = bookkeep(self.settings, self.connection, self.pipeline, self.tracker, self.info)


@contextmanager
def sync_session(
    settings: Settings, resources: Iterable[str] | None = None, *, window: Window | None = None,
    full_refresh: bool = False, progress: ProgressCallback | None = None, strict: bool = False,
) -> Iterator[SyncSession]:
    """A sync of the selected datasets (None: all), see the module docstring. One that cannot be read
    is skipped (pipelines/skips.py) while the others commit; `strict` ends the run at its first
    failure. An error whose cause is one of ours is raised as that cause (its exit code)."""
    names = select_resources(resources)
    window = window or Window()
    started = time.monotonic()
    tracker = Tracker(callback=progress)
    with sync_lock(settings), ReturningClient(settings) as client, open_warehouse(settings) as connection:
        source = make_source(settings, names, start_date=window.start, end_date=window.end,
                             backfill=window.backfill, refresh=full_refresh, client=client, tracker=tracker,
                             strict=strict)
        pipeline = make_pipeline(settings, connection)
        session = SyncSession(settings, names, window, source, pipeline, client, tracker, connection)
        try:
            repair(pipeline, settings, client)  # what a run killed mid-load left: aborted, never loaded twice
            session.refreshed = reset_cursors(pipeline, names) if full_refresh else []
            yield session
        except Exception as exc:
            cause = returning_cause(exc)
            if cause is not None:
                raise cause from None
            raise
        session._committed()
    session.seconds = time.monotonic() - started
    # privacy.erase_deleted_after_days: members the platform deleted long enough ago are forgotten
    session.erased = len(erase_deleted(settings))


def returning_cause(exc: BaseException) -> ReturningError | None:
    """The first of our errors in `exc`'s chain (dlt wraps what a resource raised)."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, ReturningError):
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None
