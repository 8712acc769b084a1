"""Record shapes and value formats of every read endpoint, exactly as the contract lists them."""

from __future__ import annotations

import re

import httpx

from tests.simadmin import COMMUNITY_ID, SimAdmin
from tests.simulator.helpers import ok

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DMY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
OID = re.compile(r"^[0-9a-f]{24}$")


def keys(rec: dict) -> set[str]:
    return set(rec)


def test_integration_record_shapes(sim: SimAdmin, api: httpx.Client) -> None:
    user = sim.truth_rows("users")[0]
    info = ok(api.post("/apis/v1/users/info", json={"idOrEmail": user["email"]}))
    assert keys(info) == {"status", "message", "data"} and info["status"] == "success"
    assert keys(info["data"]) == {"_id", "userId", "username", "xp", "coins", "roles", "highestRole", "firstName",
                                  "lastName", "xpEarnedToday", "coinsEarnedToday", "language", "totalMessages",
                                  "totalReactions", "visitCount", "replySent", "timeSpent", "loginStreak", "customFields"}
    stats = ok(api.post("/apis/v1/users/activity/stats", json={"identifier": user["email"], "days": 7}))["data"]
    assert keys(stats) == {"user_id", "range", "totals", "daily_stats"}
    assert keys(stats["totals"]) == {"messages", "replies", "reaction", "socials"}
    assert YMD.match(stats["range"]["start_date"]) and YMD.match(stats["range"]["end_date"])
    daily = ok(api.post("/apis/v1/users/activity/daily", json={"identifier": [user["email"]], "date": "01/06/2026"}))["data"]
    assert keys(daily) == {"date", "pagination", "results"}
    assert keys(daily["pagination"]) == {"page", "limit", "total", "total_pages", "found"}
    assert keys(daily["results"][0]) == {"identifier", "user_id", "date", "coins", "xp"}
    assert DMY.match(daily["results"][0]["date"])
    order = ok(api.get("/apis/v1/redemption-transactions", params={"limit": 1}))["data"]["results"][0]
    assert keys(order["status"]) == {"_id", "name", "category", "color"}
    assert OID.match(order["_id"]) and ISO.match(order["createdAt"]) and ISO.match(order["updatedAt"])
    assert order["currency"] in ("coins", "premium")
    hist = ok(api.get(f"/apis/v1/redemption-transactions/{order['transactionId']}/status-history"))["data"]
    assert all(keys(h) == {"_id", "transactionId", "statusId", "statusName", "category", "changedAt", "changedBy"} for h in hist)
    slog = ok(api.post("/apis/v1/streaks/logs", json={"limit": 3}))["data"]["results"]
    assert all(keys(r) == {"_id", "streakId", "user_id", "identifier", "count", "status", "createdAt"} for r in slog)
    assert all(r["status"] in ("continued", "broken", "started") for r in slog)
    logs = ok(api.post("/apis/v1/users/activity/logs", json={"limit": 100}))["data"]["results"]
    assert all(ISO.match(r["createdAt"]) and OID.match(r["_id"]) and OID.match(r["user_id"]) for r in logs)
    assert all(isinstance(r[k], int) for r in logs for k in ("xp", "coins", "balance_xp", "balance_coins"))


def test_partner_and_application_record_shapes(api: httpx.Client) -> None:
    board = ok(api.get("/v1/leaderboards", params={"limit": 1}))
    assert keys(board) == {"meta", "message", "data"} and board["message"] == "Read leaderboards success."
    assert keys(board["data"][0]) == {"_id", "communityID", "name", "slug", "description", "image", "rankBy",
                                      "displayedFields", "timeFilters", "duration", "createdAt", "updatedAt"}
    assert keys(board["data"][0]["duration"]) == {"start", "end", "noEndDate", "timeZone"}
    streak = ok(api.get("/apis/v1/streaks", params={"limit": 1}))
    assert keys(streak) == {"meta", "message", "data", "pagination"}
    assert keys(streak["data"][0]) == {"_id", "name", "communityId", "timezone", "startDate", "timeframe", "action",
                                       "activeDaysType", "activeDays", "order", "createdAt", "updatedAt"}
    product = ok(api.get("/v1/products", params={"limit": 1}))["data"][0]
    assert {"_id", "communityID", "name", "description", "image", "price", "type", "categoryID", "stocks",
            "discountPrice", "isDiscountEnabled", "discountStartDate", "discountEndDate", "isArchived", "totalOrders",
            "displayOrder", "redemptionInstructions", "createdAt", "updatedAt", "userInformation",
            "expiringVoucherHighlight", "i18n", "customOptions", "purchaseStatusOverride"} == keys(product)
    purchase = ok(api.get("/v1/purchase-histories", params={"limit": 100}))["data"]
    voucher = next(p for p in purchase if p["voucherCode"])
    assert DMY.match(voucher["voucherExpiryDate"])
    assert keys(voucher["product"]) == {"_id", "name", "price", "type", "redemptionInstructions"}
    loyalty = ok(api.get("/v1/analytics/loyalty-overview"))["data"]
    assert len(loyalty) == 30 and loyalty[-1]["date"] == "2026-06-01"
    assert all(keys(d) == {"date", "activeUsers", "newUsers", "returningUsers", "messages", "xpEarned", "coinsEarned",
                           "coinsSpent", "redemptions", "retention7d"} for d in loyalty)
    hist = ok(api.get(f"/apis/v1/communities/{COMMUNITY_ID}/user-field-histories", params={"limit": 1}))["data"][0]
    assert keys(hist) == {"_id", "communityId", "userId", "fieldId", "field", "previousValue", "value", "source", "createdAt"}
