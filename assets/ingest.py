"""Ingest: the client's dlt source as Dagster assets `returning_raw/<table>`, group `ingest`.

Two multi-assets over the one source:
- `returning_raw_incremental`: the date-keyed datasets, daily-partitioned. A run for a partition
  range loads that half-open window (start inclusive, end exclusive), so a backfill is a date
  range chosen in the UI; a run tagged `returning/window=state` (the hourly schedule) loads from
  dlt's stored high-water mark instead. Append resources with a primary key are merged, so
  loading a window twice never duplicates rows.
- `returning_raw_snapshot`: users, field definitions, store, gamification set-up: full reads.

The source and pipeline are built from the `returning` and `warehouse` resources when a run starts
(any dlt destination); the definition-time source only names the tables (it is never run). Kinds
and pools follow the destination configured when the definitions load (`assets.resources`).
"""


import datetime as dt
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from warehouse.connection import Connection
from warehouse.location import RAW_SCHEMA

INGEST_GROUP = "ingest"
WINDOW_TAG = "returning/window"  # "state": load from dlt's high-water mark, ignore the partition window

# Date-keyed datasets: partitioned by day, loaded hourly.
INCREMENTAL_TABLES = (
    "user_field_histories",
    "gamification_daily",
    "gamification_logs",
    "activity_stats",
    "loyalty_overview",
    "redemption_orders",
    "redemption_status_history",
    "purchase_histories",
    "streak_logs",
    "messages",
    "minigame_logs",
    "webhook_events",  # the receiver's landed deliveries (no API call), loaded with the hourly run
)
# Everything else: read whole, loaded daily.
SNAPSHOT_TABLES = (
    "users",
    "user_fields",
    "redemption_statuses",
    "store_products",
    "store_categories",
    "store_config",
    "leaderboards",
    "streaks",
    "tiers",
    "bulk_jobs",
    "channels",
    "user_game_stats",
)

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
        return spec.replace_attributes(
            key=raw_key(data.resource.name),
            group_name=INGEST_GROUP,
            deps=[],
            kinds=kinds(self.destination, "dlt"),
            description=f"Raw `{RAW_SCHEMA}.{data.resource.name}` loaded from the Returning.AI API by dlt.",
        )


def _definition_settings() -> Any:
    """Placeholder settings: the definitions must load without credentials, network or the user's
    warehouse (runs build the real source from the `returning` resource)."""
    return settings_from({
        "RETURNING_AI_API_KEY": "0" * 64,
        "RETURNING_AI_BASE_URL": "http://127.0.0.1:8765",
        "RETURNING_WAREHOUSE": str(Path(tempfile.gettempdir()) / "returning-sync-definitions" / "returning.duckdb"),
    })


def definition_source() -> Any:
    """A source object only for naming the assets and reading their primary keys; never run."""
    from pipelines.sync import make_source

    return make_source(_definition_settings())


def _definition_pipeline() -> Any:
    from pipelines.sync import make_pipeline

    return make_pipeline(_definition_settings())


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
                table = result.asset_key.path[-1]
                rows = 0
                if con.table_exists(RAW_SCHEMA, table):
                    found = con.fetchone(f'SELECT count(*) FROM {RAW_SCHEMA}."{table}"')
                    rows = int(found[0]) if found else 0
                metadata = {**(result.metadata or {}), "dagster/row_count": rows}
                yield MaterializeResult(asset_key=result.asset_key, metadata=metadata,
                                        check_results=result.check_results, data_version=result.data_version)
            else:
                yield result


def run_load(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
             warehouse: Warehouse, tables: Iterable[str], window: bool) -> Iterator[Any]:
    from pipelines.sync import (
        loader_file_format,
        make_pipeline,
        make_source,
        open_warehouse,
        repair,
        sync_lock,
    )

    check_pool(context, warehouse)
    settings = returning.settings(warehouse)
    context.log.info(f"warehouse: {settings.location.describe()}")
    start, end = _window(context) if window else (None, None)
    if start is not None:
        context.log.info(f"loading window [{start:%Y-%m-%d}, {end:%Y-%m-%d})")
    from pipelines.context import Tracker

    tracker = Tracker()  # what waits for the load to commit (landed webhook segments to remove)
    source = make_source(settings, start_date=start, end_date=end, backfill=start is not None,
                         tracker=tracker).with_resources(*tables)
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


def build_ingest_assets(destination: str | None = None) -> list[AssetsDefinition]:
    """The two ingest multi-assets, kinds and pool for `destination` (default: the configured one)."""
    destination = destination or configured_destination()
    pool = warehouse_pool(INGEST_POOL, destination)
    translator = RawTranslator(destination)

    @dlt_assets(
        dlt_source=definition_source().with_resources(*INCREMENTAL_TABLES),
        dlt_pipeline=_definition_pipeline(),
        name="returning_raw_incremental",
        dagster_dlt_translator=translator,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        pool=pool,
    )
    def raw_incremental(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                        warehouse: Warehouse) -> Iterator[Any]:
        yield from run_load(context, dlt, returning, warehouse, INCREMENTAL_TABLES, window=True)

    @dlt_assets(
        dlt_source=definition_source().with_resources(*SNAPSHOT_TABLES),
        dlt_pipeline=_definition_pipeline(),
        name="returning_raw_snapshot",
        dagster_dlt_translator=translator,
        pool=pool,
    )
    def raw_snapshot(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                     warehouse: Warehouse) -> Iterator[Any]:
        yield from run_load(context, dlt, returning, warehouse, SNAPSHOT_TABLES, window=False)

    return [raw_incremental, raw_snapshot]


ingest_assets = build_ingest_assets()
raw_incremental, raw_snapshot = ingest_assets
RAW_TABLES = INCREMENTAL_TABLES + SNAPSHOT_TABLES
