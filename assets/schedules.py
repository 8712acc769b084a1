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
from assets.ingest import INGEST_GROUP, WINDOW_TAG, partitions, raw_key
from assets.models import MODELS_GROUP
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES

DEFAULT_CRONS = {"incremental_hourly": "5 * * * *", "snapshot_daily": "15 3 * * *"}
# the community a scheduled run syncs; deploy/dagster.yaml lets one run per community value run at a time
COMMUNITY_TAG = "returning/community"
DEFAULT_COMMUNITY = "default"

incremental_job = define_asset_job(
    "ingest_incremental",
    selection=AssetSelection.assets(*map(raw_key, INCREMENTAL_TABLES)),
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

    @schedule(name="incremental_hourly", cron_schedule=switch.cron or DEFAULT_CRONS[switch.name],
              job=incremental_job, default_status=_status(switch), execution_timezone=load_automation().timezone,
              description="Each hour: load what is new since the stored high-water mark (today's partition).")
    def incremental_hourly(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        keys = partitions.get_partition_keys(current_time=tick)
        key = keys[-1]
        return RunRequest(run_key=f"{key}-{tick:%H%M}", partition_key=key,
                          tags={WINDOW_TAG: "state", COMMUNITY_TAG: DEFAULT_COMMUNITY})

    return incremental_hourly


def _snapshot_schedule() -> ScheduleDefinition:
    switch = _switch("snapshot_daily")
    return ScheduleDefinition(name="snapshot_daily", cron_schedule=switch.cron or DEFAULT_CRONS[switch.name],
                              job=snapshot_job, default_status=_status(switch),
                              execution_timezone=load_automation().timezone,
                              tags={COMMUNITY_TAG: DEFAULT_COMMUNITY},
                              description="Each day: reload users, user fields, store and gamification set-up.")


jobs = [incremental_job, snapshot_job, everything_job]
schedules = [_incremental_schedule(), _snapshot_schedule()]
