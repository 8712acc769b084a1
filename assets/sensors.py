"""Sensors: rebuild the SQL models after their inputs load (asset-based automation, eager).

Off unless `[sensors.models_after_inputs] enabled = true` in automation.toml or
RETURNING_SCHEDULE_MODELS_AFTER_INPUTS=on; toggle it in the UI (Automation page).
"""

from __future__ import annotations

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from assets.automation import load_automation
from assets.models import MODELS_GROUP


def _models_sensor() -> AutomationConditionSensorDefinition:
    switch = load_automation().sensor("models_after_inputs")
    return AutomationConditionSensorDefinition(
        "models_after_inputs",
        target=AssetSelection.groups(MODELS_GROUP),
        default_status=DefaultSensorStatus.RUNNING if switch.enabled else DefaultSensorStatus.STOPPED,
        description="Rebuild each SQL model once any of its input tables has a new load.",
    )


sensors = [_models_sensor()]
