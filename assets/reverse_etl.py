"""Reverse-ETL pushes as Dagster assets `reverse_etl/<definition>`, group `reverse_etl`.

One asset per `warehouse/reverse_etl/*.sql` definition. Materialising it runs the push (upload
once, poll the bulk job to the end, record per-row results in the ledger) and reports counts, the
job id, failed rows and the completion ratio as metadata. Upstream deps are the raw tables and models
its SQL reads. Checks: the share of rejected rows stays under a threshold, and no upload is left
unfinished past a time limit. Schedules come from the definitions' headers and start stopped
(`RETURNING_SCHEDULE_PUSH_<NAME>=on` turns one on; `..._CRON` overrides its cron). The ledger lives
on the configured warehouse; on a server each push takes the pool `reverse_etl.<name>` (the ledger's
keys keep two pushes exact anyway; the pool keeps one waiting instead of finding its claim taken).
"""


import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    asset,
    asset_check,
    define_asset_job,
    schedule,
)

from assets.automation import ON
from assets.partitions import CommunityPartitions, community_partitions
from assets.resources import ReturningApiSettings, Warehouse, configured_destination, kinds, warehouse_pool
from pipelines.errors import ConfigError
from reverse_etl import Definition, list_definitions, run_push
from reverse_etl.ledger import stale_pushes, unknown_pushes
from reverse_etl.schema import SCHEMA, has_schema
from reverse_etl.states import FAILED_RUN_STATES
from warehouse.configuration import Lookup, aliases_of, as_number
from warehouse.location import DEFAULT_COMMUNITY

GROUP = "reverse_etl"
# the checks' limits, resolved when a check runs (warehouse.configuration: an argument, the variable,
# then dlt's `sources.returning_ai.<name>`), with their defaults
THRESHOLD_ALIASES = aliases_of("push_max_rejection_rate", "push_stale_job_minutes")
THRESHOLD_DEFAULTS = {"push_max_rejection_rate": 0.05, "push_stale_job_minutes": 60.0}


def threshold(name: str, environ: Mapping[str, str] | None = None) -> float:
    """A check's limit (`push_max_rejection_rate`, `push_stale_job_minutes`) as configured now."""
    found = Lookup(environ=environ, error=ConfigError).first(name)
    return THRESHOLD_DEFAULTS[name] if found is None else as_number(found, float, ConfigError)


def push_key(definition: Definition) -> AssetKey:
    return AssetKey([GROUP, definition.name])


def upstream_keys(definition: Definition) -> list[AssetKey]:
    """Asset keys of the tables the SQL reads; dlt child tables (`tiers__levels`) map to their parent."""
    keys = []
    for table in definition.tables:
        schema, _, name = table.rpartition(".")
        key = AssetKey([schema or "analytics", name.split("__")[0]])
        if key not in keys:
            keys.append(key)
    return keys


def _metadata(result: Any) -> dict[str, Any]:
    return {
        "push_id": result.push_id or "",
        "state": result.state,
        "job_id": result.job_id or "",
        "rows_total": result.total,
        "rows_changed": result.changed,
        "rows_retried": result.retried,
        "rows_invalid": result.invalid,
        "rows_sent": result.sent,
        "rows_refused": result.refused,
        "rows_succeeded": result.success,
        "rows_failed": result.failed + result.skipped,
        "rows_given_up": result.given_up,
        "rows_unconfirmed": result.unconfirmed,  # accepted, with no job status to confirm them (no bulk-jobs list)
        "rows_held": result.held,  # deltas whose earlier upload's outcome is unknown: not sent
        "completion_ratio": float(result.completion_ratio),
        "formula_warnings": len(result.warnings),
        "csv_path": MetadataValue.path(str(result.csv_path)) if result.csv_path else "",
    }


def build_push_asset(definition: Definition, destination: str | None = None,
                     parts: CommunityPartitions | None = None) -> AssetsDefinition:
    destination = destination or configured_destination()
    parts = parts or community_partitions()

    @asset(
        key=push_key(definition),
        group_name=GROUP,
        deps=upstream_keys(definition),
        pool=parts.writer_pool(f"{GROUP}.{definition.name}", destination),
        partitions_def=parts.whole,  # a push reads and writes one community's schemas (its ledger)
        description=definition.description or f"Sends the rows of {definition.path.name} to the API ({definition.target}).",
        kinds=kinds(destination, "csv"),
        metadata={"target": definition.target, "columns": ", ".join(f"{c}={op}" for c, op in
                                                                     definition.columns.items()),
                  "sql_file": str(definition.path.name)},
    )
    def _push(context: AssetExecutionContext, returning: ReturningApiSettings,
              warehouse: Warehouse) -> MaterializeResult:
        community = parts.of_run(context)
        settings = returning.settings(warehouse, community)
        result = run_push(definition.name, settings)
        for line in result.lines():
            context.log.info(line)
        metadata = {**_metadata(result),
                    "failed_rows": MetadataValue.json(_failed_rows(warehouse, result.push_id, community=community))}
        if result.state in FAILED_RUN_STATES:
            raise Failure(description=result.error or f"push ended {result.state}", metadata=metadata)
        return MaterializeResult(metadata=metadata)

    return _push


def _failed_rows(warehouse: Warehouse, push_id: str | None, limit: int = 50,
                 community: str = DEFAULT_COMMUNITY) -> list[dict[str, Any]]:
    """Rows of this push that were rejected, failed, skipped or given up (first `limit`)."""
    if not push_id:
        return []
    with warehouse.connection(read_only=True, community=community) as con:
        found = con.fetchall(
            f"""SELECT row_number, email, result, error FROM {SCHEMA}.push_rows
                WHERE push_id = ? AND result NOT IN ('success', 'pending') ORDER BY row_number NULLS LAST, email
                LIMIT {int(limit)}""",
            [push_id],
        )
    return [{"row": r, "email": e, "result": res, "error": err} for r, e, res, err in found]


