"""Running the source into the warehouse: `make_pipeline`, `make_source`, `run_sync`.

One sync at a time per warehouse directory (its dlt working directory is shared): `run_sync` holds
`sync_lock`, an advisory file lock the operating system releases when the process ends, however it
ends. A second sync waits `RETURNING_SYNC_LOCK_WAIT` seconds (default 0) and then refuses.

Test hook: `RETURNING_SYNC_TEST_KILL_AT=<step>:<n>` (step `extract`, `normalize` or `load`) SIGKILLs
the process at the n-th progress update dlt reports in that step, `<step>:<table>` at the first
update for that table (`extract:_dlt_pipeline_state`: the state is extracted, not yet committed).
Inert unless set.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.runtime.collector import NullCollector
from dlt.pipeline.helpers import pipeline_drop
from dlt.sources import DltSource

from pipelines.afterload import Bookkeeping, bookkeep
from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import ProgressCallback, Tracker
from pipelines.errors import ConfigError, ReturningError, SyncBusy
from pipelines.forget import erase_deleted
from pipelines.overrides import CursorNeverAdvances, stalled_cursors
from pipelines.skips import Skip, plan, refused_key
from pipelines.source import returning_ai
from pipelines.tables import ARROW_TABLES, PARENTS, RESOURCES, table
from warehouse.connection import hold_for_load
from warehouse.destination import dlt_destination
from warehouse.location import RAW_SCHEMA

__all__ = ["KILL_ENV", "ResourceResult", "SyncResult", "make_pipeline", "make_source", "run_sync"]
log = logging.getLogger("pipelines.sync")
PIPELINE_NAME = "returning_ai"
# destination -> dlt loader file format (None: dlt's default); chosen by measurement in bench/
LOADER_FILE_FORMATS: dict[str, Any] = {}  # dlt's default for the rest: insert_values on Postgres
# destination -> the file format of the tables the resources hand dlt as Arrow (the big ones): on
# Postgres a COPY (`warehouse/dlt_patches.py` keeps '' apart from NULL), measured in bench/
ARROW_FILE_FORMATS: dict[str, str] = {"postgres": "csv"}
KILL_ENV = "RETURNING_SYNC_TEST_KILL_AT"
READER_WAIT = 30.0  # seconds a sync waits for readers (`returning-sync sql`) to let go of the warehouse


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


def make_pipeline(settings: Settings, connection: Any = None) -> dlt.Pipeline:
    """The dlt pipeline writing to the configured warehouse (DuckDB: through `connection`, the file
    the sync holds, when given). Its working directory sits beside the warehouse file; the state
    also lives in the warehouse, so a fresh machine resumes from it."""
    location = settings.location
    location.pipelines_dir.mkdir(parents=True, exist_ok=True)
    kill_at = os.environ.get(KILL_ENV)
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt_destination(location, connection),
        dataset_name=RAW_SCHEMA,
        pipelines_dir=str(location.pipelines_dir),
        **({"progress": KillAt(kill_at)} if kill_at else {}),
    )


def loader_file_format(settings: Settings) -> Any:
    """dlt's load file format for the destination (bench/: measured, `LOADER_FILE_FORMATS`)."""
    return LOADER_FILE_FORMATS.get(settings.destination)


class KillAt(NullCollector):
    """Crash-test hook (see the module docstring): dlt reports progress to its collector; at the
    n-th update in the named step this process kills itself, as a power cut or OOM kill would."""

    def __init__(self, spec: str) -> None:
        step, _, at = spec.partition(":")
        if step not in ("extract", "normalize", "load") or not at:
            raise ConfigError(f"{KILL_ENV} must look like extract:3, load:2 or extract:<table>, got {spec!r}")
        self.target, self.at, self.current, self.count = step, at, "", 0

    def _start(self, step: str) -> None:
        self.current, self.count = step.split()[0].lower(), 0

    def update(self, name: str, inc: int = 1, *args: Any, **kwargs: Any) -> None:
        if self.current == self.target:
            self.count += 1
            if (self.at.isdigit() and self.count >= int(self.at)) or name == self.at:
                os.kill(os.getpid(), signal.SIGKILL)


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


