"""A member's mini-game logs (7.16) and their mini-game and streak stats (7.17)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import minigames, render
from simulator.envelopes import Reply, bad_request, envelope_a, not_found, page_limit, pagination
from simulator.routing import Call, route
from simulator.timefmt import parse_iso
from simulator.world import World


def _member(w: World, body: dict[str, Any], include_deleted: bool) -> int:
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise bad_request("Invalid email", "email must be an email address")
    i = w.find_email(email, include_deleted)
    if i is None:
        raise not_found("User not found", f"No user {email}")
    return i


@route("POST", "/apis/v1/users/minigames/logs", "getUserStats")
def minigame_logs(call: Call) -> Reply:
    w = call.world
    body = call.json()
    i = _member(w, body, include_deleted=True)  # immutable history stays readable
    page, limit = page_limit(body, 100, 100)
    rows = w.minigames_by_user.positions(i, w.n_users)
    ts = w.minigames["ts"][rows]
    try:
        a = int(np.searchsorted(ts, parse_iso(body["from"]), "left")) if body.get("from") else 0
        b = int(np.searchsorted(ts, parse_iso(body["to"]), "left")) if body.get("to") else len(rows)
    except ValueError as e:
        raise bad_request("Invalid date", str(e)) from None
    rows = rows[a:max(a, b)]
    recs = render.minigame_logs(w, rows[(page - 1) * limit: page * limit])
    return envelope_a({"pagination": pagination(page, limit, len(rows)), "results": recs},
                      "Mini-game logs fetched", recs)


@route("POST", "/apis/v1/users/minigames/stats", "getUserStats")
def minigame_stats(call: Call) -> Reply:
    w = call.world
    data = minigames.stats(w, _member(w, call.json(), include_deleted=False))
    return envelope_a(data, "Mini-game stats fetched", data["games"])
