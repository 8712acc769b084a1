"""The push assets in Dagster: definitions load, a materialisation pushes and reports, checks evaluate."""

from __future__ import annotations

from typing import Any

from dagster import AssetKey, DefaultScheduleStatus, materialize

from assets.resources import WAREHOUSE_POOL, DuckDBWarehouse, ReturningApiSettings
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
        resources={"returning": ReturningApiSettings(), "warehouse": DuckDBWarehouse(path=str(push_settings.warehouse))},
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
