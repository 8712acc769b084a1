"""`returning-sync demo`: simulator + full sync through Dagster + models + checks + reverse-ETL dry runs.

Starts the simulator with a seeded community on a free loopback port, materializes every ingest
and model asset (with their checks) in one run of the job `ingest_and_models` on the project's
instance (`.dagster_home/`, so `returning-sync ui` shows the run afterwards), dry-runs each shipped
push and prints a summary.

`--surface documented` runs the simulator serving only what Returning.AI documents: the datasets at
assumed paths are skipped (not materialized; their `available` check warns and says why), so Dagster
skips, in that run, the model steps downstream of them. Their tables exist (declared, empty), so the
demo then builds those models in a second run of the same job, selecting only them: no ingest step is
in that run, so nothing upstream can skip them (Dagster 1.13 has no per-dependency "run even if the
upstream output was skipped", and the skip is the right answer inside a sync run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from returning_errors import ConfigError, plural
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess
from warehouse.configuration import configured

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# the simulator's surfaces the demo can run on (`renamed` needs name overrides the demo does not have)
SURFACES = ("full", "documented")


def say(text: str) -> None:
    print(text, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=2000, help="community size (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    parser.add_argument("--port", type=int, default=0, help="simulator port (default: a free one)")
    parser.add_argument("--warehouse", default=None,
                        help="DuckDB file (default: $RETURNING_WAREHOUSE or warehouse/returning.duckdb)")
    parser.add_argument("--keep-warehouse", action="store_true",
                        help="load into the existing warehouse instead of starting from an empty one")
    parser.add_argument("--surface", choices=SURFACES, default="full",
                        help="what the simulator serves: full (default, everything) or documented (only what "
                             "Returning.AI documents; the other datasets are skipped and named, every model is still built)")


def _warehouse(arg: str | None) -> Path:
    raw = arg or configured("warehouse", ConfigError) or str(PROJECT_ROOT / "warehouse" / "returning.duckdb")
    return Path(raw).resolve()


def _fresh(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            p.unlink()


def sim_window(clock: dict[str, Any], days: int = 90) -> tuple[str, str]:
    """Partition keys covering the simulator's history: from `history_start` (else `days` before the
    clock) up to the clock's day."""

    def parse(value: Any) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None

    now = parse(clock.get("now")) or dt.datetime.now(dt.UTC)
    start = parse(clock.get("history_start")) or now - dt.timedelta(days=days)
    return start.date().isoformat(), now.date().isoformat()


@cache
def demo_definitions() -> Any:
    """The code location for the demo's environment and its one community, the simulator's (the
    community blocks a project configures do not partition the demo's assets: docs/communities.md)."""
    from assets import definitions  # the code location, built on import for the demo's environment
    from assets.partitions import CommunityPartitions, community_partitions

    if not community_partitions().crossed:
        return definitions.defs
    return definitions.definitions_for(parts=CommunityPartitions())


def materialize_all(instance: Any, window: tuple[str, str], only: Sequence[Any] | None = None) -> Any:
    """One in-process run of the job `ingest_and_models` (every ingest and model asset with their
    checks; `only`: those asset keys and their checks) over `window`; the run list shows it by that name."""
    from assets.ingest import partitions
    from assets.schedules import everything_job

    defs = demo_definitions()

    keys = partitions.get_partition_keys()
    start = max(window[0], keys[0])
    end = min(window[1], keys[-1])
    tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    job = defs.resolve_job_def(everything_job.name)
    return job.execute_in_process(instance=instance, run_config=quiet, tags=tags, raise_on_error=False,
                                  asset_selection=list(only) if only is not None else None)


