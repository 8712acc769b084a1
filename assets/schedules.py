"""Jobs and schedules: incremental datasets hourly, snapshots (users, store, set-up) daily.

Crons and on/off come from `assets/automation.toml` or the environment (see that file); every
schedule starts stopped unless configured on, and can be toggled in the UI.
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

from assets.automation import Switch, load_automation
from assets.checks import schedule_interval
from assets.ingest import INGEST_GROUP, day_tables, partitions, raw_key
from assets.models import MODELS_GROUP
from pipelines.tables import SNAPSHOT_TABLES

DEFAULT_CRONS = {"incremental_hourly": "5 * * * *", "snapshot_daily": "15 3 * * *"}
# the community a scheduled run syncs; deploy/dagster.yaml lets one run per community value run at a time
COMMUNITY_TAG = "returning/community"
DEFAULT_COMMUNITY = "default"

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


def _incremental_schedule() -> ScheduleDefinition:
    switch = _switch("incremental_hourly")
    cron, timezone = switch.cron or DEFAULT_CRONS[switch.name], load_automation().timezone

    @schedule(name="incremental_hourly", cron_schedule=cron, job=incremental_job, default_status=_status(switch),
              execution_timezone=timezone,
              description="Each hour: today's partition, read from the stored high-water mark. On a day's first "
                          "tick, the day before once more, read whole (what arrived after its last hourly run).")
    def incremental_hourly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        return incremental_requests(tick, schedule_interval(cron, dt.timedelta(hours=1), timezone))

    return incremental_hourly


def incremental_requests(tick: dt.datetime, interval: dt.timedelta = dt.timedelta(hours=1)) -> list[RunRequest]:
    """The hourly tick's runs: today's partition (it reads from the stored marks to now, see
    `assets.ingest.load_window`) and, on the day's first tick (`interval`: the schedule's), yesterday's
    partition read whole, so the rows that arrived after its last hourly run land in it; one such run
    per day (its run key). Each run carries the community tag (one run per community at a time,
    deploy/dagster.yaml)."""
    keys = partitions.get_partition_keys(current_time=tick)
    today = keys[-1]
    tags = {COMMUNITY_TAG: DEFAULT_COMMUNITY}
    requests = [RunRequest(run_key=f"{today}-{tick:%H%M}", partition_key=today, tags=tags)]
    day_start = partitions.time_window_for_partition_key(today).start
    if len(keys) > 1 and tick - day_start < interval:
        requests.insert(0, RunRequest(run_key=f"{keys[-2]}-closed", partition_key=keys[-2], tags=tags))
    return requests


def _snapshot_schedule() -> ScheduleDefinition:
    switch = _switch("snapshot_daily")
    return ScheduleDefinition(name="snapshot_daily", cron_schedule=switch.cron or DEFAULT_CRONS[switch.name],
                              job=snapshot_job, default_status=_status(switch),
                              execution_timezone=load_automation().timezone,
                              tags={COMMUNITY_TAG: DEFAULT_COMMUNITY},
                              description="Each day: reload users, user fields, store and gamification set-up.")


jobs = [incremental_job, snapshot_job, everything_job]
schedules = [_incremental_schedule(), _snapshot_schedule()]
