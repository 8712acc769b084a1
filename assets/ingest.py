"""Ingest: the client's dlt source as Dagster assets `returning_raw/<table>`, group `ingest`.

Two multi-assets over the one source:
- `returning_raw_incremental`: the date-keyed datasets, daily-partitioned, and a partition means
  its day: a run for a range of past days loads that half-open window [start, end) and nothing
  else, so a backfill is a date range chosen in the UI, and a green partition is a day loaded. Past days
  are read exactly, the stored high-water marks untouched. Today's partition (the hourly schedule's
  runs, assets/schedules.py) is read as the command line's sync reads: from the stored marks to now
  (a first run: all history), so it holds at least all of today up to the run and may re-read the end
  of earlier days (lookback, late rows); a range from an earlier day to today reads from its first day
  or the later stored mark. Both move the marks (`load_window`). A green partition is a day loaded;
  days a run from the marks read on the way are loaded without being marked. Event tables are
  merged on their key (`delete-insert`), so loading a window twice never duplicates rows.
- `returning_raw_snapshot`, not partitioned: users, field definitions, store, gamification set-up
  (full reads), and the events the webhook receiver landed (no API call, whatever their day, so
  never in a day partition; the webhook sensor's runs, assets/sensors.py, select them alone).

Which table is which, what each holds and its key come from `pipelines/tables.py`. The source and
pipeline are built from the `returning` and `warehouse` resources when a run starts, once per run
(any dlt destination), in the command line's `sync_session()` (pipelines/session.py); the
definition-time source, built once for both multi-assets, only names the tables (it is never run).
Kinds and pools follow the destination (`assets.resources`).
"""


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
    MaterializeResult,
    multi_asset,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from assets.availability import availability_results, availability_specs
from assets.partitions import CommunityPartitions, community_partitions, days
from assets.resources import (
    INGEST_POOL,
    ReturningApiSettings,
    Warehouse,
    check_pool,
    configured_destination,
    kinds,
)
from pipelines.pipeline import make_pipeline, make_source
from pipelines.session import Window, sync_session
from pipelines.skips import by_name
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES, Load, Table, table
from warehouse.connection import Connection
from warehouse.location import DEFAULT_COMMUNITY, RAW_SCHEMA

INGEST_GROUP = "ingest"
COMMUNITY_METADATA = "community"  # a raw table's materialization names its community (with the dimension)

partitions = days  # the day dimension (alone with one community: assets/partitions.py)


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
    settings = _definition_settings()
    return make_source(settings), make_pipeline(settings)


def load_window(context: AssetExecutionContext) -> Window:
    """What a run of the day-partitioned asset reads: exactly its partitions' days [start, end),
    the stored marks untouched, or, for a range that reaches today's partition (the day still
    filling, by Dagster's clock), from the stored marks (or the range's first day) to now, moving the
    marks (`pipelines.session.Window.of_days`). The partitions' time window is Dagster's, so the same
    holds once the day is crossed with another dimension (a `MultiPartitionsDefinition`)."""
    window = context.partition_time_window
    today = partitions.get_last_partition_window()
    return Window.of_days(window.start, window.end, open_day=today is not None and window.end >= today.end)


def _with_table_stats(results: Iterable[Any], warehouse: Warehouse, held: Any = None,
                      community: str = DEFAULT_COMMUNITY, told: bool = False) -> Iterator[Any]:
    """Add each table's total row count in `community`'s schema (the dlt metadata counts only this
    load's rows), through `held` (DuckDB: the load's own connection) when given; `told`: the
    community too (`community` metadata, with the community dimension)."""
    pending = list(results)
    if held is None and not warehouse.has_data(community):  # nothing loaded at all
        yield from pending
        return
    location = warehouse.location(community)
    with nullcontext(Connection(location, held)) if held is not None else \
            warehouse.connection(read_only=True, community=community) as con:
        for result in pending:
            if isinstance(result, MaterializeResult) and result.asset_key is not None:
                rows = con.row_count(RAW_SCHEMA, result.asset_key.path[-1]) or 0
                metadata = {**(result.metadata or {}), "dagster/row_count": rows,
                            **({COMMUNITY_METADATA: community} if told else {})}
                yield MaterializeResult(asset_key=result.asset_key, metadata=metadata,
                                        check_results=result.check_results, data_version=result.data_version)
            else:
                yield result