def models_not_built(result: Any) -> list[Any]:
    """The model assets of the job a run selected but did not materialize (their steps skipped because
    a dataset upstream was skipped), in the job's order."""
    from assets.models import MODELS_GROUP
    from assets.schedules import everything_job

    job = demo_definitions().resolve_job_def(everything_job.name)
    graph = job.asset_layer.asset_graph
    built = {e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    models = [k for k in job.asset_layer.selected_asset_keys if graph.get(k).group_name == MODELS_GROUP]
    return sorted((k for k in models if k not in built), key=lambda k: k.to_user_string())


def skipped_datasets(result: Any) -> list[str]:
    """One line per dataset the run skipped (pipelines/skips.py's line, as the `available` check says it)."""
    lines: dict[str, str] = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.event_specific_data
        summary = evaluation.metadata.get("summary") if evaluation.check_name == "available" else None
        if not evaluation.passed and summary is not None and "dataset" in evaluation.metadata:
            lines[evaluation.asset_key.path[-1]] = str(summary.value)
    return [lines[name] for name in sorted(lines)]


def dry_runs(settings: Any) -> list[Any]:
    from pipelines.seeds import sync_seeds
    from reverse_etl import list_definitions, run_push
    from reverse_etl.pushrun import open_ledger

    out: list[Any] = []
    sync_seeds(settings)  # the shipped seeds (warehouse/seeds/*.csv) some definitions join with, as `sync` loads them
    with open_ledger(settings):  # schema reverse_etl and its tables, as the first push makes them
        pass
    for definition in list_definitions():
        try:
            out.append(run_push(definition.name, settings, dry_run=True))
        except Exception as exc:  # one broken definition must not hide the others or the summary
            out.append(f"reverse ETL dry run {definition.name} FAILED: {type(exc).__name__}: {exc}")
    return out


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    warehouse = _warehouse(args.warehouse)
    if not args.keep_warehouse:
        _fresh(warehouse)
    surface = getattr(args, "surface", "full")
    extra = ("--surface", surface) if surface != "full" else ()
    with SimulatorProcess(users=args.users, seed=args.seed, port=args.port, extra=extra, cwd=PROJECT_ROOT) as sim:
        env = {
            "RETURNING_AI_API_KEY": FULL_KEY,  # the simulator's all-permission key
            "RETURNING_AI_BASE_URL": sim.url,
            "RETURNING_AI_COMMUNITY_ID": configured("community_id", ConfigError) or COMMUNITY_ID,
            "RETURNING_WAREHOUSE": str(warehouse),
            "RETURNING_DESTINATION": "duckdb",  # the demo's warehouse is always the embedded file
            "DAGSTER_HOME": os.environ.get("DAGSTER_HOME") or str(PROJECT_ROOT / ".dagster_home"),
            "RUNTIME__LOG_LEVEL": os.environ.get("RUNTIME__LOG_LEVEL", "ERROR"),  # dlt: errors only
        }
        os.environ.update(env)
        say(f"simulator: {plural(args.users, 'user')}, seed {args.seed}, at {sim.url}"
            + (f", surface {surface}" if surface != "full" else ""))
        from assets.instance import project_instance

        instance = project_instance(Path(env["DAGSTER_HOME"]))
        window = sim_window(sim.admin_get("/__sim/clock"))
        say(f"materializing every ingest and model asset through Dagster (days {window[0]} .. {window[1]})")
        sim.admin_post("/__sim/counters/reset")
        load_started = time.monotonic()
        results = [materialize_all(instance, window)]
        missing = models_not_built(results[0]) if results[0].success else []
        if missing:  # skipped downstream of a skipped dataset; their inputs' tables exist, empty
            say(f"building the {plural(len(missing), 'model')} that run skipped, in a second run of the same job")
            results.append(materialize_all(instance, window, only=missing))
        load_seconds = time.monotonic() - load_started
        counters = sim.admin_get("/__sim/counters")
        from assets.resources import settings_from

        settings = settings_from(os.environ)
        success = all(r.success for r in results)
        pushes = dry_runs(settings) if success else []
    report(results, warehouse, counters, pushes, load_seconds, time.monotonic() - started)
    ok = success and not check_summary(*results)[1] and not any(isinstance(p, str) for p in pushes)
    return 0 if ok else 1


SUMMARY_SCHEMAS = ("returning_raw", "analytics", "seeds", "reverse_etl")


def table_counts(warehouse: Path) -> dict[str, list[tuple[str, int]]]:
    """Rows per table of each schema of `SUMMARY_SCHEMAS` (dlt's bookkeeping tables left out)."""
    from warehouse.connection import connect
    from warehouse.location import WarehouseLocation

    out: dict[str, list[tuple[str, int]]] = {schema: [] for schema in SUMMARY_SCHEMAS}
    with connect(WarehouseLocation(destination="duckdb", path=warehouse), read_only=True) as con:
        for schema in out:
            for name in con.tables(schema):
                if name.startswith("_dlt"):
                    continue
                out[schema].append((name, con.row_count(schema, name) or 0))
    return out


CHANNEL_ACTIVITY = """
SELECT channel_name, SUM(messages) AS messages, SUM(replies) AS replies, MAX(posters) AS busiest_day_posters
FROM analytics.channel_daily_activity
WHERE activity_date > (SELECT MAX(activity_date) FROM analytics.channel_daily_activity) - INTERVAL 7 DAY
GROUP BY channel_name ORDER BY messages DESC LIMIT 5
"""


def channel_activity(warehouse: Path) -> list[tuple[Any, ...]]:
    """The five busiest channels over the last 7 days the warehouse holds ([] before any model)."""
    from warehouse.connection import connect
    from warehouse.location import WarehouseLocation

    with connect(WarehouseLocation(destination="duckdb", path=warehouse), read_only=True) as con:
        if not con.table_exists("analytics", "channel_daily_activity"):
            return []
        return con.fetchall(CHANNEL_ACTIVITY)


def check_summary(*results: Any) -> tuple[int, list[str], list[str]]:
    """(checks passed, checks that failed, warnings: checks of warning severity that did not pass)
    from the runs' events. A warning (a dataset the API does not serve, a shortfall against the
    server's counts, a field that stopped coming) is said, not a failure of the demo."""
    from dagster import AssetCheckSeverity

    passed, failed, warned = 0, [], []
    for event in (e for result in results for e in result.all_events):
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.event_specific_data
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            passed += 1
        elif evaluation.severity == AssetCheckSeverity.WARN:
            warned.append(name)
        else:
            failed.append(name)
    return passed, failed, warned


def report(results: list[Any], warehouse: Path, counters: dict[str, Any], pushes: list[Any],
           load_seconds: float, total_seconds: float) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=True)
    for result in (r for r in results if not r.success):
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        for event in failures:
            error = event.event_specific_data.error
            console.print(f"[red]step {event.step_key} failed:[/red] {error.message.strip() if error else ''}")
    counts = table_counts(warehouse) if warehouse.exists() else {}
    for schema, rows in counts.items():
        table = Table(title=f"{schema} ({plural(len(rows), 'table')})")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in rows:
            table.add_row(name, f"{n:,}")
        console.print(table)
    activity = channel_activity(warehouse) if warehouse.exists() else []
    if activity:
        table = Table(title="channel activity, last 7 days (analytics.channel_daily_activity)")
        for column in ("channel", "messages", "replies", "posters (busiest day)"):
            table.add_column(column, justify="left" if column == "channel" else "right")
        for name, messages, replies, posters in activity:
            table.add_row(str(name), f"{int(messages):,}", f"{int(replies):,}", f"{int(posters):,}")
        console.print(table)
    passed, failed, warned = check_summary(*results)
    by_status = ", ".join(f"{k}: {v}" for k, v in sorted(counters.get("by_status", {}).items()))
    runs = "; ".join(f"{r.run_id}: {'succeeded' if r.success else 'FAILED'}" for r in results)
    console.print(f"Dagster run{'s' if len(results) > 1 else ''} {runs} "
                  f"in {load_seconds:.1f}s; {counters.get('total', 0):,} API requests ({by_status})")
    for line in skipped_datasets(results[0]):
        console.print(f"[yellow]not served by this surface:[/yellow] {escape(line)}", highlight=False)
    console.print(f"asset checks: {passed} passed, {len(failed)} failed" + (f" ({', '.join(failed)})" if failed else "")
                  + (f", {plural(len(warned), 'warning')} ({', '.join(warned)})" if warned else ""))
    for push in pushes:
        if isinstance(push, str):
            console.print(f"[red]{push}[/red]")
            continue
        written = f"; CSV {push.csv_path}" if getattr(push, "csv_path", None) else " (one call per row)"
        console.print(f"reverse ETL dry run {push.definition}: {plural(push.total, 'row')}, {push.would_send:,} would be sent, "
                      f"{push.invalid} invalid, {push.unchanged} unchanged{written}")
    console.print(f"total {total_seconds:.1f}s. Warehouse: {warehouse}")
    env = "" if str(warehouse) == str(PROJECT_ROOT / "warehouse" / "returning.duckdb") else f"RETURNING_WAREHOUSE={warehouse} "
    console.print("Query it:  " + env + 'returning-sync sql "select * from analytics.community_daily_kpis '
                  'order by activity_date desc limit 7"')
    console.print("Open the UI (simulator + Dagster, this run included):  returning-sync ui")
