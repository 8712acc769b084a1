"""Redemption orders, statuses, status history and updates (7.9, 7.10); purchase histories (7.11)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import listquery, objectid, render
from simulator.daterange import iso_bounds
from simulator.envelopes import (
    ApiError,
    Reply,
    bad_request,
    check_object_id,
    email_param,
    envelope_a,
    envelope_b,
    found,
    page_limit,
    pagination,
    user_found,
)
from simulator.routing import Call, route
from simulator.timefmt import parse_dmy
from simulator.world import World

BY_API = 2


def _sorted_orders(w: World, idx: np.ndarray, desc: bool) -> np.ndarray:
    OT = w.orders
    srt = np.lexsort((idx, OT["created"][idx] // 1000, OT["updated"][idx]))
    out = idx[srt]
    return out[::-1] if desc else out


def _page(w: World, idx: np.ndarray, page: int, limit: int, msg: str) -> Reply:
    sel = idx[(page - 1) * limit: page * limit]
    recs = render.orders(w, sel)
    return envelope_a({"pagination": pagination(page, limit, len(idx)), "results": recs}, msg, recs)


@route("GET", "/apis/v1/redemption-transactions", "redemptions")
def redemption_transactions(call: Call) -> Reply:
    w = call.world
    q = call.query
    page, limit = page_limit(q)
    sort = q.get("sort", "updatedAt:asc")
    if sort not in ("updatedAt:asc", "updatedAt:desc"):
        raise bad_request("Invalid sort", "sort must be updatedAt:asc or updatedAt:desc")
    upd = w.orders["updated"]
    mask = np.ones(w.orders.n, dtype=bool)
    lo, hi = iso_bounds(q, "updatedFrom", "updatedTo")
    if lo is not None:
        mask &= upd >= lo
    if hi is not None:
        mask &= upd < hi
    idx = _sorted_orders(w, np.flatnonzero(mask), sort.endswith("desc"))
    return _page(w, idx, page, limit, "Redemption transactions fetched")


@route("POST", "/apis/v1/redemption-transactions/by-email", "redemptions")
def redemption_by_email(call: Call) -> Reply:
    w = call.world
    body = call.json()
    email = email_param(body.get("email"))
    page, limit = page_limit(body)
    i = user_found(w.find_email(email, include_deleted=True), email)
    idx = _sorted_orders(w, np.flatnonzero(w.orders["user"] == i), False)
    return _page(w, idx, page, limit, "Redemption transactions fetched")


@route("GET", "/apis/v1/redemption-statuses", "redemptions")
def redemption_statuses(call: Call) -> Reply:
    recs = [render.status(s) for s in range(len(C.STATUSES))]
    return envelope_a(recs, "Redemption statuses fetched", recs)


def _order(w: World, tid: Any) -> int:
    if not isinstance(tid, str) or not tid:
        raise bad_request("Invalid transactionId", "transactionId must be a string like ORD202507013831")
    return found(w.tid_index.get(tid), "Redemption transaction not found", f"No transaction {tid}")


@route("GET", "/apis/v1/redemption-transactions/{transactionId}/status-history", "redemptions")
def status_history(call: Call) -> Reply:
    w = call.world
    o = _order(w, call.params["transactionId"])
    pos = np.flatnonzero(w.changes["order"] == o)
    recs = render.status_changes(w, pos)
    return envelope_a(recs, "Status history fetched", recs)


def set_status(w: World, o: int, status_id: Any) -> None:
    check_object_id(status_id, "statusId")
    s = C.STATUS_BY_ID.get(status_id)
    if s is None:  # 8.5: an unknown status is a bad request, an unknown order a 404
        raise bad_request("Redemption status not found", f"No status {status_id}")
    if int(w.orders["status"][o]) != s:
        w.change_status(np.array([o]), np.array([s]), np.array([w.clock_ms]), BY_API)


@route("PUT", "/apis/v1/redemption-transactions/status", "redemptions")
def update_status(call: Call) -> Reply:
    w = call.world
    body = call.json()
    o = _order(w, body.get("transactionId"))
    set_status(w, o, body.get("statusId"))
    return envelope_a(render.orders(w, np.array([o]))[0], "Redemption status updated")


PURCHASE_FIELDS = {"_id", "orderID", "communityID", "userID", "product", "voucherCode", "voucherExpiryDate",
                   "statusID", "createdAt", "updatedAt"}


@route("GET", "/v1/purchase-histories", "purchase-history")
def purchase_histories(call: Call) -> Reply:
    w = call.world
    q = call.query
    skip, limit = listquery.skip_limit(q)
    fields = listquery.fields_of(q, PURCHASE_FIELDS)
    name, desc = listquery.parse_sort(q, PURCHASE_FIELDS, "updatedAt:desc")
    OT = w.orders
    if name in ("updatedAt", "createdAt") and not q.get("filter") and not q.get("search"):
        idx = np.arange(OT.n)
        col = OT["updated"] if name == "updatedAt" else OT["created"]
        idx = idx[np.lexsort((idx, OT["created"] // 1000, col))]
        if desc:
            idx = idx[::-1]
        total = len(idx)
        recs = render.purchases(w, idx[skip: skip + limit])
    else:
        allrecs = listquery.apply(render.purchases(w, np.arange(OT.n)), q, "updatedAt:desc")
        total = len(allrecs)
        recs = allrecs[skip: skip + limit]
    recs = listquery.project(recs, fields)
    return envelope_b(recs, "Read purchase histories success.", recs, skip=skip, limit=limit, total=total)


def _purchase(w: World, pid: Any) -> int:
    """A purchase history by `_id` or by its `ORD...` order id (8.6)."""
    if isinstance(pid, str) and pid.startswith("ORD"):
        o = w.tid_index.get(pid)
    else:
        check_object_id(pid, "purchaseHistoryID")
        o = objectid.seq_of(pid, objectid.TAG_PURCHASE)
        if o is not None and (o >= w.orders.n or render.purchase_id(w, o) != pid):
            o = None
    return found(o, "Purchase history not found", f"No purchase history {pid}")


def _voucher_taken(w: World, o: int, code: str) -> bool:
    """Whether another purchase of the same product holds voucher `code`."""
    same = np.flatnonzero(w.orders["product"] == w.orders["product"][o])
    same = same[same != o]
    return any(r["voucherCode"] == code for r in render.purchases(w, same))


@route("PATCH", "/v1/purchase-histories/{purchaseHistoryID}", "purchase-history")
def purchase_history_update(call: Call) -> Reply:
    w = call.world
    o = _purchase(w, call.params["purchaseHistoryID"])
    body = call.json()
    unknown = set(body) - {"statusID", "voucherCode", "voucherExpiryDate", "redemptionInstructions"}
    if unknown:
        raise bad_request("Invalid body", f"Unknown fields: {', '.join(sorted(unknown))}")
    voucher = {"voucherCode", "voucherExpiryDate"} & set(body)
    if len(voucher) == 1:
        raise bad_request("Invalid body", "voucherCode and voucherExpiryDate are updated together")
    if not voucher and "redemptionInstructions" not in body and "statusID" not in body:
        raise bad_request("Invalid body", "Send redemptionInstructions, voucherCode with voucherExpiryDate, or all three")
    if body.get("voucherExpiryDate") is not None:
        try:
            parse_dmy(body["voucherExpiryDate"])
        except ValueError as e:
            raise bad_request("Invalid voucherExpiryDate", f"{e}; expected DD/MM/YYYY") from None
    code = body.get("voucherCode")
    if code is not None and (not isinstance(code, str) or not code):
        raise bad_request("Invalid voucherCode", "voucherCode must be a non-empty string")
    if "redemptionInstructions" in body and not isinstance(body["redemptionInstructions"], str):
        raise bad_request("Invalid redemptionInstructions", "redemptionInstructions must be a string")
    current = render.purchases(w, np.array([o]))[0]
    if code is not None and code != current["voucherCode"] and _voucher_taken(w, o, code):
        raise ApiError(409, "Voucher code already exists", f"Another voucher of this product holds {code!r}")
    if "statusID" in body:
        set_status(w, o, body["statusID"])
    extra: dict[str, Any] = {k: body[k] for k in ("voucherCode", "voucherExpiryDate") if k in body}
    if "redemptionInstructions" in body:
        extra["redemptionInstructions"] = body["redemptionInstructions"]
    was = {**current, "redemptionInstructions": current["product"]["redemptionInstructions"]}
    if any(was[k] != v for k, v in extra.items()):  # writing the values it already has changes nothing
        w.purchase_overrides.setdefault(o, {}).update(extra)
        w.orders["updated"][o] = w.clock_ms
        w.version += 1
    rec = render.purchases(w, np.array([o]))[0]
    return envelope_b(rec, "Update purchase history success.")
