"""Records exactly as the API returns them, built from the columnar state."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import objectid
from simulator.timefmt import DAY_MS, dmy, iso
from simulator.world import CHANGED_BY, CURRENCIES, SOURCES, Job, World

TEXT_FIELDS = ("first_name", "last_name", "username", "display_name", "language")


def users(w: World, idx: np.ndarray, fields: list[str]) -> list[dict[str, Any]]:
    """users_filter records for user indices `idx` with the requested fields (plus `_id`)."""
    u = w.users
    cols: dict[str, np.ndarray] = {}
    for name, col in (("xp", "xp"), ("coins", "coins"), ("premium_currency", "premium"),
                      ("total_reactions", "n_react"), ("visit_count", "n_visit")):
        if name in fields:
            cols[name] = u[col][idx].tolist()
    if "total_messages" in fields:
        cols["total_messages"] = (u["n_message"][idx] + u["n_reply"][idx]).tolist()
    join = u["join_ms"][idx].tolist()
    out = []
    want_tier = "tier" in fields or "level" in fields
    xp_list = u["xp"][idx].tolist() if want_tier else []
    custom = [(k, f, u[f"c_{k}"][idx].tolist()) for f, k in enumerate(C.CUSTOM_KEYS) if k in fields]
    for j, i in enumerate(idx.tolist()):
        rec: dict[str, Any] = {"_id": objectid.make(join[j], objectid.TAG_USER, i)}
        if want_tier:
            tname, level = C.tier_of(xp_list[j])
            tname = w.tier_override.get(i, tname)
        for name in fields:
            if name in cols:
                rec[name] = cols[name][j]
            elif name == "email":
                rec[name] = w.email(i)
            elif name in TEXT_FIELDS:
                rec[name] = w.text_field(name, i)
            elif name == "join_date":
                rec[name] = iso(join[j])
            elif name == "last_login":
                rec[name] = iso(u["last_login"][i])
            elif name == "tier":
                rec[name] = tname
            elif name == "level":
                rec[name] = level
            elif name == "login_streak":
                rec[name] = w.login_streak(i)
            elif name == "is_deleted":
                rec[name] = bool(u["deleted"][i])
        for k, f, vals in custom:
            rec[k] = w.custom_value(f, vals[j])
        out.append(rec)
    return out


def user_info(w: World, i: int) -> dict[str, Any]:
    u = w.users
    pos = w.user_logs(i)
    today = w.clock_day * DAY_MS
    ts = w.logs["ts"][pos]
    t = pos[ts >= today]
    xp_today = int(np.clip(w.logs["xp"][t], 0, None).sum())
    coins_today = int(np.clip(w.logs["coins"][t], 0, None).sum())
    role = C.ROLES[u["role"][i]]
    return {
        "_id": w.user_id(i), "userId": w.user_id(i), "username": w.text_field("username", i),
        "xp": int(u["xp"][i]), "coins": int(u["coins"][i]),
        "roles": ["member"] if role == "member" else ["member", role], "highestRole": role,
        "firstName": w.text_field("first_name", i), "lastName": w.text_field("last_name", i),
        "xpEarnedToday": xp_today, "coinsEarnedToday": coins_today, "language": w.text_field("language", i),
        "totalMessages": int(u["n_message"][i] + u["n_reply"][i]), "totalReactions": int(u["n_react"][i]),
        "visitCount": int(u["n_visit"][i]), "replySent": int(u["n_reply"][i]),
        "timeSpent": int(u["n_visit"][i]) * 7 + int(u["n_message"][i]) * 2, "loginStreak": w.login_streak(i),
        "customFields": {k: w.custom_value(f, u[f"c_{k}"][i]) for f, k in enumerate(C.CUSTOM_KEYS)},
    }


def logs(w: World, pos: np.ndarray) -> list[dict[str, Any]]:
    L = w.logs
    us, ts, ac = L["user"][pos].tolist(), L["ts"][pos].tolist(), L["action"][pos].tolist()
    xp, co, bx, bc = L["xp"][pos].tolist(), L["coins"][pos].tolist(), L["bal_xp"][pos].tolist(), L["bal_coins"][pos].tolist()
    return [{"_id": objectid.make(ts[j], objectid.TAG_LOG, p), "user_id": w.user_id(us[j]),
             "identifier": w.email(us[j]), "action": C.ACTIONS[ac[j]], "xp": xp[j], "coins": co[j],
             "balance_xp": bx[j], "balance_coins": bc[j], "createdAt": iso(ts[j])}
            for j, p in enumerate(pos.tolist())]


def histories(w: World, pos: np.ndarray) -> list[dict[str, Any]]:
    H = w.histories
    us, fs, ts = H["user"][pos].tolist(), H["field"][pos].tolist(), H["ts"][pos].tolist()
    pv, vv, ss = H["prev"][pos].tolist(), H["value"][pos].tolist(), H["source"][pos].tolist()
    return [{"_id": objectid.make(ts[j], objectid.TAG_HISTORY, p), "communityId": C.COMMUNITY_ID,
             "userId": w.user_id(us[j]), "fieldId": C.CUSTOM_FIELDS[fs[j]]["_id"],
             "field": C.CUSTOM_KEYS[fs[j]], "previousValue": w.custom_value(fs[j], pv[j]),
             "value": w.custom_value(fs[j], vv[j]), "source": SOURCES[ss[j]], "createdAt": iso(ts[j])}
            for j, p in enumerate(pos.tolist())]


def status(s: int) -> dict[str, Any]:
    return dict(C.STATUSES[s])


def order_id(w: World, o: int) -> str:
    return objectid.make(int(w.orders["created"][o]), objectid.TAG_ORDER, o)


def orders(w: World, idx: np.ndarray) -> list[dict[str, Any]]:
    OT = w.orders
    out = []
    for o in idx.tolist():
        p = C.PRODUCTS[OT["product"][o]]
        s = int(OT["status"][o])
        u = int(OT["user"][o])
        out.append({
            "_id": order_id(w, o), "transactionId": w.tid(o), "userId": w.user_id(u), "email": w.email(u),
            "productId": p["_id"], "productName": p["name"], "quantity": int(OT["qty"][o]),
            "price": int(OT["price"][o]) * int(OT["qty"][o]), "currency": CURRENCIES[OT["currency"][o]],
            "statusId": C.STATUSES[s]["_id"], "status": status(s),
            "createdAt": iso(OT["created"][o]), "updatedAt": iso(OT["updated"][o]),
        })
    return out


def status_changes(w: World, pos: np.ndarray) -> list[dict[str, Any]]:
    X = w.changes
    out = []
    for p in pos.tolist():
        s = int(X["status"][p])
        ts = int(X["ts"][p])
        out.append({"_id": objectid.make(ts, objectid.TAG_STATUS_CHANGE, p), "transactionId": w.tid(int(X["order"][p])),
                    "statusId": C.STATUSES[s]["_id"], "statusName": C.STATUSES[s]["name"],
                    "category": C.STATUSES[s]["category"], "changedAt": iso(ts),
                    "changedBy": CHANGED_BY[X["by"][p]]})
    return out


def purchase_id(w: World, o: int) -> str:
    return objectid.make(int(w.orders["created"][o]), objectid.TAG_PURCHASE, o)


def purchases(w: World, idx: np.ndarray) -> list[dict[str, Any]]:
    OT = w.orders
    out = []
    for o in idx.tolist():
        p = C.PRODUCTS[OT["product"][o]]
        voucher = p["type"] == "voucher"
        created = int(OT["created"][o])
        rec = {
            "_id": purchase_id(w, o), "orderID": w.tid(o), "communityID": C.COMMUNITY_ID,
            "userID": w.user_id(int(OT["user"][o])),
            "product": {"_id": p["_id"], "name": p["name"], "price": p["price"], "type": p["type"],
                        "redemptionInstructions": p["redemptionInstructions"]},
            "voucherCode": f"V{(o * 2654435761 + w.seed) % 4294967296:08X}" if voucher else None,
            "voucherExpiryDate": dmy(created // DAY_MS + 180) if voucher else None,
            "statusID": C.STATUSES[int(OT["status"][o])]["_id"],
            "createdAt": iso(created), "updatedAt": iso(OT["updated"][o]),
        }
        rec.update(w.purchase_overrides.get(o, {}))
        out.append(rec)
    return out


def streak_logs(w: World, pos: np.ndarray) -> list[dict[str, Any]]:
    S = w.streak_logs
    us, cs, st, ts = S["user"][pos].tolist(), S["count"][pos].tolist(), S["status"][pos].tolist(), S["ts"][pos].tolist()
    sid = C.STREAKS[0]["_id"]
    return [{"_id": objectid.make(ts[j], objectid.TAG_STREAK_LOG, p), "streakId": sid,
             "user_id": w.user_id(us[j]), "identifier": w.email(us[j]), "count": cs[j],
             "status": C.STREAK_STATUSES[st[j]], "createdAt": iso(ts[j])}
            for j, p in enumerate(pos.tolist())]


def job(j: Job) -> dict[str, Any]:
    return {"jobId": j.job_id, "type": j.kind, "fileName": j.file_name, "status": j.status,
            "totalRows": j.total_rows, "processedRows": j.processed_rows, "successRows": j.success_rows,
            "failedRows": j.failed_rows, "createdAt": iso(j.created_ms),
            "startedAt": iso(j.started_ms) if j.started_ms is not None else None,
            "finishedAt": iso(j.finished_ms) if j.finished_ms is not None else None,
            "error": j.error}


def products(w: World) -> list[dict[str, Any]]:
    counts = np.bincount(w.orders["product"], minlength=len(C.PRODUCTS)) if w.orders.n else np.zeros(len(C.PRODUCTS))
    out = []
    for i, p in enumerate(C.PRODUCTS):
        rec = dict(p)
        rec["totalOrders"] = int(counts[i])
        out.append(rec)
    return out