def run_load(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
             warehouse: Warehouse, tables: Iterable[str], window: bool,
             parts: CommunityPartitions | None = None) -> Iterator[Any]:
    """One `sync_session()` over `tables`, as the command line's sync runs it, through dagster-dlt,
    for the run's community (`parts.of_run`: its settings, key, schemas, dlt pipeline and lock)."""
    check_pool(context, warehouse)
    tables = list(tables)
    parts = parts or CommunityPartitions()
    community = parts.of_run(context)
    settings = returning.settings(warehouse, community)
    context.log.info(f"community {community}, warehouse: {settings.location.describe()}")
    reads = load_window(context) if window else Window()
    if window:
        context.log.info(f"loading {reads.describe()}")
    # the command-line sync's session: its lock (both load through dlt's one working directory beside the
    # warehouse); DuckDB's file held for the whole load, so a reader (`returning-sync sql`) cannot break it
    # halfway; a server's login checked once before any API call; what a killed run left repaired first
    with sync_session(settings, tables, window=reads, strict=returning.strict) as session:
        results = list(dlt.run(context=context, dlt_source=session.source, dlt_pipeline=session.pipeline,
                               dagster_dlt_translator=RawTranslator(settings.destination),
                               loader_file_format=session.loader_file_format))
        skips = {name: skip for name, skip in by_name(session.skips()).items() if name in tables}
        yield from _with_table_stats(_without_skipped(context, results, skips, settings.disabled), warehouse,
                                     session.connection, community, told=parts.crossed)
    for line in session.bookkeeping.lines():
        (context.log.warning if line.startswith(("incomplete", "schema change")) else context.log.info)(line)
    for stall in session.stalled(tables):
        context.log.warning(str(stall))
    refused = session.refused(tables)
    if refused is not None:  # every dataset refused: the key is what is wrong (the command line's exit 3)
        raise refused
    yield from availability_results(context.selected_asset_check_keys, {raw_key(t): t for t in tables},
                                    skips, settings.disabled)
    if session.erased:  # privacy.erase_deleted_after_days, after the lock is released
        context.log.info(f"privacy: forgot {session.erased} members the platform deleted long enough ago")


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
                       tables: Iterable[str], parts: CommunityPartitions | None = None) -> Iterator[Any]:
    """The selected `available` checks without a load: each dataset probed as `returning-sync check`
    probes it (pipelines/probe.py: a small read, never a write), with the same verdict, for the run's
    community."""
    from pipelines.probe import probe

    settings = returning.settings(warehouse, (parts or CommunityPartitions()).of_run(context))
    datasets = {raw_key(t): t for t in tables}
    names = sorted({datasets[k.asset_key] for k in context.selected_asset_check_keys if k.asset_key in datasets})
    probes = probe(settings, names)
    skips = {p.dataset: p.skip for p in probes if p.skip is not None and not p.disabled}
    yield from availability_results(context.selected_asset_check_keys, datasets, skips, settings.disabled,
                                    ok="available (probed)")


def landed_tables() -> list[str]:
    """The tables no API call fills (the webhook receiver's landed events): loaded as they land,
    whatever their day, so they sit in the unpartitioned asset beside the full reads, never in a day
    partition. Read when asked: a dataset registered later (`pipelines.datasets.register`) counts."""
    return [t for t in INCREMENTAL_TABLES if not table(t).endpoints]


def day_tables() -> list[str]:
    """The date-keyed tables of the day-partitioned asset."""
    landed = landed_tables()
    return [t for t in INCREMENTAL_TABLES if t not in landed]


class IngestAssets(NamedTuple):
    incremental: AssetsDefinition  # `returning_raw_incremental`, daily-partitioned
    snapshot: AssetsDefinition  # `returning_raw_snapshot`: the full reads and the landed webhook events


def build_ingest_assets(destination: str | None = None, parts: CommunityPartitions | None = None) -> IngestAssets:
    """The two ingest multi-assets, kinds and pool for `destination` (default: the configured one),
    partitioned for the communities `parts` (default: as configured now; assets/partitions.py)."""
    destination = destination or configured_destination()
    parts = parts or community_partitions()
    source, pipeline = _definition_source_and_pipeline()
    pool, translator = parts.writer_pool(INGEST_POOL, destination), RawTranslator(destination)
    return IngestAssets(_raw_assets(str(Load.INCREMENTAL), day_tables(), True, source, pipeline, translator, pool, parts),
                        _raw_assets(str(Load.SNAPSHOT), [*SNAPSHOT_TABLES, *landed_tables()], False, source, pipeline,
                                    translator, pool, parts))


def _raw_assets(name: str, tables: list[str], window: bool, source: Any, pipeline: Any,
                translator: RawTranslator, pool: str | None, parts: CommunityPartitions) -> AssetsDefinition:
    """One multi-asset `returning_raw_<name>` over `tables`; partitioned by day when `window` (crossed
    with the community), else by the community alone (or not at all)."""
    by_day = {"partitions_def": parts.by_day, "backfill_policy": BackfillPolicy.single_run()} if window else \
        {"partitions_def": parts.whole}
    # dagster-dlt's `dlt_assets`, with the `available` check of each table (assets/availability.py)
    specs = build_dlt_asset_specs(dlt_source=source.with_resources(*tables), dlt_pipeline=pipeline,
                                  dagster_dlt_translator=translator)

    @multi_asset(name=f"{RAW_SCHEMA}_{name}", can_subset=True, specs=specs, pool=pool,
                 check_specs=availability_specs(spec.key for spec in specs), **by_day)
    def load_tables(context: AssetExecutionContext, dlt: DagsterDltResource, returning: ReturningApiSettings,
                    warehouse: Warehouse) -> Iterator[Any]:
        if not context.selected_asset_keys:  # only the `available` checks: probe, load nothing
            yield from probe_availability(context, returning, warehouse, tables, parts)
            return
        yield from run_load(context, dlt, returning, warehouse, tables, window=window, parts=parts)

    return load_tables
