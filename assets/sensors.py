"""Sensors: rebuild the SQL models after their inputs load (asset-based automation, eager), and
load the webhook events the receiver landed as soon as a segment is sealed.

Off unless `[sensors.<name>] enabled = true` in automation.toml or RETURNING_SCHEDULE_<NAME>=on;
toggle them in the UI (Automation page).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.automation import load_automation
from assets.ingest import raw_key
from assets.models import MODELS_GROUP
from assets.partitions import CommunityPartitions, community_partitions
from warehouse.location import DEFAULT_COMMUNITY

webhook_events_job = define_asset_job(
    "load_webhook_events",
    selection=AssetSelection.assets(raw_key("webhook_events")),
    description="Load the webhook deliveries the receiver landed (no API call).",
)


def _models_sensor() -> AutomationConditionSensorDefinition:
    switch = load_automation().sensor("models_after_inputs")
    return AutomationConditionSensorDefinition(
        "models_after_inputs",
        target=AssetSelection.groups(MODELS_GROUP),
        default_status=DefaultSensorStatus.RUNNING if switch.enabled else DefaultSensorStatus.STOPPED,
        description="Rebuild each SQL model once any of its input tables has a new load.",
    )


def waiting_segments() -> list[str]:
    """Names of the sealed segments the receiver left under RETURNING_WEBHOOK_DIR (read only)."""
    from webhooks import segments
    from webhooks.config import landing_dir

    folder = landing_dir()
    return [p.name for p in segments.sealed(folder)] if folder.is_dir() else []


def _webhook_sensor(parts: CommunityPartitions) -> SensorDefinition:
    """The receiver lands one community's events (RETURNING_WEBHOOK_DIR, checked with the top-level
    webhook key): the default community's. Its runs carry that community's tag (and, with the
    community dimension, its partition); with no default community configured it never asks a run."""
    switch = load_automation().sensor("webhook_events_waiting")

    @sensor(name="webhook_events_waiting", job=webhook_events_job, minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING if switch.enabled else DefaultSensorStatus.STOPPED,
            description="Load returning_raw.webhook_events when the receiver has sealed segments waiting.")
    def webhook_events_waiting(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        if DEFAULT_COMMUNITY not in parts.scheduled:
            return SkipReason("webhook landing is the default community's, and only other communities are "
                              "configured")
        waiting = waiting_segments()
        if not waiting:
            return SkipReason("no landed webhook segments waiting")
        # one run per newest segment: a failed run is asked again once the next segment is sealed. The
        # events sit outside the day partitions (in `returning_raw_snapshot`): the run loads what landed
        return RunRequest(run_key=f"webhooks:{waiting[-1]}", partition_key=parts.whole_key(DEFAULT_COMMUNITY),
                          tags=parts.tags(DEFAULT_COMMUNITY))

    return webhook_events_waiting


def build_sensors(parts: CommunityPartitions | None = None) -> list[SensorDefinition]:
    """The sensors for the communities `parts` (default: as configured now)."""
    return [_models_sensor(), _webhook_sensor(parts or community_partitions())]


sensors = build_sensors()
