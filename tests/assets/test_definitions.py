"""The code location loads; schedules and sensors start off and follow their configuration."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus, build_schedule_context

from assets.automation import load_automation
from assets.ingest import WINDOW_TAG
from assets.resources import WAREHOUSE_POOL
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES


def test_definitions_load_with_groups_pools_and_checks() -> None:
    from assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for table in INCREMENTAL_TABLES + SNAPSHOT_TABLES:
        assert AssetKey(["returning_raw", table]) in keys
        assert graph.get(AssetKey(["returning_raw", table])).group_name == "ingest"
    for model in ("dim_users", "fct_gamification_daily", "fct_gamification_events", "fct_redemptions",
                  "user_field_changes", "community_daily_kpis", "cohort_retention"):
        node = graph.get(AssetKey(["analytics", model]))
        assert node.group_name == "models"
        assert node.automation_condition is not None  # rebuilt after its inputs, when the sensor is on
    deps = {k.to_user_string() for k in graph.get(AssetKey(["analytics", "fct_redemptions"])).parent_keys}
    assert deps == {"returning_raw/redemption_orders", "returning_raw/purchase_histories",
                    "returning_raw/store_products", "returning_raw/store_categories",
                    "returning_raw/redemption_status_history"}
    for model in graph.get_all_asset_keys():  # every table a model reads is an asset: it runs after its load
        if model.path[0] == "analytics":
            assert set(graph.get(model).parent_keys) <= keys, model
    # every asset that writes DuckDB sits in the one warehouse pool
    for assets_def in defs.assets or []:
        if hasattr(assets_def, "op") and not assets_def.is_external:
            assert assets_def.op.pool == WAREHOUSE_POOL, assets_def.keys
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"primary_key_unique", "fresh", "row_count_not_collapsing", "user_id_references_known_users"} <= check_names
    assert graph.get(AssetKey(["returning_raw", "gamification_logs"])).partitions_def is not None
    assert graph.get(AssetKey(["returning_raw", "users"])).partitions_def is None


def test_schedules_and_sensor_default_off() -> None:
    from assets.definitions import defs

    assert {s.name for s in defs.schedules or []} >= {"incremental_hourly", "snapshot_daily"}
    for schedule in defs.schedules or []:
        if schedule.name in ("incremental_hourly", "snapshot_daily"):
            assert schedule.default_status == DefaultScheduleStatus.STOPPED
    sensor = next(s for s in defs.sensors or [] if s.name == "models_after_inputs")
    assert sensor.default_status == DefaultSensorStatus.STOPPED


def test_environment_turns_schedules_on_and_sets_cron(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_SCHEDULE_INCREMENTAL_HOURLY", "on")
    monkeypatch.setenv("RETURNING_SCHEDULE_SNAPSHOT_DAILY_CRON", "30 2 * * *")
    monkeypatch.setenv("RETURNING_SCHEDULE_MODELS_AFTER_INPUTS", "on")
    import assets.schedules
    import assets.sensors

    schedules = importlib.reload(assets.schedules)
    sensors = importlib.reload(assets.sensors)
    try:
        by_name = {s.name: s for s in schedules.schedules}
        assert by_name["incremental_hourly"].default_status == DefaultScheduleStatus.RUNNING
        assert by_name["snapshot_daily"].cron_schedule == "30 2 * * *"
        assert by_name["snapshot_daily"].default_status == DefaultScheduleStatus.STOPPED
        assert sensors.sensors[0].default_status == DefaultSensorStatus.RUNNING
    finally:
        monkeypatch.undo()
        importlib.reload(assets.schedules)
        importlib.reload(assets.sensors)


def test_toml_file_configures_automation(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text('partitions_start = "2026-02-01"\n[schedules.snapshot_daily]\ncron = "0 4 * * *"\nenabled = true\n')
    config = load_automation(toml, env={})
    assert config.partitions_start == "2026-02-01"
    assert config.schedule("snapshot_daily").enabled and config.schedule("snapshot_daily").cron == "0 4 * * *"
    with pytest.raises(ValueError, match="use on or off"):
        load_automation(toml, env={"RETURNING_SCHEDULE_SNAPSHOT_DAILY": "maybe"})


def test_hourly_schedule_loads_todays_partition_from_the_high_water_mark() -> None:
    from assets.schedules import schedules

    hourly = next(s for s in schedules if s.name == "incremental_hourly")
    tick = dt.datetime(2026, 6, 1, 13, 5, tzinfo=dt.UTC)
    request = hourly(build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-06-01"
    assert request.tags[WINDOW_TAG] == "state"


def test_workspace_yaml_loads_the_one_code_location(tmp_path: Path) -> None:
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w",
                           "workspace.yaml"], cwd=root, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Validation successful for code location returning_sync" in done.stderr + done.stdout


def test_every_asset_says_in_a_line_what_it_holds() -> None:
    from assets.definitions import defs
    from pipelines.tables import TABLES
    from reverse_etl import list_definitions
    from warehouse.models import discover_models

    graph = defs.resolve_asset_graph()
    for row in TABLES:
        node = graph.get(AssetKey(["returning_raw", row.name]))
        assert node.description == f"returning_raw.{row.name}: {row.holds}."
        assert node.metadata["load"].startswith(str(row.load))
        assert node.metadata["write"] == str(row.write)
        assert node.metadata["primary_key"] == (", ".join(row.key) or "none")
    assert graph.get(AssetKey(["returning_raw", "gamification_logs"])).metadata["load"] == (
        "incremental: date-keyed, partitioned by day, loaded hourly")
    for model in discover_models():  # the SQL file's header comment
        node = graph.get(AssetKey(["analytics", model.name]))
        assert model.description and node.description == model.description
    for push in list_definitions():
        node = graph.get(AssetKey(["reverse_etl", push.name]))
        assert node.description and push.name not in node.description.split()[:2], node.description
    for key in graph.get_all_asset_keys():
        assert len(graph.get(key).description or "") > 30, key


def test_the_demo_runs_the_named_job_of_every_ingest_and_model_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster import JobDefinition

    from assets.definitions import defs
    from returning_sync.commands import demo

    job = defs.resolve_job_def("ingest_and_models")
    keys = {k.path[0] for k in job.asset_layer.selected_asset_keys}
    assert keys == {"returning_raw", "analytics"}
    assert {k.name for k in job.asset_layer.asset_graph.asset_check_keys} >= {"primary_key_unique", "fresh"}
    ran: list[str] = []
    monkeypatch.setattr(JobDefinition, "execute_in_process", lambda self, **kw: ran.append(self.name))
    demo.materialize_all(None, ("2026-01-01", "2026-01-31"))
    assert ran == ["ingest_and_models"]  # not __ephemeral_asset_job__


def test_importing_the_asset_modules_builds_nothing() -> None:
    """Assets, checks and push schedules are built by assets/definitions.py, not on import."""
    from dagster import AssetsDefinition, ScheduleDefinition

    import assets.checks
    import assets.ingest
    import assets.models
    import assets.reverse_etl
    import assets.seeds

    built = (AssetsDefinition, ScheduleDefinition)
    for module in (assets.checks, assets.ingest, assets.models, assets.reverse_etl, assets.seeds):
        for name, value in vars(module).items():
            values = value if type(value) in (list, tuple) else [value]
            assert not any(isinstance(v, built) for v in values), f"{module.__name__}.{name}"


def test_definitions_build_with_no_key_and_a_run_without_one_fails_naming_where_to_set_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is resolved while the definitions build: no key anywhere, they load. A run resolves its
    settings when it starts, and with no key it fails with the ConfigError that names where to set it."""
    from dagster import DagsterInstance, materialize
    from dagster_dlt import DagsterDltResource

    from assets.ingest import build_ingest_assets
    from assets.resources import ReturningApiSettings, Warehouse
    from pipelines.config import ALIASES

    for name in ALIASES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SOURCES__RETURNING_AI__API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user-wide .dlt folder
    (tmp_path / ".dlt").mkdir()
    monkeypatch.chdir(tmp_path)
    import assets.definitions

    defs = importlib.reload(assets.definitions).defs
    assert AssetKey(["returning_raw", "tiers"]) in set(defs.resolve_asset_graph().get_all_asset_keys())
    assets_defs = build_ingest_assets("duckdb")
    resources = {"dlt": DagsterDltResource(), "returning": ReturningApiSettings(base_url="http://127.0.0.1:9"),
                 "warehouse": Warehouse(destination="duckdb", path=str(tmp_path / "w.duckdb"))}
    snapshot = next(a for a in assets_defs if AssetKey(["returning_raw", "tiers"]) in a.keys)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([snapshot], instance=instance, resources=resources, raise_on_error=False,
                             selection=[AssetKey(["returning_raw", "tiers"])])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error  # Dagster's step error, caused by ours
    while error.cls_name != "ConfigError" and error.cause is not None:
        error = error.cause
    assert error.cls_name == "ConfigError"
    assert error.message == ("returning_errors.ConfigError: RETURNING_AI_API_KEY is not set (nor "
                             "SOURCES__RETURNING_AI__API_KEY, nor api_key under [sources.returning_ai] in "
                             ".dlt/secrets.toml): create a key under community settings > API keys\n")
    assert not (tmp_path / "w.duckdb").exists()  # failed before touching the warehouse
