"""Models rebuild after their inputs load, once per load, even though most raw partitions never load."""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    evaluate_automation_conditions,
)

from assets.ingest import build_ingest_assets, day_tables
from assets.models import build_model_assets
from assets.resources import default_resources
from pipelines.tables import RESOURCES as RAW_TABLES

ingest_assets, model_assets = build_ingest_assets(), build_model_assets()


def _requested(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {k.path[-1] for k in (a for m in model_assets for a in m.keys) if result.get_num_requested(k)}


def test_models_are_requested_once_after_their_inputs_load() -> None:
    defs = Definitions(assets=[*ingest_assets, *model_assets], resources=default_resources())
    instance = DagsterInstance.ephemeral()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # nothing loaded yet

    for table in ("users", "tiers"):  # dim_users' inputs only
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["returning_raw", table])))
    second = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert _requested(second) >= {"dim_users", "cohort_retention"}  # downstream models follow in the same tick
    assert "fct_redemptions" not in _requested(second)
    for name in _requested(second):  # ... and their run completes
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["analytics", name])))
    settled = evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert settled.total_requested == 0

    for table in RAW_TABLES:  # a scheduled load: today's partition of the date-keyed tables
        partition = "2026-06-01" if table in day_tables() else None
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["returning_raw", table]), partition=partition))
    third = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert _requested(third) == {m.key.path[-1] for m in model_assets}

    fourth = evaluate_automation_conditions(defs=defs, instance=instance, cursor=third.cursor)
    assert fourth.total_requested == 0  # no new load, no rebuild


def test_schedules_and_sensors_start_stopped_as_the_readme_says() -> None:
    """The shipped automation turns nothing on, the models sensor included, and the README says so."""
    from pathlib import Path

    from dagster import DefaultSensorStatus

    from assets.automation import load_automation
    from assets.sensors import sensors

    shipped = load_automation(env={})
    assert shipped.schedules and shipped.sensors
    assert [s for s in (*shipped.schedules.values(), *shipped.sensors.values()) if s.enabled] == []
    assert {s.name: s.default_status for s in sensors if not load_automation().sensor(s.name).enabled} == {
        name: DefaultSensorStatus.STOPPED for name in shipped.sensors if not load_automation().sensor(name).enabled}
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert "Schedules and sensors start stopped" in readme and "`models_after_inputs` (stopped too)" in readme