def select_resources(resources: Iterable[str] | None) -> list[str]:
    """Validated resource names, in source order, with the parents some transformers need."""
    if resources is None:
        return list(RESOURCES)
    wanted = {r.strip() for r in resources if r.strip()}
    unknown = sorted(wanted - set(RESOURCES))
    if unknown:
        raise ConfigError(f"unknown resource(s): {', '.join(unknown)}; known: {', '.join(RESOURCES)}")
    if not wanted:
        raise ConfigError("no resources selected")
    wanted |= {PARENTS[r] for r in wanted if r in PARENTS}
    return [r for r in RESOURCES if r in wanted]


def make_source(
    settings: Settings, resources: Iterable[str] | None = None, *, start_date: date | None = None,
    end_date: date | None = None, backfill: bool = False, refresh: bool = False,
    client: ReturningClient | None = None, tracker: Tracker | None = None, strict: bool = False,
) -> DltSource:
    """The source over the selected resources. The disabled ones (`settings.disabled`) and those
    that need a disabled one (recorded as skipped in `tracker`) read nothing: on a first sync they
    only create their declared empty tables, so every table exists (pipelines/isolation.py)."""
    selected = select_resources(resources)
    names, blocked = plan(selected, settings.disabled)
    if tracker is not None:
        for skip in blocked:
            tracker.skips.add(skip)
    off = tuple(n for n in selected if n not in names)
    source = returning_ai(settings=settings, start_date=start_date, end_date=end_date, backfill=backfill,
                          refresh=refresh, client=client, tracker=tracker, strict=strict,
                          off=off).with_resources(*selected)
    if tracker is not None:  # what the rows carry, for the drift record (pipelines/drift.py)
        for name in source.selected_resources:
            source.resources[name].add_map(tracker.seen.observer(name))
    arrow_format = ARROW_FILE_FORMATS.get(settings.destination)
    if arrow_format:
        if settings.destination == "postgres":
            from warehouse import dlt_patches

            dlt_patches.apply("postgres_csv_keeps_empty_strings")
        for name in ARROW_TABLES:
            if name in source.selected_resources:
                source.resources[name].apply_hints(file_format=arrow_format)
    return source


def run_sync(
    settings: Settings, resources: list[str] | None = None, full_refresh: bool = False,
    since: date | None = None, progress: ProgressCallback | None = None, strict: bool = False,
) -> SyncResult:
    """Load the selected datasets. One that cannot be read is skipped and named in `skipped`
    (pipelines/skips.py) while the others commit; `strict` ends the run at the first failure."""
    names = select_resources(resources)
    started = time.monotonic()
    tracker = Tracker(callback=progress)
    with sync_lock(settings), ReturningClient(settings) as client, open_warehouse(settings) as connection:
        source = make_source(settings, names, start_date=since, backfill=since is not None,
                             refresh=full_refresh, client=client, tracker=tracker, strict=strict)
        pipeline = make_pipeline(settings, connection)
        try:
            repair(pipeline, settings, client)
            refreshed = reset_cursors(pipeline, names) if full_refresh else []
            info = pipeline.run(source, loader_file_format=loader_file_format(settings))
            tracker.loaded()  # committed: landed webhook segments can go
        except Exception as exc:
            cause = _returning_cause(exc)
            if cause is not None:
                raise cause from None
            raise
        kept = bookkeep(settings, connection, pipeline, tracker, info)
        result = SyncResult(seconds=time.monotonic() - started, load_ids=list(info.loads_ids),
                            requests=client.stats.requests, retries=client.stats.retry.retries,
                            refreshed=refreshed, bookkeeping=kept)
        trace = pipeline.last_trace
        counts = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
        result.tables = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
        for name in names:
            p = tracker.by_resource.get(name)
            eps = [client.stats.by_endpoint.get(e) for e in table(name).endpoints]
            result.resources[name] = ResourceResult(
                name=name, rows=result.tables.get(name, 0), pages=p.pages if p else 0,
                requests=sum(e.requests for e in eps if e), seconds=round(p.seconds, 3) if p else 0.0)
        result.stalled = stalled_cursors(settings.registry, names, client.stats.cursor_counts())
        for stall in result.stalled:
            log.warning("%s", stall)
            result.notes.append(f"warning: {stall.problem}")
    # privacy.erase_deleted_after_days: members the platform deleted long enough ago are forgotten
    result.erased = len(erase_deleted(settings))
    result.disabled = [n for n in names if n in settings.disabled]
    result.skipped = tracker.skips.all()
    refused = refused_key(result.skipped, [n for n in names if n not in settings.disabled])
    if refused is not None:
        raise refused
    return result


def _returning_cause(exc: BaseException) -> ReturningError | None:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, ReturningError):
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None
