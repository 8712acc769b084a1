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
    multi_asset,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from assets.automation import load_automation
from assets.availability import availability_results, availability_specs
from assets.resources import (
    INGEST_POOL,
    ReturningApiSettings,
    Warehouse,
    check_pool,
    configured_destination,
    kinds,
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
            skippable=True,  # a dataset the run skipped or the settings disable is not materialized
        ).merge_attributes(metadata=table_metadata(raw))


def table_metadata(raw: Table) -> dict[str, str]:
    """What the UI shows of a raw table's row in `pipelines/tables.py`."""
    return {"load": f"{raw.load}: {raw.load.meaning}", "write": str(raw.write), "primary_key": ", ".join(raw.key) or "none",
            "endpoints": ", ".join(raw.endpoints) or "none (the webhook receiver's landed events)"}


def _definition_settings() -> Any:
    """The defaults, with no key and nothing resolved: the definitions load without credentials,
    network or the user's warehouse. A run resolves its settings when it starts (the `returning`
    resource); no key then fails the run with the ConfigError that names where to set it."""
    from pipelines.config import Settings

    return Settings(api_key="", key_required=False,
                    warehouse=Path(tempfile.gettempdir()) / "returning-sync-definitions" / "returning.duckdb")


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
    from pipelines.skips import by_name, refused_key

    tracker = Tracker()  # what waits for the load to commit, and the datasets the run skips
    client = ReturningClient(settings)  # its counts tell a cursor no record carried
    source = make_source(settings, tables, start_date=start, end_date=end, backfill=start is not None,
                         tracker=tracker, client=client, strict=returning.strict)  # the run's one source
    # the command-line sync's lock: both load through dlt's one working directory beside the warehouse;
    # DuckDB's file is held for the whole load, so a reader (`returning-sync sql`) cannot break it halfway;
    # a server's login is checked once before any API call
    with sync_lock(settings), open_warehouse(settings) as connection:
        pipeline = make_pipeline(settings, connection)
        repair(pipeline, settings)  # what a run killed mid-load left: aborted, never loaded twice
        results = list(dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline,
                               dagster_dlt_translator=RawTranslator(settings.destination),
                               loader_file_format=loader_file_format(settings)))
        skips = {name: skip for name, skip in by_name(tracker.skips.all()).items() if name in tables}
        yield from _with_table_stats(_without_skipped(context, results, skips, settings.disabled), warehouse, connection)
        tracker.loaded()
        trace = pipeline.last_trace
        kept = bookkeep(settings, connection, pipeline, tracker, trace.last_load_info if trace else None)
        for line in kept.lines():
            (context.log.warning if line.startswith(("incomplete", "schema change")) else context.log.info)(line)
    for stall in stalled_cursors(settings.registry, tables, client.stats.cursor_counts()):
        context.log.warning(str(stall))
    client.close()
    refused = refused_key(skips.values(), [t for t in tables if t not in settings.disabled])
    if refused is not None:  # every dataset refused: the key is what is wrong (the command line's exit 3)
        raise refused
    yield from availability_results(context.selected_asset_check_keys, {raw_key(t): t for t in tables},
                                    skips, settings.disabled)
    from pipelines.forget import erase_deleted  # privacy.erase_deleted_after_days, after the lock is released
    if erased := erase_deleted(settings):
        context.log.info(f"privacy: forgot {len(erased)} members the platform deleted long enough ago")


def _without_skipped(context: AssetExecutionContext, results: Iterable[Any], skips: dict[str, Any],
                     disabled: Iterable[str]) -> Iterator[Any]:
    """dagster-dlt's results less the materializations of skipped and disabled datasets (their
    `available` check says why); the run's skipped and disabled datasets are logged."""
    disabled = tuple(disabled)
    for result in results:
        name = result.asset_key.path[-1] if isinstance(result, MaterializeResult) and result.asset_key else None
        if name in skips or name in disabled:  # disabled: not read (only a first sync's empty table)
            continue
        yield result
    for skip in skips.values():
        context.log.warning(f"not materialized: {skip.line()}")
    selected = {k.path[-1] for k in context.selected_asset_keys}
    off = [d for d in disabled if d in selected]
    if off:
        context.log.info(f"not materialized, disabled in the settings (not read): {', '.join(off)}")
    if skips:
        context.log.warning(f"partial: {len(skips)} dataset(s) skipped; the others loaded and committed")


def probe_availability(context: AssetExecutionContext, returning: ReturningApiSettings, warehouse: Warehouse,
                       tables: Iterable[str]) -> Iterator[Any]:
    """The selected `available` checks without a load: each dataset probed as `returning-sync check`
    probes it (pipelines/probe.py: a small read, never a write), with the same verdict."""
    from pipelines.probe import probe

    settings = returning.settings(warehouse)
    datasets = {raw_key(t): t for t in tables}
    names = sorted({datasets[k.asset_key] for k in context.selected_asset_check_keys if k.asset_key in datasets})
    probes = probe(settings, names)
    skips = {p.dataset: p.skip for p in probes if p.skip is not None and not p.disabled}
    yield from availability_results(context.selected_asset_check_keys, datasets, skips, settings.disabled,
                                    ok="available (probed)")


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
    # dagster-dlt's `dlt_assets`, with the `available` check of each table (assets/availability.py)
    specs = build_dlt_asset_specs(dlt_source=source.with_resources(*tables), dlt_pipeline=pipeline,
                                  dagster_dlt_translator=translator)

    @multi_asset(name=f"{RAW_SCHEMA}_{load}", can_subset=True, specs=specs, pool=pool,
                 check_specs=availability_specs(spec.key for spec in specs), **by_day)
    def load_tables(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                    warehouse: Warehouse) -> Iterator[Any]:
        if not context.selected_asset_keys:  # only the `available` checks: probe, load nothing
            yield from probe_availability(context, returning, warehouse, tables)
            return
        yield from run_load(context, dlt, returning, warehouse, tables, window=window)

    return load_tables
