"""Records exactly as the API returns them, built from the columnar state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import objectid
from simulator.timefmt import DAY_MS, dmy, iso
from simulator.world import CHANGED_BY, CURRENCIES, FIRST_ASCII, LAST_ASCII, SOURCES, Job, World

TEXT_FIELDS = ("first_name", "last_name", "username", "display_name", "language")


def iso_many(ms: np.ndarray) -> list[str]:
    """Vectorised `timefmt.iso`."""
    return [t + "Z" for t in np.datetime_as_string(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"), unit="ms").tolist()]


def _custom_many(w: World, f: int, codes: np.ndarray) -> list[Any]:
    t = C.CUSTOM_FIELDS[f]["type"]
    vals = codes.tolist()
    if t in C.NUMERIC_TYPES:
        return [None if v != v else (int(v) if v.is_integer() else v) for v in vals]
    if t == "boolean":
        return [None if v != v else bool(v) for v in vals]
    if t == "date":
        days = np.where(np.isnan(codes), 0, codes).astype(np.int64)
        text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").tolist()
        return [None if v != v else text[j] for j, v in enumerate(vals)]
    strings = w.strings
    return [None if v != v else strings[int(v)] for v in vals]


def users(w: World, idx: np.ndarray, fields: list[str]) -> list[dict[str, Any]]:
    """users_filter records for user indices `idx` with the requested fields (plus `_id`), column by column."""
    u = w.users
    idx = np.asarray(idx, dtype=np.int64)
    ilist = idx.tolist()
    join = u["join_ms"][idx]
    cols: dict[str, list[Any]] = {"_id": [f"{s:08x}{objectid.TAG_USER}{i:010x}" for s, i in zip((join // 1000).tolist(), ilist, strict=True)]}
    first, last = u["first"][idx].tolist(), u["last"][idx].tolist()
    for name in fields:
        if name in cols:
            continue
        if name == "email":
            dom = u["domain"][idx].tolist()
            cols[name] = [f"{FIRST_ASCII[a]}.{LAST_ASCII[b]}{i}@{C.DOMAINS[d]}" for a, b, i, d in zip(first, last, ilist, dom, strict=True)]
        elif name == "first_name":
            cols[name] = [C.FIRST_NAMES[a] for a in first]
        elif name == "last_name":
            cols[name] = [C.LAST_NAMES[b] for b in last]
        elif name == "username":
            cols[name] = [f"{FIRST_ASCII[a]}{LAST_ASCII[b]}{i}" for a, b, i in zip(first, last, ilist, strict=True)]
        elif name == "display_name":
            cols[name] = [f"{C.FIRST_NAMES[a]} {C.LAST_NAMES[b]}" for a, b in zip(first, last, strict=True)]
        elif name == "language":
            cols[name] = [C.LANGUAGES[x] for x in u["lang"][idx].tolist()]
        elif name == "join_date":
            cols[name] = iso_many(join)
        elif name == "last_login":
            cols[name] = iso_many(u["last_login"][idx])
        elif name in ("tier", "level"):
            step = np.maximum(np.searchsorted(C.TIER_THRESHOLDS, u["xp"][idx], side="right") - 1, 0).tolist()
            cols[name] = [C.TIER_STEPS[x][0 if name == "tier" else 1] for x in step]
            if name == "tier" and w.tier_override:
                cols[name] = [w.tier_override.get(i, t) for i, t in zip(ilist, cols[name], strict=True)]
        elif name in _NUMERIC:
            cols[name] = u[_NUMERIC[name]][idx].tolist()
        elif name == "total_messages":
            cols[name] = (u["n_message"][idx] + u["n_reply"][idx]).tolist()
        elif name == "login_streak":
            cols[name] = np.where(u["streak_last"][idx] >= w.clock_day - 1, u["streak_len"][idx], 0).tolist()
        elif name == "is_deleted":
            cols[name] = u["deleted"][idx].tolist()
        elif name in C.CUSTOM_KEYS:
            f = C.CUSTOM_KEYS.index(name)
            cols[name] = _custom_many(w, f, u[f"c_{name}"][idx])
        if name in TEXT_FIELDS and w.overrides:
            cols[name] = [w.overrides.get((name, i), v) for i, v in zip(ilist, cols[name], strict=True)]
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)]


_NUMERIC = {"xp": "xp", "coins": "coins", "premium_currency": "premium", "total_reactions": "n_react",
            "visit_count": "n_visit"}


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


def _each_order(w: World, idx: np.ndarray) -> Iterator[tuple[int, dict[str, Any], int, int, int, int]]:
    """(row, product, user, status, created ms, updated ms) of each order in `idx`: both views of an order."""
    OT = w.orders
    for o in idx.tolist():
        yield (o, C.PRODUCTS[OT["product"][o]], int(OT["user"][o]), int(OT["status"][o]),
               int(OT["created"][o]), int(OT["updated"][o]))


def orders(w: World, idx: np.ndarray) -> list[dict[str, Any]]:
    OT = w.orders
    return [{
        "_id": order_id(w, o), "transactionId": w.tid(o), "userId": w.user_id(u), "email": w.email(u),
        "productId": p["_id"], "productName": p["name"], "quantity": int(OT["qty"][o]),
        "price": int(OT["price"][o]) * int(OT["qty"][o]), "currency": CURRENCIES[OT["currency"][o]],
        "statusId": C.STATUSES[s]["_id"], "status": status(s),
        "createdAt": iso(created), "updatedAt": iso(updated),
    } for o, p, u, s, created, updated in _each_order(w, idx)]


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
    out = []
    for o, p, u, s, created, updated in _each_order(w, idx):
        voucher = p["type"] == "voucher"
        rec = {
            "_id": purchase_id(w, o), "orderID": w.tid(o), "communityID": C.COMMUNITY_ID,
            "userID": w.user_id(u),
            "product": {"_id": p["_id"], "name": p["name"], "price": p["price"], "type": p["type"],
                        "redemptionInstructions": p["redemptionInstructions"]},
            "voucherCode": f"V{(o * 2654435761 + w.seed) % 4294967296:08X}" if voucher else None,
            "voucherExpiryDate": dmy(created // DAY_MS + 180) if voucher else None,
            "statusID": C.STATUSES[s]["_id"],
            "createdAt": iso(created), "updatedAt": iso(updated),
        }
        over = w.purchase_overrides.get(o)
        if over:
            rec.update({k: v for k, v in over.items() if k != "redemptionInstructions"})
            if "redemptionInstructions" in over:
                rec["product"]["redemptionInstructions"] = over["redemptionInstructions"]
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


def channels() -> list[dict[str, Any]]:
    return [dict(c) for c in C.CHANNELS]


def _people(w: World, users: list[int]) -> dict[int, dict[str, str]]:
    return {i: {"user_id": w.user_id(i), "email": w.email(i)} for i in set(users)}


def messages(w: World, rows: np.ndarray) -> list[dict[str, Any]]:
    """7.15 records of message rows, in the order given."""
    M = w.messages
    rows = np.asarray(rows, dtype=np.int64)
    us, ts, ch = M["user"][rows].tolist(), M["ts"][rows], M["channel"][rows].tolist()
    par, re, ed, tx = M["parent"][rows], M["reactions"][rows].tolist(), M["edited"][rows], M["text"][rows].tolist()
    people = _people(w, us)
    chans = [{"channel_id": c["_id"], "name": c["topic"]} for c in C.CHANNELS]
    stamps = iso_many(ts)
    edited = iso_many(ed)
    has_parent = par >= 0
    pids: list[str | None] = [None] * len(rows)
    for j, p in zip(np.flatnonzero(has_parent).tolist(), par[has_parent].tolist(), strict=True):
        pids[j] = w.message_id(p)
    secs = (ts // 1000).tolist()
    strings = w.strings
    return [{"id": f"{secs[j]:08x}{objectid.TAG_MESSAGE}{r:010x}", "message": strings[tx[j]],
             "user": dict(people[us[j]]), "channel": dict(chans[ch[j]]), "timestamp": stamps[j],
             "parentId": pids[j], "reactions": re[j], "editedAt": edited[j] if ed[j] else None}
            for j, r in enumerate(rows.tolist())]


def minigame_logs(w: World, rows: np.ndarray) -> list[dict[str, Any]]:
    """7.16 records of mini-game rows."""
    G = w.minigames
    rows = np.asarray(rows, dtype=np.int64)
    us, ts = G["user"][rows].tolist(), G["ts"][rows]
    gm, oc, xp, co = G["game"][rows].tolist(), G["outcome"][rows].tolist(), G["xp"][rows].tolist(), G["coins"][rows].tolist()
    people = _people(w, us)
    stamps = iso_many(ts)
    secs = (ts // 1000).tolist()
    return [{"_id": f"{secs[j]:08x}{objectid.TAG_MINIGAME}{r:010x}", "user_id": people[us[j]]["user_id"],
             "email": people[us[j]]["email"], "game": C.MINIGAMES[gm[j]], "outcome": C.OUTCOMES[oc[j]],
             "xp": xp[j], "coins": co[j], "createdAt": stamps[j]}
            for j, r in enumerate(rows.tolist())]
