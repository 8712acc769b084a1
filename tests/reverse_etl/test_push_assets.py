"""The push assets in Dagster: definitions load, a materialisation pushes and reports, checks evaluate."""

from __future__ import annotations

from typing import Any

from dagster import AssetKey, AssetSelection, DefaultScheduleStatus, materialize

from assets.resources import WAREHOUSE_POOL, ReturningApiSettings, Warehouse
from assets.reverse_etl import build_push_schedules, build_reverse_etl, upstream_keys
from reverse_etl import get_definition
from tests.simadmin import SimAdmin

(reverse_etl_assets, reverse_etl_checks), reverse_etl_schedules = build_reverse_etl(), build_push_schedules()


def _asset(name: str) -> Any:
    return next(a for a in reverse_etl_assets if a.key == AssetKey(["reverse_etl", name]))


def test_one_asset_per_definition_with_deps_pool_and_stopped_schedule() -> None:
    keys = {a.key.path[-1] for a in reverse_etl_assets}
    assert keys == {"weekly_tier_bonus", "loyalty_points", "monthly_top_xp_premium",
                    "weekly_gold_welcome", "orders_shipped", "voucher_codes"}
    bonus = _asset("weekly_tier_bonus")
    assert bonus.group_names_by_key[bonus.key] == "reverse_etl"
    assert set(upstream_keys(get_definition("weekly_tier_bonus"))) == {
        AssetKey(["analytics", "dim_users"]), AssetKey(["analytics", "fct_gamification_events"]),
        AssetKey(["returning_raw", "tiers"])}
    assert bonus.op.pool == WAREHOUSE_POOL
    assert len(reverse_etl_checks) == 12
    by_name = {s.name: s for s in reverse_etl_schedules}
    assert by_name["push_weekly_tier_bonus_schedule"].cron_schedule == "0 6 * * 1"
    assert all(s.default_status == DefaultScheduleStatus.STOPPED for s in reverse_etl_schedules)


def test_materialising_a_push_reports_counts_and_checks_pass(sim: SimAdmin, push_settings: Any) -> None:
    checks = [c for c in reverse_etl_checks if AssetKey(["reverse_etl", "weekly_tier_bonus"]) in
              {k.asset_key for k in c.check_keys}]
    result = materialize(
        [_asset("weekly_tier_bonus"), *checks],
        resources={"returning": ReturningApiSettings(), "warehouse": Warehouse(destination="duckdb", path=str(push_settings.warehouse))},
    )
    assert result.success
    [mat] = result.asset_materializations_for_node("reverse_etl__weekly_tier_bonus")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["state"] == "completed" and meta["rows_failed"] == 0
    assert meta["rows_sent"] == meta["rows_succeeded"] > 0 and meta["completion_ratio"] == 1.0
    assert meta["job_id"] and meta["failed_rows"] == []
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name: e.passed for e in evaluations} == {
        "rejection_rate_below_threshold": True, "no_job_left_unfinished": True}


def test_without_the_job_list_an_accepted_push_materialises_and_an_unknown_one_fails_its_check(
        sim: SimAdmin, push_settings: Any) -> None:
    """`--surface documented` (no bulk-jobs list): accepted = materialised with its rows unconfirmed;
    a lost answer = the asset fails and `no_job_left_unfinished` names the unknown upload."""
    checks = [c for c in reverse_etl_checks if {k.asset_key for k in c.check_keys} & {
        AssetKey(["reverse_etl", "weekly_tier_bonus"]), AssetKey(["reverse_etl", "loyalty_points"])}]
    resources = {"returning": ReturningApiSettings(), "warehouse": Warehouse(destination="duckdb", path=str(push_settings.warehouse))}
    sim.knobs(surface="documented", bulk_delay_ms=0)
    try:
        accepted = materialize([_asset("weekly_tier_bonus"), *checks], resources=resources,
                               selection=[AssetKey(["reverse_etl", "weekly_tier_bonus"])])
        sim.knobs(faults={"rate": 1.0, "kinds": ["truncate"], "endpoints": ["POST /apis/v1/users/bulk-update"]})
        lost = materialize([_asset("loyalty_points"), *checks], resources=resources, raise_on_error=False,
                           selection=[AssetKey(["reverse_etl", "loyalty_points"])])
    finally:
        sim.knobs(surface="full", faults={"rate": 0, "kinds": [], "endpoints": []})
    assert accepted.success
    [mat] = accepted.asset_materializations_for_node("reverse_etl__weekly_tier_bonus")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["state"] == "accepted" and meta["rows_unconfirmed"] == meta["rows_sent"] > 0
    assert (meta["rows_succeeded"], meta["rows_failed"], meta["job_id"]) == (0, 0, "")
    assert {e.check_name: e.passed for e in accepted.get_asset_check_evaluations()} == {
        "rejection_rate_below_threshold": True, "no_job_left_unfinished": True}
    assert not lost.success
    [failure] = [e for e in lost.all_events if e.is_step_failure]
    assert "will NOT be sent again" in str(failure.event_specific_data.error)
    stale = materialize(checks, resources=resources, selection=AssetSelection.checks_for_assets(
        AssetKey(["reverse_etl", "loyalty_points"])))
    [unknown] = [e for e in stale.get_asset_check_evaluations() if e.check_name == "no_job_left_unfinished"]
    assert not unknown.passed and len(unknown.metadata["unknown_pushes"].value) == 1
