"""Daily history, logs, activity stats and loyalty overview: contract shapes and consistency of totals."""

from __future__ import annotations

from collections import Counter, defaultdict

import httpx

from tests.simadmin import SimAdmin
from tests.simulator.helpers import ok, walk_total_pages

LOG_KEYS = {"_id", "user_id", "identifier", "action", "xp", "coins", "balance_xp", "balance_coins", "createdAt"}


def all_logs(api: httpx.Client, limit: int = 100, **body: object) -> list[dict]:
    return walk_total_pages(
        lambda p: api.post("/apis/v1/users/activity/logs", json={"page": p, "limit": limit, **body}), limit)


def test_logs_page_to_the_end_in_order(sim: SimAdmin, api: httpx.Client) -> None:
    rows = all_logs(api, 100)
    assert rows == sim.truth_rows("gamification_logs")
    assert all(set(r) == LOG_KEYS for r in rows)
    assert [(r["createdAt"], r["_id"]) for r in rows] == sorted((r["createdAt"], r["_id"]) for r in rows)
    body = ok(api.post("/apis/v1/users/activity/logs", json={"limit": 1000}))["data"]
    assert body["pagination"]["limit"] == 100 and len(body["results"]) == 100
    past = ok(api.post("/apis/v1/users/activity/logs", json={"page": 10_000}))["data"]
    assert past["results"] == [] and past["pagination"]["total"] == len(rows)


def test_logs_window_is_half_open_and_identifiers_filter(api: httpx.Client) -> None:
    rows = all_logs(api)
    t = rows[len(rows) // 2]["createdAt"]
    before = all_logs(api, to=t)
    after = all_logs(api, **{"from": t})
    assert before + after == rows and after[0]["createdAt"] == t
    who = [rows[-1]["identifier"], rows[-2]["identifier"]]
    mine = all_logs(api, identifier=who, identifier_type="email")
    assert mine == [r for r in rows if r["identifier"] in who]
    ids = [rows[-1]["user_id"]]
    assert all_logs(api, identifier=ids, identifier_type="user_id") == [r for r in rows if r["user_id"] in ids]
    assert api.post("/apis/v1/users/activity/logs", json={"from": "2026-13-45"}).status_code == 400


def test_totals_are_sums_of_logs_and_balances_run(sim: SimAdmin) -> None:
    logs = sim.truth_rows("gamification_logs")
    users = sim.truth_rows("users")
    xp: dict[str, int] = defaultdict(int)
    coins: dict[str, int] = defaultdict(int)
    for r in logs:
        xp[r["user_id"]] += r["xp"]
        coins[r["user_id"]] += r["coins"]
        assert (r["balance_xp"], r["balance_coins"]) == (xp[r["user_id"]], coins[r["user_id"]])
        assert r["balance_coins"] >= 0
    for u in users:
        assert (u["xp"], u["coins"]) == (xp[u["_id"]], coins[u["_id"]])
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in logs:
        counts[(r["user_id"], r["action"])] += 1
    for u in users:
        assert u["total_messages"] == counts[(u["_id"], "message")] + counts[(u["_id"], "reply")]
        assert u["total_reactions"] == counts[(u["_id"], "react")]
        assert u["visit_count"] == counts[(u["_id"], "visit")]


def test_daily_history_is_per_day_sums_of_logs(sim: SimAdmin, api: httpx.Client) -> None:
    logs = sim.truth_rows("gamification_logs")
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in logs:
        d = r["createdAt"][:10]
        key = (r["user_id"], f"{d[8:10]}/{d[5:7]}/{d[:4]}")
        sums[key][0] += r["coins"]
        sums[key][1] += r["xp"]
    daily = sim.truth_rows("gamification_daily")
    for row in daily:
        assert [row["coins"], row["xp"]] == sums.get((row["user_id"], row["date"]), [0, 0])
    live = {u["_id"] for u in sim.truth_rows("users")}
    assert {k for k, v in sums.items() if k[0] in live and v != [0, 0]} <= {(r["user_id"], r["date"]) for r in daily}
    # the API agrees with the truth for one busy day, paged in threes, unknown identifiers left out
    busy = Counter(r["date"] for r in daily if r["xp"])
    date = max(busy, key=lambda d: (busy[d], d))
    want = [r for r in daily if r["date"] == date][:10]
    idents = [r["identifier"] for r in want] + ["ghost@nowhere.test"]
    got = walk_total_pages(lambda p: api.post("/apis/v1/users/activity/daily", json={
        "identifier": idents, "identifier_type": "email", "date": date, "page": p, "limit": 3}), 3)
    assert got == want
    body = ok(api.post("/apis/v1/users/activity/daily", json={"identifier": idents, "date": date}))["data"]
    assert body["date"] == date
    assert (body["pagination"]["total"], body["pagination"]["found"]) == (11, 10)


def test_daily_rejects_bad_input(api: httpx.Client) -> None:
    assert api.post("/apis/v1/users/activity/daily", json={"identifier": ["a@b.c"], "date": "2026-05-01"}).status_code == 400
    many = [f"u{i}@x.test" for i in range(101)]
    assert api.post("/apis/v1/users/activity/daily", json={"identifier": many, "date": "01/05/2026"}).status_code == 400


def test_activity_stats_match_logs(sim: SimAdmin, api: httpx.Client) -> None:
    logs = sim.truth_rows("gamification_logs")
    user = max(sim.truth_rows("users"), key=lambda u: u["total_messages"])
    data = ok(api.post("/apis/v1/users/activity/stats", json={"identifier": user["email"], "days": 90}))["data"]
    assert data["user_id"] == user["_id"]
    assert data["range"] == {"start_date": "2026-03-04", "end_date": "2026-06-01"}
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: {"messages": 0, "replies": 0, "reaction": 0, "socials": 0})
    names = {"message": "messages", "reply": "replies", "react": "reaction", "referral": "socials"}
    for r in logs:
        if r["user_id"] == user["_id"] and r["action"] in names and r["createdAt"][:10] >= "2026-03-04":
            per_day[r["createdAt"][:10]][names[r["action"]]] += 1
    assert data["daily_stats"] == [{"date": d, **v} for d, v in sorted(per_day.items())]
    assert data["totals"] == {k: sum(v[k] for v in per_day.values()) for k in ("messages", "replies", "reaction", "socials")}
    truth = [r for r in sim.truth_rows("activity_stats") if r["user_id"] == user["_id"]]
    assert [{k: v for k, v in r.items() if k != "user_id"} for r in truth if r["date"] >= "2026-03-04"] == data["daily_stats"]
    capped = ok(api.post("/apis/v1/users/activity/stats", json={"identifier": user["email"], "days": 500}))["data"]
    assert capped["range"]["start_date"] == "2026-03-04"


