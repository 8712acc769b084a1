"""Store (products, categories, configuration) and gamification set-up (leaderboards, streaks, tiers)."""

from __future__ import annotations

import httpx

from tests.simadmin import SimAdmin
from tests.simulator.helpers import ok, walk_page_meta, walk_skip_limit, walk_total_pages


def test_products_skip_limit_sort_fields(sim: SimAdmin, api: httpx.Client) -> None:
    rows = walk_skip_limit(api, "/v1/products", 4)
    assert rows == sorted(sim.truth_rows("store_products"), key=lambda r: r["displayOrder"])
    assert ok(api.get("/v1/products", params={"limit": 1}))["message"] == "Read products success."
    orders = sim.truth_rows("redemption_orders")
    assert all(p["totalOrders"] == sum(o["productId"] == p["_id"] for o in orders) for p in rows)
    by_price = walk_skip_limit(api, "/v1/products", 100, sort="price:desc")
    assert [p["price"] for p in by_price] == sorted((p["price"] for p in rows), reverse=True)
    slim = ok(api.get("/v1/products", params={"fields": "name,price"}))["data"]
    assert all(set(p) == {"_id", "name", "price"} for p in slim)
    assert api.get("/v1/products", params={"fields": "name,colour"}).status_code == 400
    vouchers = walk_skip_limit(api, "/v1/products", 100, filter="type:voucher")
    assert vouchers == [p for p in rows if p["type"] == "voucher"]
    found = walk_skip_limit(api, "/v1/products", 100, search="keyword:gift")
    assert [p["name"] for p in found] == ["Gift card 10", "Gift card 25", "Gift card 50"]
    assert ok(api.get("/v1/products", params={"limit": 1000}))["meta"]["limit"] == 100
    assert ok(api.get("/products", params={"limit": 2}))["data"] == rows[:2]


def test_categories_and_store(sim: SimAdmin, api: httpx.Client) -> None:
    assert walk_skip_limit(api, "/v1/categories", 2) == sim.truth_rows("store_categories")
    store = ok(api.get("/stores"))
    assert store["meta"] == {"status": "success", "statusCode": 200}
    assert store["data"] == ok(api.get("/v1/stores"))["data"] == sim.truth_rows("store_config")[0]
    assert set(store["data"]) == {"_id", "communityID", "isEnabled", "title", "description", "cover", "currency",
                                  "widgetID", "widget", "createdAt", "updatedAt"}


def test_leaderboards_and_streaks(sim: SimAdmin, api: httpx.Client) -> None:
    assert walk_page_meta(api, "/v1/leaderboards", 3) == sim.truth_rows("leaderboards")
    rows, page = [], 1
    while True:
        body = ok(api.get("/apis/v1/streaks", params={"page": page, "limit": 2}))
        pag = body["pagination"]
        assert pag == {"total": 3, "currentPage": page, "totalPages": 2, "hasNextPage": page < 2, "hasPrevPage": page > 1}
        rows += body["data"]
        if not pag["hasNextPage"]:
            break
        page += 1
    assert rows == sim.truth_rows("streaks")


def test_streak_logs_page_and_match_visits(sim: SimAdmin, api: httpx.Client) -> None:
    rows = walk_total_pages(lambda p: api.post("/apis/v1/streaks/logs", json={"page": p, "limit": 100}), 100)
    assert rows == sim.truth_rows("streak_logs")
    assert [(r["createdAt"], r["_id"]) for r in rows] == sorted((r["createdAt"], r["_id"]) for r in rows)
    visit_days: dict[str, set[str]] = {}
    for r in sim.truth_rows("gamification_logs"):
        if r["action"] == "visit":
            visit_days.setdefault(r["user_id"], set()).add(r["createdAt"][:10])
    for uid, days in visit_days.items():
        mine = [r for r in rows if r["user_id"] == uid and r["status"] != "broken"]
        assert sorted(r["createdAt"][:10] for r in mine) == sorted(days)
    for r in rows:
        assert (r["status"] == "started") == (r["count"] == 1) or r["status"] == "broken"
    t = rows[len(rows) // 2]["createdAt"]
    before = walk_total_pages(lambda p: api.post("/apis/v1/streaks/logs", json={"page": p, "limit": 100, "to": t}), 100)
    assert before == [r for r in rows if r["createdAt"] < t]


def test_tiers_strictly_increase_and_users_tier_follows_xp(sim: SimAdmin, api: httpx.Client) -> None:
    data = ok(api.get("/apis/v1/tiers"))["data"]
    assert set(data["xpSetting"]) == {"enabled", "message", "reply", "react", "visit"}
    steps = []
    for t in data["tiers"]:
        assert [lv["level"] for lv in t["levels"]] == [1, 2, 3]
        steps += [(lv["xp"], t["name"], lv["level"]) for lv in t["levels"]]
    assert [s[0] for s in steps] == sorted({s[0] for s in steps})
    assert data["tiers"] == sim.truth_rows("tiers")
    for u in sim.truth_rows("users"):
        xp, name, level = max(s for s in steps if s[0] <= u["xp"])
        assert (u["tier"], u["level"]) == (name, level)
