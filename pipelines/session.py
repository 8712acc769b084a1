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

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltSource

from pipelines.afterload import Bookkeeping, bookkeep
from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import ProgressCallback, Tracker
from pipelines.errors import ReturningError
from pipelines.forget import erase_deleted
from pipelines.lock import sync_lock
from pipelines.overrides import CursorNeverAdvances, stalled_cursors
from pipelines.pipeline import loader_file_format, make_pipeline, make_source, select_resources
from pipelines.repair import repair, reset_cursors
from pipelines.skips import Skip, refused_key
from warehouse.connection import hold_for_load

__all__ = ["SyncSession", "Window", "open_warehouse", "repair", "reset_cursors", "sync_lock", "sync_session"]
READER_WAIT = 30.0  # seconds a sync waits for readers (`returning-sync sql`) to let go of the warehouse


@contextmanager
def open_warehouse(settings: Settings, wait: float = READER_WAIT) -> Iterator[Any]:
    """The warehouse, held for the whole run (see `warehouse.connection.hold_for_load`): DuckDB's file
    opened for writing once, so a reader cannot break the load halfway; a server's login checked once."""
    with hold_for_load(settings.location, memory_limit=settings.duckdb_memory_limit, wait=wait) as held:
        yield held


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
        backfill of old days never moves what the next scheduled run reads from. The open day alone
        (today's partition, still filling) is read as the command line's sync reads: from the stored
        marks, with their lookback and late-row checks, to now, moving the marks (a first run: all
        history). So it holds at least all of today up to the run, and may re-read the end of an
        earlier day (late rows, edits), which that day's partition then holds too. A range from an
        earlier day to today reads from its first day, or the later stored mark, to now, moving the
        marks; a mark is trusted to have read everything before it (every run that moves one does)."""
        if not open_day:
            return cls(start=start, end=end, backfill=True)
        return cls() if end - start <= timedelta(days=1) else cls(start=start)

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
        self.bookkeeping = bookkeep(self.settings, self.connection, self.pipeline, self.tracker, self.info,
                                    self.names)


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
