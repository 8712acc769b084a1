"""End to end against the simulator: the warehouse equals the ground truth, incremental runs read
only what changed, and faults, throttling and bad keys end as they should."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from pipelines.tables import RESOURCES
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare, truth_form, warehouse_rows
from tests.simadmin import SimAdmin
from warehouse.connection import Connection

Connect = Callable[[], Connection]


def assert_equals_truth(sim: SimAdmin, con: Connection) -> None:
    problems: list[str] = []
    for dataset in RESOURCES:
        truth = sim.truth_rows(dataset)
        problems += compare(con, dataset, truth, ignore=("deleted_at",) if dataset == "users" else ())
    assert problems == []


def test_full_sync_equals_truth(destination: str, sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    result = run_sync(settings)
    con = warehouse()
    assert_equals_truth(sim, con)
    truth = sim.truth()
    tables = counts(con)
    for dataset in RESOURCES:
        assert tables.get(dataset, 0) == truth[dataset]["count"], dataset
        assert result.resources[dataset].rows == truth[dataset]["count"], dataset
    assert result.requests == sim.counters()["total"]


def minimal_requests(sim: SimAdmin, live_users: int) -> dict[str, int]:
    """What a run with nothing new costs: a full users pass, one page per incremental endpoint
    (streak logs: plus a count that detects late rows), one call per reference list, one probe
    of the server's day, one messages call per channel. Daily history, activity stats and the
    mini-game fan-outs ask only for users whose activity moved: nobody here."""
    return {
        "POST /apis/v1/users/filter": math.ceil(live_users / 200),
        "GET /apis/v1/communities/{communityId}/user-fields": 1,
        "GET /apis/v1/communities/{communityId}/user-field-histories": 1,
        "POST /apis/v1/users/activity/logs": 2,  # the logs window; mini-game players since the mark
        "POST /apis/v1/users/activity/stats": 1,
        "GET /v1/analytics/loyalty-overview": 1,
        "GET /apis/v1/redemption-transactions": 1,
        "GET /apis/v1/redemption-statuses": 1,
        "GET /v1/purchase-histories": 1,
        "GET /v1/products": 1,
        "GET /v1/categories": 1,
        "GET /v1/stores": 1,
        "GET /v1/leaderboards": 1,
        "GET /apis/v1/streaks": 1,
        "POST /apis/v1/streaks/logs": 2,  # the count check for late rows, then the window
        "GET /apis/v1/tiers": 1,
        "GET /apis/v1/bulk-jobs": 1,
        "GET /apis/v1/channels": 1,
        "GET /v1/messages": sim.truth()["channels"]["count"],  # one per channel
    }


def test_second_run_adds_nothing(destination: str, sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    run_sync(settings)
    con = warehouse()
    before = counts(con)
    con.close()
    sim.reset_counters()
    result = run_sync(settings)
    con = warehouse()
    assert counts(con) == before
    live = sim.truth()["users"]["count"]
    assert sim.counters()["by_endpoint"] == minimal_requests(sim, live)
    assert result.retries == 0


def test_fresh_machine_resumes_from_the_warehouse(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    subset = ["users", "gamification_logs", "redemption_orders", "redemption_status_history", "purchase_histories"]
    run_sync(settings, resources=subset)
    shutil.rmtree(settings.warehouse.parent / ".dlt")  # the pipeline's local working directory
    sim.reset_counters()
    run_sync(settings, resources=subset)
    by_endpoint = sim.counters()["by_endpoint"]
    assert by_endpoint["POST /apis/v1/users/activity/logs"] == 1
    assert by_endpoint["GET /apis/v1/redemption-transactions"] == 1
    assert "GET /apis/v1/redemption-transactions/{transactionId}/status-history" not in by_endpoint
    con = warehouse()
    for dataset in ("gamification_logs", "redemption_orders", "redemption_status_history", "purchase_histories"):
        assert compare(con, dataset, sim.truth_rows(dataset)) == []


def test_a_day_later_brings_exactly_the_changes(destination: str, sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    run_sync(settings)
    con = warehouse()
    before = counts(con)
    users_before = {r["_id"] for r in warehouse_rows(con, "users")}
    con.close()
    summary = sim.advance(hours=24)
    sim.reset_counters()
    run_sync(settings)
    con = warehouse()
    after = counts(con)
    truth = sim.truth()
    live = {r["_id"] for r in sim.truth_rows("users")}
    deleted = users_before - live
    assert deleted, f"the simulated day deleted nobody: {summary}"
    # users: live ones equal truth; the deleted ones are kept, flagged, with their last values
    assert compare(con, "users", sim.truth_rows("users"), ignore=("deleted_at",),
                   where="WHERE NOT is_deleted") == []
    flagged = con.execute("SELECT _id FROM returning_raw.users WHERE is_deleted AND deleted_at IS NOT NULL").fetchall()
    assert {r[0] for r in flagged} == deleted
    assert after["users"] == len(live | users_before)
    # immutable streams and mutable entities: exactly the truth (deleted users' history stays readable)
    for dataset in ("user_fields", "user_field_histories", "gamification_logs", "loyalty_overview",
                    "redemption_orders", "redemption_statuses", "redemption_status_history", "purchase_histories",
                    "store_products", "store_categories", "store_config", "leaderboards", "streaks", "streak_logs",
                    "tiers", "bulk_jobs"):
        assert compare(con, dataset, sim.truth_rows(dataset)) == [], dataset
        assert after.get(dataset, 0) == truth[dataset]["count"], dataset
    # per-user history: live users equal truth; deleted users keep what was loaded before
    ids = ", ".join(f"'{i}'" for i in deleted)
    assert compare(con, "gamification_daily", sim.truth_rows("gamification_daily"),
                   where=f"WHERE user_id NOT IN ({ids})") == []
    assert compare(con, "activity_stats", sim.truth_rows("activity_stats"), where=f"WHERE user_id NOT IN ({ids})") == []
    # new immutable rows arrived once, and only them
    for dataset in ("gamification_logs", "user_field_histories", "streak_logs"):
        assert after[dataset] - before[dataset] == truth[dataset]["count"] - before[dataset]


def test_faults_and_throttling_still_equal_truth(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    sim.knobs(rate_limit=200, faults={"rate": 0.1, "kinds": ["500", "502", "503", "reset", "truncate"],
                                      "endpoints": []})
    result = run_sync(settings)
    con = warehouse()
    assert_equals_truth(sim, con)
    by_status = sim.counters()["by_status"]
    assert result.retries > 0
    assert by_status.get("429", 0) <= settings.concurrency


@pytest.mark.parametrize("dataset", ["gamification_logs", "user_field_histories", "redemption_orders",
                                     "purchase_histories", "store_products", "streak_logs", "leaderboards", "streaks"])
def test_many_small_pages_lose_nothing(sim: SimAdmin, api_env: dict[str, str], warehouse: Connect,
                                       dataset: str) -> None:
    endpoints = {"gamification_logs": "activity_logs", "user_field_histories": "user_field_histories",
                 "redemption_orders": "redemption_transactions", "purchase_histories": "purchase_histories",
                 "store_products": "products", "streak_logs": "streak_logs", "leaderboards": "leaderboards",
                 "streaks": "streaks"}
    truth = sim.truth_rows(dataset)
    size = max(3, math.ceil(len(truth) / 40))  # some 40 pages, at least 3 records a page
    settings = Settings.from_env(concurrency=16, registry_overrides={endpoints[dataset]: {"page_size": size}})
    run_sync(settings, resources=[dataset])
    con = warehouse()
    assert compare(con, dataset, truth) == []
    ep = settings.endpoint(endpoints[dataset])
    assert sim.counters()["by_endpoint"][f"{ep.method} {ep.path}"] >= math.ceil(len(truth) / size)


def test_truth_form_flattens_like_dlt() -> None:
    rows = truth_form("redemption_orders", [{"transactionId": "ORD1", "status": {"_id": "s", "name": "Done"},
                                             "createdAt": "2026-03-05T11:04:15.754Z", "tags": []}])
    assert set(rows[0]) == {"transaction_id", "status___id", "status__name", "created_at"}


def test_throttles_itself_below_the_rate_limit(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    sim.knobs(rate_limit=20)
    subset = ["gamification_logs", "redemption_orders", "redemption_status_history", "streak_logs",
              "store_products", "store_categories", "leaderboards"]
    result = run_sync(settings, resources=subset)
    by_status = sim.counters()["by_status"]
    assert result.requests > 60
    # the first burst may meet one 429 before the limit is known; never a second one
    assert by_status.get("429", 0) <= 1
    con = warehouse()
    for dataset in subset:
        assert compare(con, dataset, sim.truth_rows(dataset)) == [], dataset


def _live_ids(sim: SimAdmin) -> str:
    return ", ".join(f"'{r['_id']}'" for r in sim.truth_rows("users"))


def test_hours_later_rereads_only_the_users_who_moved(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    run_sync(settings)
    before = {r["_id"]: (r["xp"], r["coins"], r["last_login"]) for r in sim.truth_rows("users")}
    sim.advance(hours=2)  # the seeded clock stays on the same day
    after = sim.truth_rows("users")
    moved = sum(1 for r in after if before.get(r["_id"]) != (r["xp"], r["coins"], r["last_login"]))
    assert 0 < moved < len(after) / 2
    sim.reset_counters()
    run_sync(settings)
    calls = sim.counters()["by_endpoint"]["POST /apis/v1/users/activity/daily"]
    # one call per users page holding someone who moved, instead of one per 100 live users
    assert 0 < calls <= moved and calls < math.ceil(len(after) / 100)
    con = warehouse()
    ids = _live_ids(sim)
    for dataset in ("gamification_daily", "activity_stats"):
        assert compare(con, dataset, sim.truth_rows(dataset), where=f"WHERE user_id IN ({ids})") == [], dataset


def test_a_users_only_run_in_between_hides_no_activity(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    """The stored users table is the baseline for 'who moved'; once a users-only run has moved it,
    the per-user fan-outs must not trust it and read every user instead."""
    run_sync(settings)
    sim.advance(hours=2)
    run_sync(settings, resources=["users"])  # the users table now holds the activity ...
    sim.reset_counters()
    run_sync(settings, resources=["gamification_daily", "activity_stats"])  # ... the fan-outs have not seen
    live = sim.truth()["users"]["count"]
    assert sim.counters()["by_endpoint"]["POST /apis/v1/users/activity/daily"] >= math.ceil(live / 100)
    con = warehouse()
    ids = _live_ids(sim)
    for dataset in ("gamification_daily", "activity_stats"):
        assert compare(con, dataset, sim.truth_rows(dataset), where=f"WHERE user_id IN ({ids})") == [], dataset


def test_every_table_exists_after_the_first_sync_even_without_rows(destination: str, sim: SimAdmin,
                                                                   settings: Settings, warehouse: Connect,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """A first sync that finds no rows for most datasets (a window after the server's day; a
    community without bulk jobs) still creates every table, with its columns, and dlt warns of
    no column it could not type nor of hints its Arrow batches contradict."""
    from datetime import date, timedelta

    today = date.fromisoformat(sim.clock()["now"][:10])
    run_sync(settings, since=today + timedelta(days=2))
    con = warehouse()
    tables = set(con.tables("returning_raw"))
    missing = [r for r in RESOURCES if r not in tables]
    assert missing == [], ", ".join(missing)
    columns = {c for c, _ in con.columns("returning_raw", "bulk_jobs")}
    assert {"job_id", "file_name", "status", "total_rows", "created_at"} <= columns
    assert con.fetchone("SELECT count(*) FROM returning_raw.bulk_jobs") == (0,)
    err = capfd.readouterr().err
    assert "could not have their types inferred" not in err
    # the empty tables' key columns are declared as dlt declares them: no hint differs
    assert "column hints were different" not in err


def test_progress_counts_every_row_as_it_is_produced(sim: SimAdmin, settings: Settings) -> None:
    """The live progress (`sync activity_stats: 1,681 pages, ... rows`) counts rows page by page, and
    ends at the rows each table loaded: the fan-outs included, which once reported 0 rows throughout."""
    reported: dict[str, list[int]] = {}
    result = run_sync(settings, progress=lambda name, p: reported.setdefault(name, []).append(p.rows))
    assert {n: reported[n][-1] for n in reported} == {n: result.tables.get(n, 0) for n in reported}
    assert set(reported) == set(RESOURCES)
    stats = reported["activity_stats"]
    assert stats == sorted(stats) and len(set(stats)) > 10 and stats[-1] == len(sim.truth_rows("activity_stats"))
