"""A member's mini-game logs (7.16) and their mini-game and streak stats (7.17)."""

from __future__ import annotations

from typing import Any

from simulator import minigames, render
from simulator.daterange import window
from simulator.envelopes import (
    Reply,
    email_param,
    envelope_a,
    page_limit,
    pagination,
    user_found,
)
from simulator.routing import Call, route
from simulator.world import World


def _member(w: World, body: dict[str, Any], include_deleted: bool) -> int:
    email = email_param(body.get("email"))
    return user_found(w.find_email(email, include_deleted), email)


@route("POST", "/apis/v1/users/minigames/logs", "getUserStats")
def minigame_logs(call: Call) -> Reply:
    w = call.world
    body = call.json()
    i = _member(w, body, include_deleted=True)  # immutable history stays readable
    page, limit = page_limit(body, 100, 100)
    rows = w.minigames_by_user.positions(i, w.n_users)
    a, b = window(w.minigames["ts"][rows], body)
    rows = rows[a:b]
    recs = render.minigame_logs(w, rows[(page - 1) * limit: page * limit])
    return envelope_a({"pagination": pagination(page, limit, len(rows)), "results": recs},
                      "Mini-game logs fetched", recs)


@route("POST", "/apis/v1/users/minigames/stats", "getUserStats")
def minigame_stats(call: Call) -> Reply:
    w = call.world
    data = minigames.stats(w, _member(w, call.json(), include_deleted=False))
    return envelope_a(data, "Mini-game stats fetched", data["games"])
