"""Gamification daily history, logs, activity stats (7.5-7.7) and the loyalty overview (7.8)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import objectid, render
from simulator.daterange import window
from simulator.envelopes import (
    Reply,
    bad_request,
    envelope_a,
    envelope_b,
    int_param,
    page_limit,
    pagination,
    user_found,
)
from simulator.routes_users import find_user
from simulator.routing import Call, route
from simulator.timefmt import DAY_MS, dmy, parse_dmy, parse_ymd, ymd
from simulator.world import ACTIVE_ACTIONS, World

MAX_IDENTIFIERS = 100


def _identifiers(body: dict[str, Any], required: bool) -> tuple[list[str] | None, str]:
    ident = body.get("identifier")
    kind = body.get("identifier_type", "email")
    if kind not in ("email", "user_id"):
        raise bad_request("Invalid identifier_type", "identifier_type must be email or user_id")
    if ident is None:
        if required:
            raise bad_request("Missing identifier", "identifier is required")
        return None, kind
    if isinstance(ident, str):
        ident = [ident]
    if not isinstance(ident, list) or not all(isinstance(x, str) for x in ident):
        raise bad_request("Invalid identifier", "identifier must be a list of strings")
    if len(ident) > MAX_IDENTIFIERS:
        raise bad_request("Too many identifiers", f"At most {MAX_IDENTIFIERS} identifiers per call")
    return ident, kind


def _lookup(w: World, ident: str, kind: str, include_deleted: bool = False) -> int | None:
    if kind == "email":
        return w.find_email(ident, include_deleted)
    if not objectid.is_valid(ident):
        raise bad_request("Invalid identifier", f"{ident!r} is not a user id")
    return w.find_user_id(ident, include_deleted)


def daily_row(w: World, i: int, day: int) -> tuple[int, int]:
    pos = w.user_logs(i)
    ts = w.logs["ts"][pos]
    a, b = np.searchsorted(ts, [day * DAY_MS, (day + 1) * DAY_MS])
    sel = pos[a:b]
    return int(w.logs["coins"][sel].sum()), int(w.logs["xp"][sel].sum())


def first_day(w: World, i: int) -> int:
    return max(int(w.users["join_ms"][i]) // DAY_MS, w.history_start_day)


@route("POST", "/apis/v1/users/activity/daily", "getUserStats")
def activity_daily(call: Call) -> Reply:
    w = call.world
    body = call.json()
    ident, kind = _identifiers(body, required=True)
    assert ident is not None
    try:
        day = parse_dmy(body.get("date"))
    except ValueError as e:
        raise bad_request("Invalid date", f"{e}; expected dd/mm/yyyy") from None
    page, limit = page_limit(body, 50, 100)
    results = []
    for x in ident:
        i = _lookup(w, x, kind)
        if i is None or not first_day(w, i) <= day <= w.clock_day:
            continue
        coins, xp = daily_row(w, i, day)
        results.append({"identifier": x, "user_id": w.user_id(i), "date": dmy(day), "coins": coins, "xp": xp})
    found = len(results)
    recs = results[(page - 1) * limit: page * limit]
    data = {"date": dmy(day), "pagination": pagination(page, limit, len(ident), found), "results": recs}
    return envelope_a(data, "Daily gamification history fetched", recs)


@route("POST", "/apis/v1/users/activity/logs", "getUserStats")
def activity_logs(call: Call) -> Reply:
    w = call.world
    body = call.json()
    ident, kind = _identifiers(body, required=False)
    a, b = window(w.logs["ts"], body)
    page, limit = page_limit(body, 100, 100)
    if ident is None:
        total = max(0, b - a)
        sel = np.arange(a + (page - 1) * limit, min(b, a + page * limit))
    else:
        parts = []
        for x in ident:
            i = _lookup(w, x, kind, include_deleted=True)
            if i is not None:
                p = w.user_logs(i)
                parts.append(p[(p >= a) & (p < b)])
        pos = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        total = len(pos)
        sel = pos[(page - 1) * limit: page * limit]
    recs = render.logs(w, sel)
    return envelope_a({"pagination": pagination(page, limit, total), "results": recs},
                      "Gamification logs fetched", recs)


@route("POST", "/apis/v1/users/activity/stats", "getUserStats")
def activity_stats(call: Call) -> Reply:
    w = call.world
    body = call.json()
    ident = body.get("identifier")
    kind = body.get("identifier_type", "email")
    if kind not in ("email", "user_id"):
        raise bad_request("Invalid identifier_type", "identifier_type must be email or user_id")
    i = user_found(find_user(w, ident, kind), ident)
    days = min(int_param(body.get("days"), "days", 30), 90)
    end = w.clock_day
    start = end - days + 1
    daily = stats_by_day(w, i, start, end)
    totals = {k: sum(d[k] for d in daily) for k in ("messages", "replies", "reaction", "socials")}
    data = {"user_id": w.user_id(i), "range": {"start_date": ymd(start), "end_date": ymd(end)},
            "totals": totals, "daily_stats": daily}
    return envelope_a(data, "Activity stats fetched", daily)


def stats_by_day(w: World, i: int, start: int, end: int) -> list[dict[str, Any]]:
    """Days in [start, end] with any message, reply, reaction or social (referral) of user i."""
    pos = w.user_logs(i)
    L = w.logs
    days = L["ts"][pos] // DAY_MS
    act = L["action"][pos]
    keep = (days >= start) & (days <= end)
    days, act = days[keep], act[keep]
    out = []
    for d in np.unique(days).tolist():
        a = act[days == d]
        row = {"date": ymd(d), "messages": int((a == C.A_MESSAGE).sum()), "replies": int((a == C.A_REPLY).sum()),
               "reaction": int((a == C.A_REACT).sum()), "socials": int((a == C.A_REFERRAL).sum())}
        if row["messages"] or row["replies"] or row["reaction"] or row["socials"]:
            out.append(row)
    return out


def loyalty_days(w: World) -> dict[int, dict[str, Any]]:
    """The overview of every day from the history start to the clock's day (cached per state)."""
    def build() -> dict[int, dict[str, Any]]:
        L = w.logs
        d0, d1 = w.history_start_day, w.clock_day
        nd = d1 - d0 + 1
        day = (L["ts"] // DAY_MS - d0).astype(np.int64)
        xp, coins, act, usr = L["xp"], L["coins"], L["action"], L["user"].astype(np.int64)
        xp_e = np.bincount(day, weights=np.clip(xp, 0, None), minlength=nd)
        co_e = np.bincount(day, weights=np.clip(coins, 0, None), minlength=nd)
        co_s = np.bincount(day, weights=np.clip(-coins, 0, None), minlength=nd)
        msgs = np.bincount(day[act == C.A_MESSAGE], minlength=nd)
        active = np.isin(act, ACTIVE_ACTIONS)
        pairs = np.unique(usr[active] * 100_000 + day[active])
        pu, pd = pairs // 100_000, pairs % 100_000
        same = np.r_[False, pu[1:] == pu[:-1]]
        prevd = np.r_[-100, pd[:-1]]
        retained = same & (pd - prevd <= 7)
        join_day = w.users["join_ms"] // DAY_MS - d0
        returning = join_day[pu] < pd
        act_n = np.bincount(pd, minlength=nd)
        ret_n = np.bincount(pd, weights=returning, minlength=nd)
        kept_n = np.bincount(pd, weights=retained, minlength=nd)
        new_n = np.bincount(join_day[(join_day >= 0) & (join_day < nd)], minlength=nd)
        od = w.orders["created"] // DAY_MS - d0
        red = np.bincount(od[od >= 0], minlength=nd)
        out = {}
        for k in range(nd):
            out[d0 + k] = {
                "date": ymd(d0 + k), "activeUsers": int(act_n[k]), "newUsers": int(new_n[k]),
                "returningUsers": int(ret_n[k]), "messages": int(msgs[k]), "xpEarned": int(xp_e[k]),
                "coinsEarned": int(co_e[k]), "coinsSpent": int(co_s[k]), "redemptions": int(red[k]),
                "retention7d": round(float(kept_n[k] / act_n[k]), 4) if act_n[k] else 0.0,
            }
        return out
    return w.cached("loyalty", build)


@route("GET", "/v1/analytics/loyalty-overview", "analytics")
def loyalty_overview(call: Call) -> Reply:
    w = call.world
    q = call.query
    try:
        to = parse_ymd(q["to"]) if q.get("to") else w.clock_day
        frm = parse_ymd(q["from"]) if q.get("from") else to - 29
    except ValueError as e:
        raise bad_request("Invalid date", f"{e}") from None
    if frm > to:
        raise bad_request("Invalid date range", "from must not be after to")
    if to - frm + 1 > 90:
        raise bad_request("Date range too long", "from..to spans more than 90 days")
    days = loyalty_days(w)
    recs = [days[d] for d in range(frm, to + 1) if d in days]
    recs = [dict(r) for r in recs]
    return envelope_b(recs, "Read loyalty overview success.", recs)
