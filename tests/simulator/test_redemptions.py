"""Redemption orders, statuses, status history and updates; purchase histories; their consistency."""

from __future__ import annotations

import httpx

from tests.simadmin import SimAdmin
from tests.simulator.helpers import by_id, ok, walk_skip_limit, walk_total_pages

ORDER_KEYS = {"_id", "transactionId", "userId", "email", "productId", "productName", "quantity", "price",
              "currency", "statusId", "status", "createdAt", "updatedAt"}
PURCHASE_KEYS = {"_id", "orderID", "communityID", "userID", "product", "voucherCode", "voucherExpiryDate",
                 "statusID", "createdAt", "updatedAt"}


def all_orders(api: httpx.Client, limit: int = 7, **params: str) -> list[dict]:
    return walk_total_pages(lambda p: api.get("/apis/v1/redemption-transactions",
                                              params={"page": p, "limit": limit, **params}), limit)


def test_orders_page_to_the_end_sorted_by_updated(sim: SimAdmin, api: httpx.Client) -> None:
    rows = all_orders(api)
    assert by_id(rows) == by_id(sim.truth_rows("redemption_orders"))
    assert [(r["updatedAt"], r["_id"]) for r in rows] == sorted((r["updatedAt"], r["_id"]) for r in rows)
    assert all(set(r) == ORDER_KEYS for r in rows)
    assert all(r["transactionId"].startswith("ORD") and len(r["transactionId"]) == 15 for r in rows)
    desc = all_orders(api, sort="updatedAt:desc")
    assert desc == rows[::-1]
    t = rows[len(rows) // 2]["updatedAt"]
    assert all_orders(api, updatedTo=t) + all_orders(api, updatedFrom=t) == rows
    assert ok(api.get("/apis/v1/redemption-transactions", params={"limit": 999}))["data"]["pagination"]["limit"] == 100
    assert api.get("/apis/v1/redemption-transactions", params={"updatedFrom": "soon"}).status_code == 400


def test_orders_match_purchase_histories_and_redemption_logs(sim: SimAdmin, api: httpx.Client) -> None:
    orders = sim.truth_rows("redemption_orders")
    purchases = walk_skip_limit(api, "/v1/purchase-histories", 6)
    assert by_id(purchases) == by_id(sim.truth_rows("purchase_histories"))
    assert all(set(p) == PURCHASE_KEYS for p in purchases)
    assert [(p["updatedAt"], p["_id"]) for p in purchases] == sorted(((p["updatedAt"], p["_id"]) for p in purchases), reverse=True)
    by_tid = by_id(purchases, "orderID")
    assert set(by_tid) == {o["transactionId"] for o in orders}
    for o in orders:
        p = by_tid[o["transactionId"]]
        assert (p["userID"], p["statusID"], p["updatedAt"], p["createdAt"], p["product"]["_id"]) == (
            o["userId"], o["statusId"], o["updatedAt"], o["createdAt"], o["productId"])
        assert o["status"]["_id"] == o["statusId"]
    spends = sorted((r["user_id"], r["createdAt"], -r["coins"]) for r in sim.truth_rows("gamification_logs")
                    if r["action"] == "redemption")
    coin_orders = sorted((o["userId"], o["createdAt"], o["price"]) for o in orders if o["currency"] == "coins")
    assert spends == coin_orders


def test_status_history_follows_each_order(sim: SimAdmin, api: httpx.Client) -> None:
    orders = sim.truth_rows("redemption_orders")
    history = sim.truth_rows("redemption_status_history")
    statuses = by_id(ok(api.get("/apis/v1/redemption-statuses"))["data"])
    assert [s["name"] for s in statuses.values()] == ["Pending", "Processing", "Shipping", "Completed", "Cancelled"]
    for o in orders[:5]:
        got = ok(api.get(f"/apis/v1/redemption-transactions/{o['transactionId']}/status-history"))["data"]
        assert got == [h for h in history if h["transactionId"] == o["transactionId"]]
        assert got[0]["statusName"] == "Pending" and got[0]["changedAt"] == o["createdAt"]
        assert (got[-1]["statusId"], got[-1]["changedAt"]) == (o["statusId"], o["updatedAt"])
    assert api.get("/apis/v1/redemption-transactions/ORD209901010001/status-history").status_code == 404


def test_put_status_moves_order_history_and_purchase(sim: SimAdmin, api: httpx.Client) -> None:
    order = all_orders(api)[0]
    statuses = ok(api.get("/apis/v1/redemption-statuses"))["data"]
    target = next(s for s in statuses if s["_id"] != order["statusId"])
    now = sim.clock()["now"]
    body = ok(api.put("/apis/v1/redemption-transactions/status",
                      json={"transactionId": order["transactionId"], "statusId": target["_id"]}))
    assert body["status"] == "success"
    assert (body["data"]["statusId"], body["data"]["updatedAt"], body["data"]["status"]) == (target["_id"], now, target)
    hist = ok(api.get(f"/apis/v1/redemption-transactions/{order['transactionId']}/status-history"))["data"]
    assert (hist[-1]["statusId"], hist[-1]["changedAt"], hist[-1]["changedBy"]) == (target["_id"], now, "api")
    purchase = next(p for p in sim.truth_rows("purchase_histories") if p["orderID"] == order["transactionId"])
    assert (purchase["statusID"], purchase["updatedAt"]) == (target["_id"], now)
    assert all_orders(api)[-1]["transactionId"] == order["transactionId"]
    bad = api.put("/apis/v1/redemption-transactions/status", json={"transactionId": order["transactionId"], "statusId": "zz"})
    assert bad.status_code == 400
    missing = api.put("/apis/v1/redemption-transactions/status", json={"transactionId": "ORD000", "statusId": target["_id"]})
    assert missing.status_code == 404


def test_patch_purchase_history(sim: SimAdmin, api: httpx.Client) -> None:
    p = walk_skip_limit(api, "/v1/purchase-histories", 100)[-1]
    body = ok(api.patch(f"/v1/purchase-histories/{p['_id']}", json={"voucherCode": "NEW-CODE", "voucherExpiryDate": "31/12/2026"}))
    assert body["meta"] == {"status": "success", "statusCode": 200}
    assert (body["data"]["voucherCode"], body["data"]["voucherExpiryDate"]) == ("NEW-CODE", "31/12/2026")
    assert body["data"]["updatedAt"] == sim.clock()["now"]
    assert walk_skip_limit(api, "/v1/purchase-histories", 100)[0]["_id"] == p["_id"]
    assert api.patch(f"/v1/purchase-histories/{p['_id']}", json={"voucherExpiryDate": "2026-12-31"}).status_code == 400
    assert api.patch("/v1/purchase-histories/not-an-id", json={}).status_code == 400
    assert api.patch(f"/v1/purchase-histories/{'a' * 24}", json={}).status_code == 404
    assert api.get("/v1/purchase-histories", params={"fields": "orderID,nope"}).status_code == 400
    slim = ok(api.get("/v1/purchase-histories", params={"fields": "orderID", "limit": 3}))["data"]
    assert all(set(r) == {"_id", "orderID"} for r in slim)


def test_orders_by_email(sim: SimAdmin, api: httpx.Client) -> None:
    orders = sim.truth_rows("redemption_orders")
    email = orders[0]["email"]
    got = walk_total_pages(lambda p: api.post("/apis/v1/redemption-transactions/by-email",
                                              json={"email": email, "page": p, "limit": 1}), 1)
    want = sorted((o for o in orders if o["email"] == email), key=lambda o: (o["updatedAt"], o["_id"]))
    assert got == want
    assert api.post("/apis/v1/redemption-transactions/by-email", json={"email": "ghost@nowhere.test"}).status_code == 404
    assert api.post("/apis/v1/redemption-transactions/by-email", json={"email": 5}).status_code == 400


def test_put_status_unknown_status_is_400_and_same_status_a_no_op(sim: SimAdmin, api: httpx.Client) -> None:
    sim.advance(1)
    order = all_orders(api)[0]
    tid = order["transactionId"]
    r = api.put("/apis/v1/redemption-transactions/status", json={"transactionId": tid, "statusId": "b" * 24})
    assert r.status_code == 400 and r.json()["message"] == "Redemption status not found"
    hist = ok(api.get(f"/apis/v1/redemption-transactions/{tid}/status-history"))["data"]
    same = ok(api.put("/apis/v1/redemption-transactions/status", json={"transactionId": tid, "statusId": order["statusId"]}))
    assert same["data"] == order and order["updatedAt"] < sim.clock()["now"]
    assert ok(api.get(f"/apis/v1/redemption-transactions/{tid}/status-history"))["data"] == hist


def test_patch_by_order_id_and_the_voucher_rule(sim: SimAdmin, api: httpx.Client) -> None:
    rows = walk_skip_limit(api, "/v1/purchase-histories", 100)
    p = next(r for r in rows if r["product"]["type"] == "voucher")
    path = f"/v1/purchase-histories/{p['orderID']}"
    sim.advance(1)
    now = sim.clock()["now"]
    body = ok(api.patch(path, json={"redemptionInstructions": "Bring this code to the desk"}))
    assert body["data"]["_id"] == p["_id"] and body["data"]["updatedAt"] == now
    assert body["data"]["product"]["redemptionInstructions"] == "Bring this code to the desk"
    assert body["data"]["voucherCode"] == p["voucherCode"]
    both = ok(api.patch(path, json={"redemptionInstructions": "x", "voucherCode": "ALL-3", "voucherExpiryDate": "01/01/2027"}))
    assert (both["data"]["voucherCode"], both["data"]["voucherExpiryDate"]) == ("ALL-3", "01/01/2027")
    truth = next(r for r in sim.truth_rows("purchase_histories") if r["_id"] == p["_id"])
    assert truth == both["data"]
    for bad in ({"voucherCode": "ONLY"}, {"voucherExpiryDate": "01/01/2027"}, {},
                {"redemptionInstructions": 5}, {"voucherCode": "", "voucherExpiryDate": "01/01/2027"}):
        r = api.patch(path, json=bad)
        assert r.status_code == 400 and r.json()["status"] == "error", bad
    assert api.patch("/v1/purchase-histories/ORD209901010001", json={"redemptionInstructions": "x"}).status_code == 404
    # a code another voucher of the same product holds is a conflict; of another product it is fine
    other = next(r for r in rows if r["product"]["_id"] == p["product"]["_id"] and r["_id"] != p["_id"])
    clash = {"voucherCode": other["voucherCode"], "voucherExpiryDate": "01/01/2027"}
    r = api.patch(path, json=clash)
    assert r.status_code == 409 and r.json()["status"] == "error"
    elsewhere = next(r for r in rows if r["product"]["_id"] != p["product"]["_id"] and r["voucherCode"])
    assert ok(api.patch(f"/v1/purchase-histories/{elsewhere['_id']}", json=clash))["data"]["voucherCode"] == other["voucherCode"]
    # writing the values it already has changes nothing
    sim.advance(1)
    again = ok(api.patch(path, json={"redemptionInstructions": "x"}))
    assert again["data"]["updatedAt"] == now
