"""Jobs and schedules: incremental datasets hourly, snapshots (users, store, set-up) daily.

Crons and on/off come from `assets/automation.toml` or the environment (see that file); every
schedule starts stopped unless configured on, and can be toggled in the UI. Each tick asks runs for
every configured community (assets/partitions.py), each tagged with its community; with one
community, the runs of before.
"""


import datetime as dt

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from assets.automation import Switch, load_automation
from assets.checks import schedule_interval
from assets.ingest import INGEST_GROUP, day_tables, partitions, raw_key
from assets.models import MODELS_GROUP
from assets.partitions import COMMUNITY_TAG, CommunityPartitions, community_partitions
from pipelines.tables import SNAPSHOT_TABLES
from warehouse.location import DEFAULT_COMMUNITY

__all__ = ["COMMUNITY_TAG", "DEFAULT_COMMUNITY", "build_schedules", "incremental_requests", "jobs", "jobs_for",
           "schedules"]

DEFAULT_CRONS = {"incremental_hourly": "5 * * * *", "snapshot_daily": "15 3 * * *"}
incremental_job = define_asset_job(
    "ingest_incremental",
    selection=AssetSelection.assets(*map(raw_key, day_tables())),
    description="Load the date-keyed datasets. Pick a partition range to backfill those days.",
)
snapshot_job = define_asset_job(
    "ingest_snapshot",
    selection=AssetSelection.assets(*map(raw_key, SNAPSHOT_TABLES)),
    description="Load users, user fields, the store and the gamification set-up in full.",
)

# `returning-sync demo`'s one run: a named job, so the run list says what it was
everything_job = define_asset_job(
    "ingest_and_models",
    selection=AssetSelection.groups(INGEST_GROUP, MODELS_GROUP),
    description="Load every raw table, build every SQL model and run their checks (what `returning-sync demo` runs).",
)


def _switch(name: str) -> Switch:
    config = load_automation()
    found = config.schedules.get(name)
    return found or Switch(name, False, DEFAULT_CRONS[name])


def _status(switch: Switch) -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if switch.enabled else DefaultScheduleStatus.STOPPED


def _incremental_schedule(parts: CommunityPartitions) -> ScheduleDefinition:
    switch = _switch("incremental_hourly")
    cron, timezone = switch.cron or DEFAULT_CRONS[switch.name], load_automation().timezone

    @schedule(name="incremental_hourly", cron_schedule=cron, job=incremental_job, default_status=_status(switch),
              execution_timezone=timezone,
              description="Each hour, for each community: today's partition, read from the stored high-water "
                          "mark. On a day's first tick, the day before once more, read whole (what arrived after "
                          "its last hourly run).")
    def incremental_hourly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        return incremental_requests(tick, schedule_interval(cron, dt.timedelta(hours=1), timezone), parts)

    return incremental_hourly


def incremental_requests(tick: dt.datetime, interval: dt.timedelta = dt.timedelta(hours=1),
                         parts: CommunityPartitions | None = None) -> list[RunRequest]:
    """The hourly tick's runs, for each community (`parts`: as configured now): today's partition (it
    reads from the stored marks to now, see `assets.ingest.load_window`) and, on the day's first tick
    (`interval`: the schedule's), yesterday's partition read whole, so the rows that arrived after its
    last hourly run land in it; one such run per community and day (its run key). Each run carries the
    community tag (one run per community at a time, deploy/dagster.yaml); with the community
    dimension its partition is `<community>|<day>` and its run key starts with the community."""
    parts = parts or community_partitions()
    keys = partitions.get_partition_keys(current_time=tick)
    today = keys[-1]
    day_start = partitions.time_window_for_partition_key(today).start
    closing = len(keys) > 1 and tick - day_start < interval
    requests = []
    for slug in parts.scheduled:
        named = f"{slug}-" if parts.crossed else ""
        tags = parts.tags(slug)
        if closing:
            requests.append(RunRequest(run_key=f"{named}{keys[-2]}-closed", partition_key=parts.day_key(slug, keys[-2]),
                                       tags=tags))
        requests.append(RunRequest(run_key=f"{named}{today}-{tick:%H%M}", partition_key=parts.day_key(slug, today),
                                   tags=tags))
    return requests


def _snapshot_schedule(parts: CommunityPartitions) -> ScheduleDefinition:
    switch = _switch("snapshot_daily")
    description = "Each day: reload users, user fields, store and gamification set-up."
    common = {"name": "snapshot_daily", "cron_schedule": switch.cron or DEFAULT_CRONS[switch.name],
              "job": snapshot_job, "default_status": _status(switch), "execution_timezone": load_automation().timezone}
    if not parts.crossed:  # one community: the schedule of before, one run a tick
        return ScheduleDefinition(**common, tags=parts.tags(DEFAULT_COMMUNITY), description=description)

    @schedule(**common, description=f"{description[:-1]}, for each community.")
    def snapshot_daily(context: ScheduleEvaluationContext) -> list[RunRequest]:
        return parts.whole_requests(context.scheduled_execution_time or dt.datetime.now(dt.UTC))

    return snapshot_daily


def build_schedules(parts: CommunityPartitions | None = None) -> list[ScheduleDefinition]:
    """The ingest schedules for the communities `parts` (default: as configured now)."""
    parts = parts or community_partitions()
    return [_incremental_schedule(parts), _snapshot_schedule(parts)]


def jobs_for(parts: CommunityPartitions) -> list[UnresolvedAssetJobDefinition]:
    """The jobs: `ingest_and_models` (the demo's one run) only with one community, for its raw tables
    by day and its models whole cannot share a run once the community crosses the day."""
    return [incremental_job, snapshot_job] + ([] if parts.crossed else [everything_job])


jobs = [incremental_job, snapshot_job, everything_job]
schedules = build_schedules()
