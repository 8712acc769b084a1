"""Skip and report in Dagster: on an API that serves only the documented surface, the ingest run
succeeds (partial); the datasets it skips are not materialized and their `available` check says why;
disabled datasets are not materialized either; the others hold exactly the simulator's truth."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest
from dagster import (
    AssetCheckSeverity,
    DagsterInstance,
    Definitions,
    evaluate_automation_conditions,
    materialize,
)

from assets.availability import AVAILABLE
from assets.ingest import build_ingest_assets
from assets.models import build_model_assets
from assets.resources import ReturningApiSettings
from pipelines.config import Settings
from pipelines.tables import RESOURCES
from tests.assets.conftest import first_load, resources_for
from tests.pipelines.truth import compare
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation

TIERS_LINE = ('tiers: skipped, GET /apis/v1/tiers [assumed]: HTTP 404: Not found; No endpoint GET /apis/v1/tiers; '
              'if the API serves it elsewhere, [sources.returning_ai.registry_overrides.tiers] path = "/apis/v1/..." '
              '(the path it serves), or turn it off: [sources.returning_ai] disabled = ["tiers"]')


def _materialized(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}  # type: ignore[union-attr]


def _checks(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if ev.check_name == AVAILABLE:
                out[ev.asset_key.path[-1]] = ev
    return out


def _resources(sim: SimAdmin, warehouse: Path, **returning: object) -> dict[str, object]:
    resources = resources_for(sim.base_url, warehouse)
    resources["returning"] = ReturningApiSettings(api_key=FULL_KEY, base_url=sim.base_url, community_id=COMMUNITY_ID,
                                                  **returning)
    return resources


def _run(sim: SimAdmin, warehouse: Path, instance: DagsterInstance | None = None,
         **returning: object):  # type: ignore[no-untyped-def]
    with DagsterInstance.ephemeral() if instance is None else nullcontext(instance) as used, first_load(sim) as first:
        return materialize([*build_ingest_assets("duckdb")], instance=used, resources=_resources(sim, warehouse, **returning),
                           raise_on_error=False, **first)


def test_skipped_datasets_are_not_materialized_and_their_check_says_why(
        sim: SimAdmin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.knobs(surface="documented")
    surface = sim.get("/__sim/surface")["datasets"]
    served = {name for name, d in surface.items() if d["served"]}
    monkeypatch.setenv("RETURNING_SYNC_DISABLED", "streaks")
    warehouse = tmp_path / "returning.duckdb"
    definitions = Definitions(assets=[*build_ingest_assets("duckdb"), *build_model_assets(destination="duckdb")],
                              resources=_resources(sim, warehouse))

    with DagsterInstance.ephemeral() as instance:
        before = evaluate_automation_conditions(defs=definitions, instance=instance)
        result = _run(sim, warehouse, instance)
        after = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=before.cursor)

    assert result.success
    # in the run, Dagster skips what reads an unmaterialized asset; the models' automation then asks
    # for every model with an input that loaded, and for none whose inputs were all skipped
    requested = {r.key.path[-1] for r in after.results if r.true_subset.size}
    assert {"dim_users", "fct_messages", "fct_live_events"} <= requested
    assert not {"user_field_changes", "fct_gamification_events"} & requested
    assert _materialized(result) == served - {"streaks"}
    checks = _checks(result)
    assert set(checks) == set(RESOURCES)
    failed = {name for name, ev in checks.items() if not ev.passed}
    assert failed == set(RESOURCES) - served
    tiers = checks["tiers"]
    assert tiers.severity == AssetCheckSeverity.WARN
    assert tiers.description == TIERS_LINE
    assert {k: v.value for k, v in tiers.metadata.items()} == {
        "dataset": "tiers", "reason": "not found", "result": "HTTP 404: Not found; No endpoint GET /apis/v1/tiers",
        "fix": TIERS_LINE.split("/apis/v1/tiers; ", 1)[1], "summary": TIERS_LINE, "endpoint": "tiers",
        "request": "GET /apis/v1/tiers", "mark": "[assumed]"}
    history = checks["redemption_status_history"]
    assert history.description == (
        "redemption_status_history: skipped, depends on redemption_orders, which was skipped; make redemption_orders "
        'available, or turn it off: [sources.returning_ai] disabled = ["redemption_status_history"]')
    assert history.metadata["depends_on"].value == "redemption_orders"
    assert checks["streaks"].passed and checks["streaks"].description == (
        "streaks: disabled in the settings ([sources.returning_ai] disabled), not read")
    assert checks["users"].passed and checks["users"].metadata["result"].value == "loaded"

    settings = Settings.from_env(api_key=FULL_KEY, base_url=sim.base_url, warehouse=str(warehouse))
    con = connect(WarehouseLocation.from_env(path=str(warehouse)), read_only=True)
    try:
        for name in sorted(served - {"streaks", "webhook_events"}):
            truth = sim.truth_rows(name)
            assert truth, name
            if name == "users":  # `is_deleted`/`deleted_at`: the client's deletion flags, live members only
                assert compare(con, name, truth, ignore=("deleted_at", "is_deleted"), where="WHERE NOT is_deleted") == []
            else:
                assert compare(con, name, truth) == [], name
        # not read, not materialized; on a first sync its declared table exists, empty
        assert con.execute("SELECT count(*) FROM returning_raw.streaks").fetchone() == (0,)
    finally:
        con.close()
    assert settings.disabled == ("streaks",)


def test_strict_fails_the_run_at_the_first_skip(sim: SimAdmin, tmp_path: Path) -> None:
    sim.knobs(surface="documented")
    result = _run(sim, tmp_path / "returning.duckdb", strict=True)
    assert not result.success
    assert _materialized(result) == set()
    errors = [e.event_specific_data.error.to_string() for e in result.get_step_failure_events()]  # type: ignore[union-attr]
    assert errors and all("failed with HTTP 404: Not found; No endpoint" in m for m in errors), errors


def test_the_available_checks_alone_probe_and_load_nothing(sim: SimAdmin, tmp_path: Path) -> None:
    from dagster import AssetCheckKey, AssetSelection

    from assets.ingest import raw_key

    sim.knobs(surface="documented")
    warehouse = tmp_path / "returning.duckdb"
    resources = resources_for(sim.base_url, warehouse)
    picked = [AssetCheckKey(raw_key(t), AVAILABLE) for t in ("users", "tiers", "redemption_status_history")]
    with DagsterInstance.ephemeral() as instance:
        result = materialize([*build_ingest_assets("duckdb")], instance=instance, resources=resources,
                             selection=AssetSelection.checks(*picked), raise_on_error=False)
    assert result.success
    assert _materialized(result) == set() and not warehouse.exists()
    checks = _checks(result)
    assert set(checks) == {"users", "tiers", "redemption_status_history"}
    assert checks["users"].passed and checks["users"].metadata["result"].value == "available (probed)"
    assert not checks["tiers"].passed and checks["tiers"].description == TIERS_LINE  # as the run says it
    assert checks["redemption_status_history"].description.startswith(
        "redemption_status_history: skipped, depends on redemption_orders, which was skipped")
