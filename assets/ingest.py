"""Ingest: the client's dlt source as Dagster assets `returning_raw/<table>`, group `ingest`.

Two multi-assets over the one source:
- `returning_raw_incremental`: the date-keyed datasets, daily-partitioned. A run for a partition
  range loads that half-open window (start inclusive, end exclusive), so a backfill is a date
  range chosen in the UI; a run tagged `returning/window=state` (the hourly schedule) loads from
  dlt's stored high-water mark instead. Event tables are merged on their key (`delete-insert`),
  so loading a window twice never duplicates rows.
- `returning_raw_snapshot`: users, field definitions, store, gamification set-up: full reads.

Which table is which, what each holds and its key come from `pipelines/tables.py`. The source and
pipeline are built from the `returning` and `warehouse` resources when a run starts, once per run
(any dlt destination); the definition-time source, built once for both multi-assets, only names the
tables (it is never run). Kinds and pools follow the destination (`assets.resources`).
"""


import datetime as dt
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from assets.automation import load_automation
from assets.resources import (
    INGEST_POOL,
    ReturningApiSettings,
    Warehouse,
    check_pool,
    configured_destination,
    kinds,
    settings_from,
    warehouse_pool,
)
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES, Load, Table, table
from warehouse.connection import Connection
from warehouse.location import RAW_SCHEMA

INGEST_GROUP = "ingest"
WINDOW_TAG = "returning/window"  # "state": load from dlt's high-water mark, ignore the partition window

partitions = DailyPartitionsDefinition(
    start_date=load_automation().partitions_start, end_offset=1, timezone="UTC", fmt="%Y-%m-%d"
)


def raw_key(table: str) -> AssetKey:
    return AssetKey([RAW_SCHEMA, table])


@dataclass
class RawTranslator(DagsterDltTranslator):
    """Keys `returning_raw/<table>`, group `ingest`, no upstream source assets, kinds dlt + destination."""

    destination: str = field(default_factory=configured_destination)

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        raw = table(data.resource.name)
        return spec.replace_attributes(
            key=raw_key(raw.name),
            group_name=INGEST_GROUP,
            deps=[],
            kinds=kinds(self.destination, "dlt"),
            description=f"{RAW_SCHEMA}.{raw.name}: {raw.holds}.",
        ).merge_attributes(metadata=table_metadata(raw))


def table_metadata(raw: Table) -> dict[str, str]:
    """What the UI shows of a raw table's row in `pipelines/tables.py`."""
    return {"load": f"{raw.load}: {raw.load.meaning}", "write": str(raw.write), "primary_key": ", ".join(raw.key) or "none",
            "endpoints": ", ".join(raw.endpoints) or "none (the webhook receiver's landed events)"}


def _definition_settings() -> Any:
    """Placeholder settings: the definitions must load without credentials, network or the user's
    warehouse (runs build the real source from the `returning` resource)."""
    return settings_from({
        "RETURNING_AI_API_KEY": "0" * 64,
        "RETURNING_AI_BASE_URL": "http://127.0.0.1:8765",
        "RETURNING_WAREHOUSE": str(Path(tempfile.gettempdir()) / "returning-sync-definitions" / "returning.duckdb"),
    })


def _definition_source_and_pipeline() -> tuple[Any, Any]:
    """A source and pipeline only for naming the assets; never run."""
    from pipelines.sync import make_pipeline, make_source

    settings = _definition_settings()
    return make_source(settings), make_pipeline(settings)


def _window(context: AssetExecutionContext) -> tuple[dt.datetime | None, dt.datetime | None]:
    partitioned = context.has_partition_key or context.has_partition_key_range
    if context.run.tags.get(WINDOW_TAG) == "state" or not partitioned:
        return None, None
    window = context.partition_time_window
    return window.start, window.end


def _with_table_stats(results: Iterable[Any], warehouse: Warehouse, held: Any = None) -> Iterator[Any]:
    """Add each table's total row count (the dlt metadata counts only this load's rows), through
    `held` (DuckDB: the load's own connection) when given."""
    pending = list(results)
    if held is None and not warehouse.has_data():  # nothing loaded at all
        yield from pending
        return
    location = warehouse.location()
    with nullcontext(Connection(location, held)) if held is not None else warehouse.connection(read_only=True) as con:
        for result in pending:
            if isinstance(result, MaterializeResult) and result.asset_key is not None:
                rows = con.row_count(RAW_SCHEMA, result.asset_key.path[-1]) or 0
                metadata = {**(result.metadata or {}), "dagster/row_count": rows}
                yield MaterializeResult(asset_key=result.asset_key, metadata=metadata,
                                        check_results=result.check_results, data_version=result.data_version)
            else:
                yield result


