"""Bounded loads: half-open [start, end) windows (as Dagster partitions run them) and `--since`
backfills, checked at the boundaries where rows sit exactly on midnight."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import duckdb

from pipelines.config import Settings
from pipelines.sync import make_pipeline, make_source, run_sync
from tests.pipelines.truth import compare, day
from tests.simadmin import SimAdmin

Connect = Callable[[], duckdb.DuckDBPyConnection]
START, END = date(2026, 5, 1), date(2026, 5, 8)
STREAMS = {"gamification_logs": "createdAt", "streak_logs": "createdAt", "user_field_histories": "createdAt",
           "redemption_orders": "updatedAt"}


def inside(row: dict, field: str, start: date, end: date | None) -> bool:
    lo = f"{start.isoformat()}T00:00:00.000Z"
    return row[field] >= lo and (end is None or row[field] < f"{end.isoformat()}T00:00:00.000Z")


def test_windows_are_half_open(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    edge = [r for r in sim.truth_rows("streak_logs") if r["createdAt"] in
            (f"{START}T00:00:00.000Z", f"{END}T00:00:00.000Z")]
    assert edge, "the simulator should have rows exactly on the window's edges"
    source = make_source(settings, [*STREAMS, "gamification_daily"], start_date=START, end_date=END)
    make_pipeline(settings).run(source)
    con = warehouse()
    for dataset, field in STREAMS.items():
        truth = [r for r in sim.truth_rows(dataset) if inside(r, field, START, END)]
        assert truth, dataset
        assert compare(con, dataset, truth) == [], dataset
    daily = [r for r in sim.truth_rows("gamification_daily") if START <= day(r["date"]) < END]
    assert compare(con, "gamification_daily", daily) == []


def test_bounded_window_leaves_the_stored_cursor_alone(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    make_pipeline(settings).run(make_source(settings, ["gamification_logs", "streak_logs"],
                                            start_date=START, end_date=END))
    run_sync(settings, resources=["gamification_logs", "streak_logs"])  # the scheduled run: everything
    con = warehouse()
    for dataset in ("gamification_logs", "streak_logs"):
        assert compare(con, dataset, sim.truth_rows(dataset)) == [], dataset


def test_since_backfills_from_a_day_without_moving_the_cursor(sim: SimAdmin, settings: Settings,
                                                              warehouse: Connect) -> None:
    run_sync(settings, resources=["gamification_logs"], since=END)
    con = warehouse()
    truth = sim.truth_rows("gamification_logs")
    assert compare(con, "gamification_logs", [r for r in truth if inside(r, "createdAt", END, None)]) == []
    con.close()
    sim.reset_counters()
    run_sync(settings, resources=["gamification_logs"])  # no stored cursor yet: the whole history
    con = warehouse()
    assert compare(con, "gamification_logs", truth) == []


def test_since_rereads_the_daily_history_from_that_day(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    run_sync(settings, resources=["gamification_daily"])
    today = day(sim.clock()["now"][:10])
    since = today - timedelta(days=2)
    sim.reset_counters()
    run_sync(settings, resources=["gamification_daily"], since=since)
    live = sim.truth()["users"]["count"]
    calls = sim.counters()["by_endpoint"]["POST /apis/v1/users/activity/daily"]
    assert 3 * -(-live // 100) - 3 <= calls <= 3 * -(-live // 100)  # 3 days, batches of 100 joined users
    con = warehouse()
    assert compare(con, "gamification_daily", sim.truth_rows("gamification_daily")) == []


def test_a_user_the_daily_table_never_held_gets_the_whole_history(sim: SimAdmin, settings: Settings) -> None:
    run_sync(settings, resources=["gamification_daily"])
    truth = sim.truth_rows("gamification_daily")
    someone = truth[0]["user_id"]
    con = duckdb.connect(str(settings.warehouse))
    con.execute("DELETE FROM returning_raw.gamification_daily WHERE user_id = ?", [someone])
    con.close()
    run_sync(settings, resources=["gamification_daily"])
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert compare(con, "gamification_daily", truth) == []
    finally:
        con.close()


def test_full_refresh_rebuilds_the_selected_tables(sim: SimAdmin, settings: Settings) -> None:
    subset = ["gamification_logs", "store_products", "tiers"]
    run_sync(settings, resources=subset)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("DELETE FROM returning_raw.gamification_logs WHERE action = 'message'")  # damage
    con.close()
    sim.reset_counters()
    run_sync(settings, resources=subset)
    assert sim.counters()["by_endpoint"]["POST /apis/v1/users/activity/logs"] == 1  # the cursor hides the damage
    run_sync(settings, resources=subset, full_refresh=True)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        for dataset in subset:
            assert compare(con, dataset, sim.truth_rows(dataset)) == [], dataset
    finally:
        con.close()


def test_full_refresh_keeps_users_flagged_as_deleted(sim: SimAdmin, settings: Settings) -> None:
    run_sync(settings, resources=["users"])
    sim.advance(hours=48)
    run_sync(settings, resources=["users"])
    query = "SELECT _id, deleted_at FROM returning_raw.users WHERE is_deleted ORDER BY _id"
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    flagged = con.execute(query).fetchall()
    con.close()
    assert flagged
    run_sync(settings, resources=["users"], full_refresh=True)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert con.execute(query).fetchall() == flagged
        assert compare(con, "users", sim.truth_rows("users"), ignore=("deleted_at",), where="WHERE NOT is_deleted") == []
    finally:
        con.close()


def test_a_backfill_reaching_today_leaves_the_daily_history_aligned(sim: SimAdmin, settings: Settings,
                                                                      warehouse: Connect) -> None:
    """A `--since` run that reads every user from a day no later than the next run's first day
    counts as complete: the next run re-reads loaded days only for users who moved (nobody here).
    One that starts after it does not: the next run reads every user again."""
    today = day(sim.clock()["now"][:10])
    run_sync(settings, resources=["users", "gamification_daily"])
    run_sync(settings, resources=["users", "gamification_daily"], since=today)
    sim.reset_counters()
    run_sync(settings, resources=["users", "gamification_daily"])
    assert "POST /apis/v1/users/activity/daily" not in sim.counters()["by_endpoint"]
    one_day_back = Settings.from_env(backoff_base=0.05, backoff_max=2.0, daily_lookback_days=1)
    run_sync(one_day_back, resources=["users", "gamification_daily"], since=today)  # starts after today - 1
    sim.reset_counters()
    run_sync(one_day_back, resources=["users", "gamification_daily"])
    live = sim.truth()["users"]["count"]
    assert sim.counters()["by_endpoint"]["POST /apis/v1/users/activity/daily"] >= 2 * -(-live // 100) - 2
    con = warehouse()
    assert compare(con, "gamification_daily", sim.truth_rows("gamification_daily")) == []
