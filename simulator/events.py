"""Outgoing webhook events (contract 9), built from what the clock and the API just changed.

Recorded only while a receiver is registered (`World.record_events`). One event per newcomer
(`user.joined`), visit log (`user.visited`), new message (`message.posted`, API posts included) and new
order (`store.purchased`), in time order; `id` = ObjectId of (createdAt, event sequence).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import objectid, render
from simulator.timefmt import iso
from simulator.world import CURRENCIES, World

Span = tuple[int, int]


def _user(w: World, i: int) -> dict[str, Any]:
    return {"_id": w.user_id(i), "email": w.email(i), "username": w.text_field("username", i)}


def record(w: World, users: Span = (0, 0), logs: Span = (0, 0), messages: Span = (0, 0),
           orders: Span = (0, 0)) -> int:
    """Events for newcomers, visit logs, messages and orders at the given row ranges; returns how many."""
    if not w.record_events:
        return 0
    out: list[tuple[int, int, str, dict[str, Any]]] = []
    join = w.users["join_ms"]
    for i in range(*users):
        out.append((int(join[i]), 0, "user.joined", {"user": _user(w, i), "joinedAt": iso(int(join[i]))}))
    L = w.logs
    a, b = logs
    visits = a + np.flatnonzero(L["action"][a:b] == C.A_VISIT)
    for u, t in zip(L["user"][visits].tolist(), L["ts"][visits].tolist(), strict=True):
        out.append((t, 1, "user.visited", {"user": _user(w, u), "visitedAt": iso(t)}))
    rows = np.arange(*messages)
    for rec, t in zip(render.messages(w, rows), w.messages["ts"][rows].tolist(), strict=True):
        out.append((t, 2, "message.posted", {
            "message": {"id": rec["id"], "message": rec["message"], "timestamp": rec["timestamp"],
                        "parentId": rec["parentId"]},
            "user": rec["user"], "channel": rec["channel"]}))
    OT = w.orders
    for o in range(*orders):
        p = C.PRODUCTS[int(OT["product"][o])]
        u, t = int(OT["user"][o]), int(OT["created"][o])
        out.append((t, 3, "store.purchased", {
            "orderID": w.tid(o), "user": {"_id": w.user_id(u), "email": w.email(u)},
            "product": {"_id": p["_id"], "name": p["name"], "price": p["price"], "type": p["type"]},
            "quantity": int(OT["qty"][o]), "currency": CURRENCIES[int(OT["currency"][o])],
            "createdAt": iso(t)}))
    out.sort(key=lambda e: (e[0], e[1]))
    seq = len(w.events)
    for j, (t, _, name, data) in enumerate(out):
        w.events.append({"id": objectid.make(t, objectid.TAG_EVENT, seq + j), "event": name,
                         "communityId": C.COMMUNITY_ID, "createdAt": iso(t), "data": data})
    if out:
        w.version += 1
    return len(out)
