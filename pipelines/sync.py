"""The command line's sync: `run_sync` loads the selected datasets in one `sync_session()`
(pipelines/session.py) and reports what it did (`SyncResult`, the summary's figures).

One sync at a time per warehouse directory (its dlt working directory is shared): the session holds
`sync_lock`, an advisory file lock the operating system releases when the process ends, however it
ends. A second sync waits `RETURNING_SYNC_LOCK_WAIT` seconds (default 0) and then refuses (exit 6).
The pipeline and source are built in pipelines/pipeline.py (its `RETURNING_SYNC_TEST_KILL_AT` test hook
too); the names below are re-exported from there and from the session for their importers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from pipelines.afterload import Bookkeeping
from pipelines.config import Settings
from pipelines.context import ProgressCallback
from pipelines.lock import sync_lock
from pipelines.overrides import CursorNeverAdvances
from pipelines.pipeline import (
    ARROW_FILE_FORMATS,
    KILL_ENV,
    LOADER_FILE_FORMATS,
    loader_file_format,
    make_pipeline,
    make_source,
    select_resources,
)
from pipelines.repair import repair, reset_cursors
from pipelines.session import Window, open_warehouse, sync_session
from pipelines.skips import Skip
from pipelines.tables import table

__all__ = ["ARROW_FILE_FORMATS", "KILL_ENV", "LOADER_FILE_FORMATS", "ResourceResult", "SyncResult",
           "loader_file_format", "make_pipeline", "make_source", "open_warehouse", "repair", "reset_cursors",
           "run_sync", "select_resources", "sync_lock"]
log = logging.getLogger("pipelines.sync")


@dataclass
class ResourceResult:
    name: str
    rows: int = 0  # rows loaded into the resource's table
    pages: int = 0
    requests: int = 0  # HTTP attempts, retries included
    seconds: float = 0.0


@dataclass
class SyncResult:
    resources: dict[str, ResourceResult] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    load_ids: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # rows per loaded table (child tables too)
    notes: list[str] = field(default_factory=list)  # what a user should act on (printed with the summary)
    # incremental datasets whose cursor field no record had (pipelines/overrides.py)
    stalled: list[CursorNeverAdvances] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # full refresh: the resources whose cursors were reset
    skipped: list[Skip] = field(default_factory=list)  # selected datasets left out, and why (exit 5)
    disabled: list[str] = field(default_factory=list)  # selected datasets the settings turn off (not read)
    erased: int = 0  # members forgotten after the load (privacy.erase_deleted_after_days)
    bookkeeping: Bookkeeping = field(default_factory=Bookkeeping)  # completeness and drift of this run


def run_sync(
    settings: Settings, resources: list[str] | None = None, full_refresh: bool = False,
    since: date | None = None, progress: ProgressCallback | None = None, strict: bool = False,
) -> SyncResult:
    """Load the selected datasets. One that cannot be read is skipped and named in `skipped`
    (pipelines/skips.py) while the others commit; `strict` ends the run at the first failure."""
    with sync_session(settings, resources, window=Window.since(since), full_refresh=full_refresh,
                      progress=progress, strict=strict) as session:
        session.run()
    client, tracker, info = session.client, session.tracker, session.info
    result = SyncResult(seconds=session.seconds, load_ids=list(info.loads_ids), requests=client.stats.requests,
                        retries=client.stats.retry.retries, refreshed=session.refreshed,
                        bookkeeping=session.bookkeeping, erased=session.erased)
    trace = session.pipeline.last_trace
    counts = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    result.tables = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
    for name in session.names:
        p = tracker.by_resource.get(name)
        eps = [client.stats.by_endpoint.get(e) for e in table(name).endpoints]
        result.resources[name] = ResourceResult(
            name=name, rows=result.tables.get(name, 0), pages=p.pages if p else 0,
            requests=sum(e.requests for e in eps if e), seconds=round(p.seconds, 3) if p else 0.0)
    result.stalled = session.stalled()
    for stall in result.stalled:
        log.warning("%s", stall)
        result.notes.append(f"warning: {stall.problem}")
    result.disabled = [n for n in session.names if n in settings.disabled]
    result.skipped = session.skips()
    refused = session.refused()
    if refused is not None:
        raise refused
    return result
