"""The simulated clock (the community lives) and the ground truth's counts and checksums."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import httpx

from tests.simadmin import SimAdmin
from tests.simulator.helpers import ok, walk_total_pages

START = "2026-06-01T00:00:00.000Z"


def checksum(rows: list[dict]) -> str:
    total = sum(int(hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                                   .encode()).hexdigest()[:16], 16) for r in rows)
    return format(total % 2**64, "016x")


def test_truth_counts_and_checksums_match_its_rows(sim: SimAdmin) -> None:
    truth = sim.truth()
    assert set(truth) == {
        "users", "user_fields", "user_field_histories", "gamification_daily", "gamification_logs", "activity_stats",
        "loyalty_overview", "redemption_orders", "redemption_statuses", "redemption_status_history",
        "purchase_histories", "store_products", "store_categories", "store_config", "leaderboards", "streaks",
        "streak_logs", "tiers", "bulk_jobs", "channels", "messages", "minigame_logs", "user_game_stats",
        "webhook_events", "tiers_xp_settings"}
    for name, summary in truth.items():
        rows = sim.truth_rows(name)
        assert summary == {"count": len(rows), "checksum": checksum(rows)}, name
    assert truth["users"]["count"] == 398 and truth["bulk_jobs"]["count"] == 0
    assert truth["channels"]["count"] == 10 and truth["webhook_events"]["count"] == 0
    assert truth["loyalty_overview"]["count"] == 91


def test_same_seed_same_community_other_seed_another(sim: SimAdmin) -> None:
    first = sim.truth()
    sim.reset()
    assert sim.truth() == first
    sim.reset(seed=8)
    other = sim.truth()
    assert other["users"]["checksum"] != first["users"]["checksum"]
    assert other["store_categories"] == first["store_categories"]


def test_clock_reads_and_resets(sim: SimAdmin) -> None:
    assert sim.clock()["now"] == START
    sim.advance(5)
    assert sim.clock()["now"] == "2026-06-01T05:00:00.000Z"
    sim.reset()
    assert sim.clock()["now"] == START
    with httpx.Client(base_url=sim.base_url) as c:
        assert c.post("/__sim/advance", json={"hours": 0}).status_code == 400
        assert c.post("/__sim/advance", json={"hours": "x"}).status_code == 400


def test_advance_changes_what_it_reports(sim: SimAdmin, api: httpx.Client) -> None:
    before = {name: sim.truth_rows(name) for name in ("users", "gamification_logs", "redemption_orders",
                                                      "redemption_status_history", "user_field_histories", "streak_logs")}
    reply = sim.advance(48)
    assert (reply["from"], reply["now"]) == (START, "2026-06-03T00:00:00.000Z")
    ch = reply["changes"]
    after = {name: sim.truth_rows(name) for name in before}
    old_ids = {u["_id"] for u in before["users"]}
    new_ids = {u["_id"] for u in after["users"]}
    assert len(new_ids - old_ids) == ch["users_joined"] >= 1
    assert len(old_ids - new_ids) == ch["users_deleted"] >= 1
    assert len(after["gamification_logs"]) - len(before["gamification_logs"]) == ch["logs"] > 0
    assert len(after["redemption_orders"]) - len(before["redemption_orders"]) == ch["orders_created"]
    assert len(after["redemption_status_history"]) - len(before["redemption_status_history"]) == (
        ch["orders_created"] + ch["order_status_changes"])
    assert len(after["user_field_histories"]) - len(before["user_field_histories"]) == ch["field_changes"] > 0
    assert len(after["streak_logs"]) - len(before["streak_logs"]) == ch["streak_logs"]
    # new logs lie in the advanced window; immutable rows did not change
    new_logs = after["gamification_logs"][len(before["gamification_logs"]):]
    assert all(START < r["createdAt"] <= reply["now"] for r in new_logs)
    assert after["gamification_logs"][: len(before["gamification_logs"])] == before["gamification_logs"]
    # newcomers land on the last pages, deleted users vanish from every per-user read
    ids = [u["_id"] for u in after["users"]]
    assert ids == sorted(ids) and ids[-1] in new_ids - old_ids
    gone = next(iter(old_ids - new_ids))
    assert api.post("/apis/v1/users/info", json={"idOrEmail": gone}).status_code == 404
    # moved orders show it in updatedAt, status history and purchase history
    moved = [o for o in after["redemption_orders"] if o["updatedAt"] > START]
    assert len(moved) == len({h["transactionId"] for h in after["redemption_status_history"] if h["changedAt"] > START})
    purchases = {p["orderID"]: p for p in sim.truth_rows("purchase_histories")}
    assert all(purchases[o["transactionId"]]["updatedAt"] == o["updatedAt"] for o in moved)
    since = walk_total_pages(lambda p: api.get("/apis/v1/redemption-transactions",
                                               params={"page": p, "limit": 100, "updatedFrom": "2026-06-01T00:00:00.001Z"}), 100)
    assert {o["transactionId"] for o in since} == {o["transactionId"] for o in moved}


def test_consistency_holds_after_time_passes(sim: SimAdmin) -> None:
    sim.advance(30)
    sim.advance(20)
    logs = sim.truth_rows("gamification_logs")
    xp: Counter[str] = Counter()
    coins: Counter[str] = Counter()
    for r in logs:
        xp[r["user_id"]] += r["xp"]
        coins[r["user_id"]] += r["coins"]
        assert (r["balance_xp"], r["balance_coins"]) == (xp[r["user_id"]], coins[r["user_id"]])
        assert r["balance_coins"] >= 0
    for u in sim.truth_rows("users"):
        assert (u["xp"], u["coins"]) == (xp[u["_id"]], coins[u["_id"]])
    daily = {(r["user_id"], r["date"]): (r["coins"], r["xp"]) for r in sim.truth_rows("gamification_daily")}
    for day in ("01/06/2026", "02/06/2026", "03/06/2026"):
        sums: Counter[tuple[str, str]] = Counter()
        for r in logs:
            d = r["createdAt"][:10]
            if f"{d[8:]}/{d[5:7]}/{d[:4]}" == day:
                sums[(r["user_id"], "c")] += r["coins"]
                sums[(r["user_id"], "x")] += r["xp"]
        for (uid, date), (c, x) in daily.items():
            if date == day:
                assert (c, x) == (sums[(uid, "c")], sums[(uid, "x")])
    assert sim.truth()["loyalty_overview"]["count"] == 93


def test_advance_is_deterministic(sim: SimAdmin) -> None:
    a = sim.advance(24)
    truth_a = sim.truth()
    sim.reset()
    assert sim.advance(24) == a
    assert sim.truth() == truth_a
    ok_users = sim.truth_rows("users")
    assert len(ok_users) == truth_a["users"]["count"]


def test_admin_rejects_bad_requests(sim: SimAdmin) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        assert c.get("/__sim/truth/nope").status_code == 404
        assert c.post("/__sim/reset", json={"users": 0}).status_code == 400
        assert c.get("/__sim/nothing").status_code == 404
        assert c.post("/__sim/knobs", content=b"{nope").status_code == 400
    assert ok(httpx.get(f"{sim.base_url}/__sim/keys"))["keys"]