def run_load(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
             warehouse: Warehouse, tables: Iterable[str], window: bool) -> Iterator[Any]:
    from pipelines.afterload import bookkeep
    from pipelines.sync import (
        loader_file_format,
        make_pipeline,
        make_source,
        open_warehouse,
        repair,
        sync_lock,
    )

    check_pool(context, warehouse)
    tables = list(tables)
    settings = returning.settings(warehouse)
    context.log.info(f"warehouse: {settings.location.describe()}")
    start, end = _window(context) if window else (None, None)
    if start is not None:
        context.log.info(f"loading window [{start:%Y-%m-%d}, {end:%Y-%m-%d})")
    from pipelines.client import ReturningClient
    from pipelines.context import Tracker
    from pipelines.overrides import stalled_cursors

    tracker = Tracker()  # what waits for the load to commit (landed webhook segments to remove)
    client = ReturningClient(settings)  # its counts tell a cursor no record carried
    source = make_source(settings, tables, start_date=start, end_date=end, backfill=start is not None,
                         tracker=tracker, client=client)  # the run's one source
    # the command-line sync's lock: both load through dlt's one working directory beside the warehouse;
    # DuckDB's file is held for the whole load, so a reader (`returning-sync sql`) cannot break it halfway;
    # a server's login is checked once before any API call
    with sync_lock(settings), open_warehouse(settings) as connection:
        pipeline = make_pipeline(settings, connection)
        repair(pipeline, settings)  # what a run killed mid-load left: aborted, never loaded twice
        results = dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline,
                          dagster_dlt_translator=RawTranslator(settings.destination),
                          loader_file_format=loader_file_format(settings))
        yield from _with_table_stats(results, warehouse, connection)
        tracker.loaded()
        trace = pipeline.last_trace
        kept = bookkeep(settings, connection, pipeline, tracker, trace.last_load_info if trace else None)
        for line in kept.lines():
            (context.log.warning if line.startswith(("incomplete", "schema change")) else context.log.info)(line)
    for stall in stalled_cursors(settings.registry, tables, client.stats.cursor_counts()):
        context.log.warning(str(stall))
    client.close()
    from pipelines.forget import erase_deleted  # privacy.erase_deleted_after_days, after the lock is released

    if erased := erase_deleted(settings):
        context.log.info(f"privacy: forgot {len(erased)} members the platform deleted long enough ago")


class IngestAssets(NamedTuple):
    incremental: AssetsDefinition  # `returning_raw_incremental`, daily-partitioned
    snapshot: AssetsDefinition  # `returning_raw_snapshot`


def build_ingest_assets(destination: str | None = None) -> IngestAssets:
    """The two ingest multi-assets, kinds and pool for `destination` (default: the configured one)."""
    destination = destination or configured_destination()
    source, pipeline = _definition_source_and_pipeline()
    pool, translator = warehouse_pool(INGEST_POOL, destination), RawTranslator(destination)
    return IngestAssets(*(_raw_assets(load, source, pipeline, translator, pool) for load in Load))


def _raw_assets(load: Load, source: Any, pipeline: Any, translator: RawTranslator, pool: str | None) -> AssetsDefinition:
    """One multi-asset over the tables loaded `load`-wise; the incremental one is partitioned by day."""
    window = load is Load.INCREMENTAL
    tables = INCREMENTAL_TABLES if window else SNAPSHOT_TABLES
    by_day = {"partitions_def": partitions, "backfill_policy": BackfillPolicy.single_run()} if window else {}

    @dlt_assets(dlt_source=source.with_resources(*tables), dlt_pipeline=pipeline, name=f"{RAW_SCHEMA}_{load}",
                dagster_dlt_translator=translator, pool=pool, **by_day)
    def load_tables(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                    warehouse: Warehouse) -> Iterator[Any]:
        yield from run_load(context, dlt, returning, warehouse, tables, window=window)

    return load_tables
