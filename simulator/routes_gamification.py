"""Gamification set-up: leaderboards, streaks, streak logs, tiers (7.13)."""

from __future__ import annotations

import copy

import numpy as np

from simulator import catalog as C
from simulator import render
from simulator.daterange import window
from simulator.envelopes import (
    Reply,
    envelope_a,
    envelope_b,
    page_limit,
    pagination,
    total_pages,
)
from simulator.routing import Call, route
from simulator.world import World


@route("GET", "/v1/leaderboards", "gamification")
def leaderboards(call: Call) -> Reply:
    page, limit = page_limit(call.query)
    allrecs = sorted(C.LEADERBOARDS, key=lambda r: (r["createdAt"], r["_id"]))
    recs = copy.deepcopy(allrecs[(page - 1) * limit: page * limit])
    return envelope_b(recs, "Read leaderboards success.", recs, page=page, limit=limit, total=len(allrecs))


@route("GET", "/apis/v1/streaks", "gamification")
def streaks(call: Call) -> Reply:
    page, limit = page_limit(call.query)
    allrecs = sorted(C.STREAKS, key=lambda r: (r["order"], r["_id"]))
    recs = copy.deepcopy(allrecs[(page - 1) * limit: page * limit])
    tp = total_pages(len(allrecs), limit)
    reply = envelope_b(recs, "Read streaks success.", recs)
    reply.body["pagination"] = {"total": len(allrecs), "currentPage": page, "totalPages": tp,
                                "hasNextPage": page < tp, "hasPrevPage": page > 1}
    return reply


def streak_log_order(w: World) -> np.ndarray:
    S = w.streak_logs
    return w.cached("streak_order", lambda: np.lexsort((np.arange(S.n), S["ts"])))


@route("POST", "/apis/v1/streaks/logs", "gamification")
def streak_logs(call: Call) -> Reply:
    w = call.world
    body = call.json()
    page, limit = page_limit(body, 100, 100)
    order = streak_log_order(w)
    a, b = window(w.streak_logs["ts"][order], body)
    pos = order[a:b]
    recs = render.streak_logs(w, pos[(page - 1) * limit: page * limit])
    return envelope_a({"pagination": pagination(page, limit, len(pos)), "results": recs}, "Streak logs fetched", recs)


@route("GET", "/apis/v1/tiers", "gamification")
def tiers(call: Call) -> Reply:
    recs = copy.deepcopy(C.TIERS)
    return envelope_a({"xpSetting": copy.deepcopy(C.XP_SETTING), "tiers": recs}, "Tiers fetched", recs)
