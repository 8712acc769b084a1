"""Ingest: the client's dlt source as Dagster assets `returning_raw/<table>`, group `ingest`.

Two multi-assets over the one source:
- `returning_raw_incremental`: the date-keyed datasets, daily-partitioned. A run for a partition
  range loads that half-open window (start inclusive, end exclusive), so a backfill is a date
  range chosen in the UI; a run tagged `returning/window=state` (the hourly schedule) loads from
  dlt's stored high-water mark instead. Append resources with a primary key are merged, so
  loading a window twice never duplicates rows.
- `returning_raw_snapshot`: users, field definitions, store, gamification set-up: full reads.

The source and pipeline are built from the `returning` settings resource when a run starts; the
definition-time source only names the tables (it is never run).
"""


import datetime as dt
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from assets.automation import load_automation
from assets.resources import WAREHOUSE_POOL, DuckDBWarehouse, ReturningApiSettings, settings_from
from warehouse.models import RAW_SCHEMA

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
)

partitions = DailyPartitionsDefinition(
    start_date=load_automation().partitions_start, end_offset=1, timezone="UTC", fmt="%Y-%m-%d"
)


def raw_key(table: str) -> AssetKey:
    return AssetKey([RAW_SCHEMA, table])


class RawTranslator(DagsterDltTranslator):
    """Keys `returning_raw/<table>`, group `ingest`, no upstream source assets."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=raw_key(data.resource.name),
            group_name=INGEST_GROUP,
            deps=[],
            kinds={"dlt", "duckdb"},
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


def _as_merge(source: Any) -> Any:
    """Append resources that carry a primary key load as merge: re-reading a window is idempotent."""
    for resource in source.selected_resources.values():
        schema = resource.compute_table_schema()
        has_key = any(c.get("primary_key") for c in schema.get("columns", {}).values())
        if schema.get("write_disposition") == "append" and has_key:
            resource.apply_hints(write_disposition="merge")
    return source


def _window(context: AssetExecutionContext) -> tuple[dt.datetime | None, dt.datetime | None]:
    partitioned = context.has_partition_key or context.has_partition_key_range
    if context.run.tags.get(WINDOW_TAG) == "state" or not partitioned:
        return None, None
    window = context.partition_time_window
    return window.start, window.end


def _with_table_stats(results: Iterable[Any], warehouse: DuckDBWarehouse, held: Any = None) -> Iterator[Any]:
    """Add each table's total row count (the dlt metadata counts only this load's rows), through
    `held` (the load's own connection) when given."""
    pending = list(results)
    if held is None and not Path(warehouse.file()).exists():  # nothing loaded at all
        yield from pending
        return
    with nullcontext(held) if held is not None else warehouse.connection(read_only=True) as con:
        for result in pending:
            if isinstance(result, MaterializeResult) and result.asset_key is not None:
                table = result.asset_key.path[-1]
                count = con.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                    [RAW_SCHEMA, table],
                ).fetchone()
                rows = 0
                if count and count[0]:
                    rows = con.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{table}"').fetchone()[0]  # type: ignore[index]
                metadata = {**(result.metadata or {}), "dagster/row_count": int(rows)}
                yield MaterializeResult(asset_key=result.asset_key, metadata=metadata,
                                        check_results=result.check_results, data_version=result.data_version)
            else:
                yield result


def _warn_if_pool_unlimited(context: AssetExecutionContext) -> None:
    """Without a limit on the pool, overlapping runs can collide on DuckDB's single-writer lock."""
    instance = context.instance
    try:
        limited = instance.global_op_concurrency_default_limit is not None or (
            instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count > 0)
    except Exception:  # storages without concurrency support
        limited = False
    if not limited:
        context.log.warning(
            f"pool {WAREHOUSE_POOL!r} has no limit on this Dagster instance, so overlapping runs may fail on "
            "the warehouse lock: start Dagster with `returning-sync ui` (DAGSTER_HOME=.dagster_home), or run "
            f"`dagster instance concurrency set {WAREHOUSE_POOL} 1`")


def run_load(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
             warehouse: DuckDBWarehouse, tables: Iterable[str], window: bool) -> Iterator[Any]:
    from pipelines.sync import make_pipeline, make_source, open_warehouse, repair, sync_lock

    _warn_if_pool_unlimited(context)
    settings = returning.settings()
    start, end = _window(context) if window else (None, None)
    if start is not None:
        context.log.info(f"loading window [{start:%Y-%m-%d}, {end:%Y-%m-%d})")
    source = make_source(settings, start_date=start, end_date=end, backfill=start is not None).with_resources(*tables)
    if window:
        source = _as_merge(source)
    # the command-line sync's lock: both load through dlt's one working directory beside the warehouse;
    # the warehouse is held for the whole load, so a reader (`returning-sync sql`) cannot break it halfway
    with sync_lock(settings), open_warehouse(settings) as connection:
        pipeline = make_pipeline(settings, connection)
        repair(pipeline, settings)  # what a run killed mid-load left: aborted, never loaded twice
        results = dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline,
                          dagster_dlt_translator=RawTranslator())
        yield from _with_table_stats(results, warehouse, connection)


@dlt_assets(
    dlt_source=definition_source().with_resources(*INCREMENTAL_TABLES),
    dlt_pipeline=_definition_pipeline(),
    name="returning_raw_incremental",
    dagster_dlt_translator=RawTranslator(),
    partitions_def=partitions,
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def raw_incremental(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                    warehouse: DuckDBWarehouse) -> Iterator[Any]:
    yield from run_load(context, dlt, returning, warehouse, INCREMENTAL_TABLES, window=True)


@dlt_assets(
    dlt_source=definition_source().with_resources(*SNAPSHOT_TABLES),
    dlt_pipeline=_definition_pipeline(),
    name="returning_raw_snapshot",
    dagster_dlt_translator=RawTranslator(),
    pool=WAREHOUSE_POOL,
)
def raw_snapshot(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                 warehouse: DuckDBWarehouse) -> Iterator[Any]:
    yield from run_load(context, dlt, returning, warehouse, SNAPSHOT_TABLES, window=False)


ingest_assets = [raw_incremental, raw_snapshot]
RAW_TABLES = INCREMENTAL_TABLES + SNAPSHOT_TABLES