def _latest_push(warehouse: Warehouse, name: str, community: str = DEFAULT_COMMUNITY) -> dict[str, Any] | None:
    with warehouse.connection(read_only=True, community=community) as con:
        if not has_schema(con):
            return None
        rows = con.dicts(f"SELECT * FROM {SCHEMA}.pushes WHERE definition = ? ORDER BY created_at DESC LIMIT 1", [name])
        return rows[0] if rows else None


def rejection_rate(push: dict[str, Any]) -> float:
    """Rows rejected (invalid before sending, failed or skipped by the server) over rows considered."""
    rejected = (push["invalid_rows"] or 0) + (push["failed_rows"] or 0) + (push["skipped_rows"] or 0)
    considered = (push["invalid_rows"] or 0) + (push["sent_rows"] or 0)
    return rejected / considered if considered else 0.0


def build_push_checks(definition: Definition, destination: str | None = None,
                      parts: CommunityPartitions | None = None) -> list[Any]:
    key = push_key(definition)
    parts = parts or community_partitions()
    pool = warehouse_pool(None, destination or configured_destination())  # readers: DuckDB's pool, or none

    @asset_check(asset=key, name="rejection_rate_below_threshold", pool=pool,
                 description="Rejected rows of the latest push stay under the configured share "
                             "(RETURNING_PUSH_MAX_REJECTION_RATE, "
                             f"{THRESHOLD_DEFAULTS['push_max_rejection_rate']:.0%} by default).")
    def _rejections(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        push = _latest_push(warehouse, definition.name, parts.of_run(context))
        if push is None:
            return AssetCheckResult(passed=True, metadata={"note": "no push yet"})
        rate, limit = rejection_rate(push), threshold("push_max_rejection_rate")
        return AssetCheckResult(
            passed=rate <= limit, severity=AssetCheckSeverity.WARN,
            metadata={"rejection_rate": rate, "threshold": limit, "push_id": push["push_id"]},
        )

    @asset_check(asset=key, name="no_job_left_unfinished", pool=pool,
                 description="No upload stays non-terminal longer than the configured minutes "
                             "(RETURNING_PUSH_STALE_JOB_MINUTES, "
                             f"{THRESHOLD_DEFAULTS['push_stale_job_minutes']:g} by default), and none "
                             "is left unknown (no bulk-jobs list to settle it: `push NAME --confirm/--release`).")
    def _stale(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connection(read_only=True, community=parts.of_run(context)) as con:
            stale = stale_pushes(con, definition.name, threshold("push_stale_job_minutes"))
            unknown = unknown_pushes(con, definition.name)
        return AssetCheckResult(
            passed=not stale and not unknown,
            metadata={"stale_pushes": MetadataValue.json(
                [{**p, "created_at": str(p["created_at"])} for p in stale]),
                "unknown_pushes": MetadataValue.json(unknown)},
        )

    return [_rejections, _stale]


def build_push_schedules(definitions: list[Definition] | None = None,
                         parts: CommunityPartitions | None = None) -> list[ScheduleDefinition]:
    """The schedules of the definitions (default: every one found) that have one (headers, or the
    environment when the code loads), for the communities `parts` (default: as configured now)."""
    found = list_definitions() if definitions is None else definitions
    parts = parts or community_partitions()
    return [s for d in found if (s := build_push_schedule(d, parts)) is not None]


def build_push_schedule(definition: Definition, parts: CommunityPartitions | None = None) -> ScheduleDefinition | None:
    """The push's schedule: one run a tick, tagged with the community; with the community dimension,
    one run per community (its partition, its tag, a run key naming it)."""
    parts = parts or community_partitions()
    var = f"RETURNING_SCHEDULE_PUSH_{definition.name.upper()}"
    cron = os.environ.get(f"{var}_CRON") or definition.schedule
    if not cron:
        return None
    running = os.environ.get(var, "").strip().lower() in ON
    job = define_asset_job(f"push_{definition.name}", selection=[push_key(definition)],
                           description=f"Reverse ETL: {definition.name}")
    common = {"name": f"push_{definition.name}_schedule", "cron_schedule": cron, "job": job,
              "execution_timezone": "UTC",
              "default_status": DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED}
    if not parts.crossed:
        return ScheduleDefinition(**common, tags=parts.tags(DEFAULT_COMMUNITY),
                                  description=f"Runs the push {definition.name} ({cron}, UTC).")

    @schedule(**common, description=f"Runs the push {definition.name} for each community ({cron}, UTC).")
    def _each_community(context: ScheduleEvaluationContext) -> list[RunRequest]:
        return parts.whole_requests(context.scheduled_execution_time or dt.datetime.now(dt.UTC))

    return _each_community


def build_reverse_etl(destination: str | None = None, definitions: list[Definition] | None = None,
                      parts: CommunityPartitions | None = None) -> tuple[list[AssetsDefinition], list[Any]]:
    """The push assets and their checks for `destination` (default: the configured one), from
    `definitions` (default: every one found), for the communities `parts` (default: as configured now)."""
    definitions = list_definitions() if definitions is None else definitions
    parts = parts or community_partitions()
    return ([build_push_asset(d, destination, parts) for d in definitions],
            [c for d in definitions for c in build_push_checks(d, destination, parts)])