def test_loyalty_overview_consistent_with_logs(sim: SimAdmin, api: httpx.Client) -> None:
    body = ok(api.get("/v1/analytics/loyalty-overview", params={"from": "2026-05-01", "to": "2026-05-31"}))
    assert body["meta"] == {"status": "success", "statusCode": 200}
    days = body["data"]
    assert [d["date"] for d in days] == [f"2026-05-{i:02d}" for i in range(1, 32)]
    logs = sim.truth_rows("gamification_logs")
    orders = sim.truth_rows("redemption_orders")
    for d in days:
        todays = [r for r in logs if r["createdAt"][:10] == d["date"]]
        assert d["xpEarned"] == sum(max(r["xp"], 0) for r in todays)
        assert d["coinsEarned"] == sum(max(r["coins"], 0) for r in todays)
        assert d["coinsSpent"] == sum(max(-r["coins"], 0) for r in todays)
        assert d["messages"] == sum(r["action"] == "message" for r in todays)
        assert d["activeUsers"] == len({r["user_id"] for r in todays if r["action"] in ("message", "reply", "react", "visit")})
        assert d["redemptions"] == sum(o["createdAt"][:10] == d["date"] for o in orders)
        assert 0 <= d["retention7d"] <= 1
    assert days == [r for r in sim.truth_rows("loyalty_overview") if "2026-05-01" <= r["date"] <= "2026-05-31"]
    assert api.get("/v1/analytics/loyalty-overview", params={"from": "2026-01-01", "to": "2026-05-31"}).status_code == 400
    assert api.get("/v1/analytics/loyalty-overview", params={"from": "2026-05-31", "to": "2026-05-01"}).status_code == 400
    assert api.get("/v1/analytics/loyalty-overview", params={"from": "31/05/2026"}).status_code == 400
