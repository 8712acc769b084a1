"""Running the source into the warehouse: `make_pipeline`, `make_source`, `run_sync`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dlt
from dlt.sources import DltSource

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import RESOURCE_ENDPOINTS, RESOURCES, ProgressCallback, Tracker
from pipelines.errors import ConfigError, ReturningError
from pipelines.source import PARENTS, returning_ai

PIPELINE_NAME = "returning_ai"
DATASET = "returning_raw"


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


def make_pipeline(settings: Settings) -> dlt.Pipeline:
    """The dlt pipeline writing to the DuckDB warehouse. Its working directory sits beside the
    warehouse file; the state also lives in the warehouse, so a fresh machine resumes from it."""
    warehouse = Path(settings.warehouse).expanduser().resolve()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=DATASET,
        pipelines_dir=str(warehouse.parent / ".dlt" / "pipelines"),
    )


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
    end_date: date | None = None, backfill: bool = False, client: ReturningClient | None = None,
    tracker: Tracker | None = None,
) -> DltSource:
    names = select_resources(resources)
    source = returning_ai(settings=settings, start_date=start_date, end_date=end_date, backfill=backfill,
                          client=client, tracker=tracker)
    return source.with_resources(*names)


def run_sync(
    settings: Settings, resources: list[str] | None = None, full_refresh: bool = False,
    since: date | None = None, progress: ProgressCallback | None = None,
) -> SyncResult:
    names = select_resources(resources)
    started = time.monotonic()
    tracker = Tracker(callback=progress)
    with ReturningClient(settings) as client:
        source = make_source(settings, names, start_date=since, backfill=since is not None,
                             client=client, tracker=tracker)
        pipeline = make_pipeline(settings)
        try:
            info = pipeline.run(source, refresh="drop_resources" if full_refresh else None)
        except Exception as exc:
            cause = _returning_cause(exc)
            if cause is not None:
                raise cause from None
            raise
        result = SyncResult(seconds=time.monotonic() - started, load_ids=list(info.loads_ids),
                            requests=client.stats.requests, retries=client.stats.retry.retries)
        trace = pipeline.last_trace
        counts = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
        result.tables = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
        for name in names:
            p = tracker.by_resource.get(name)
            eps = [client.stats.by_endpoint.get(e) for e in RESOURCE_ENDPOINTS[name]]
            result.resources[name] = ResourceResult(
                name=name, rows=result.tables.get(name, 0), pages=p.pages if p else 0,
                requests=sum(e.requests for e in eps if e), seconds=round(p.seconds, 3) if p else 0.0)
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
