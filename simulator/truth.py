"""Ground truth: every dataset as a complete, correct reading of the API returns it now, with checksums."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import orjson

from simulator import catalog as C
from simulator import minigames, render, surface
from simulator.routes_activity import first_day, loyalty_days
from simulator.routes_gamification import streak_log_order
from simulator.routes_users import ALL_FIELDS
from simulator.timefmt import DAY_MS, dmy, ymd
from simulator.world import SRC_POSTED, World

Row = dict[str, Any]


def canonical(row: Row) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(rows: Iterable[Row], exact: bool = True) -> tuple[int, str]:
    """(count, checksum). `exact=False` serialises with orjson, which matches `canonical` byte for byte on
    rows without floats and without client-supplied text (so only for datasets known to hold neither).
    The first 8 bytes of the digest, big-endian, are the first 16 hex digits of the contract's formula."""
    total = 0
    n = 0
    sha, from_bytes = hashlib.sha256, int.from_bytes
    if exact:
        for row in rows:
            total += from_bytes(sha(canonical(row).encode()).digest()[:8], "big")
            n += 1
    else:
        dumps, opt = orjson.dumps, orjson.OPT_SORT_KEYS
        for row in rows:
            total += from_bytes(sha(dumps(row, option=opt)).digest()[:8], "big")
            n += 1
    return n, format(total % 2**64, "016x")


def mixed_checksum(w: World, name: str, shown: str = "full") -> tuple[int, str]:
    """`checksum` of a MIXED dataset: the API-written rows through `canonical`, the others through orjson."""
    exact = MIXED[name](w)
    render_rows = {"messages": render.messages}[name]

    def part(idx: np.ndarray) -> Iterable[Row]:
        return surface.truth_rows(name, shown, _chunks(w, idx, render_rows))
    n1, c1 = checksum(part(np.flatnonzero(exact)), exact=True)
    n2, c2 = checksum(part(np.flatnonzero(~exact)), exact=False)
    return n1 + n2, format((int(c1, 16) + int(c2, 16)) % 2**64, "016x")


def _chunks(w: World, idx: np.ndarray, fn: Callable[[World, np.ndarray], list[Row]], size: int = 5000) -> Iterable[Row]:
    for a in range(0, len(idx), size):
        yield from fn(w, idx[a: a + size])


def users(w: World) -> Iterable[Row]:
    yield from _chunks(w, np.flatnonzero(~w.users["deleted"]), lambda w, i: render.users(w, i, ALL_FIELDS))


def gamification_daily(w: World, chunk: int = 20_000) -> Iterable[Row]:
    """Per (live user, day) sums of logs, a block of users at a time so memory stays bounded."""
    L = w.logs
    d0, d1 = w.history_start_day, w.clock_day
    nd = d1 - d0 + 1
    dates = [dmy(d) for d in range(d0, d1 + 1)]
    order, offsets = w.log_index()
    alive = ~w.users["deleted"]
    for a in range(0, w.n_users, chunk):
        b = min(a + chunk, w.n_users)
        pos = order[offsets[a]: offsets[b]]
        key = (L["user"][pos].astype(np.int64) - a) * nd + (L["ts"][pos] // DAY_MS - d0)
        xp = np.bincount(key, weights=L["xp"][pos], minlength=(b - a) * nd).astype(np.int64).reshape(b - a, nd)
        coins = np.bincount(key, weights=L["coins"][pos], minlength=(b - a) * nd).astype(np.int64).reshape(b - a, nd)
        for i in (np.flatnonzero(alive[a:b]) + a).tolist():
            email, uid = w.email(i), w.user_id(i)
            f = first_day(w, i) - d0
            for j, c, x in zip(range(f, nd), coins[i - a, f:].tolist(), xp[i - a, f:].tolist(), strict=True):
                yield {"identifier": email, "user_id": uid, "date": dates[j], "coins": c, "xp": x}


def activity_stats(w: World) -> Iterable[Row]:
    L = w.logs
    alive = ~w.users["deleted"]
    # the history starts 90 days before the clock; a 90-day stats call ends on the clock's day, so its
    # first day is the history's second: the truth holds what a complete reading can return
    reachable = L["ts"] // DAY_MS > w.history_start_day
    sel = np.isin(L["action"], (C.A_MESSAGE, C.A_REPLY, C.A_REACT, C.A_REFERRAL)) & alive[L["user"]] & reachable
    usr, day, act = L["user"][sel].astype(np.int64), L["ts"][sel] // DAY_MS, L["action"][sel]
    key = usr * 100_000 + day
    keys, inv = np.unique(key, return_inverse=True)
    counts = {a: np.bincount(inv[act == a], minlength=len(keys)) for a in (C.A_MESSAGE, C.A_REPLY, C.A_REACT, C.A_REFERRAL)}
    for j, k in enumerate(keys.tolist()):
        yield {"user_id": w.user_id(k // 100_000), "date": ymd(k % 100_000), "messages": int(counts[C.A_MESSAGE][j]),
               "replies": int(counts[C.A_REPLY][j]), "reaction": int(counts[C.A_REACT][j]),
               "socials": int(counts[C.A_REFERRAL][j])}


DATASETS: dict[str, Callable[[World], Iterable[Row]]] = {
    "users": users,
    "user_fields": lambda w: C.user_field_records(),
    "user_field_histories": lambda w: _chunks(w, np.arange(w.histories.n), render.histories),
    "gamification_daily": gamification_daily,
    "gamification_logs": lambda w: _chunks(w, np.arange(w.logs.n), render.logs),
    "activity_stats": activity_stats,
    "loyalty_overview": lambda w: [dict(r) for r in loyalty_days(w).values()],
    "redemption_orders": lambda w: _chunks(w, np.arange(w.orders.n), render.orders),
    "redemption_statuses": lambda w: [render.status(s) for s in range(len(C.STATUSES))],
    "redemption_status_history": lambda w: _chunks(w, np.arange(w.changes.n), render.status_changes),
    "purchase_histories": lambda w: _chunks(w, np.arange(w.orders.n), render.purchases),
    "store_products": render.products,
    "store_categories": lambda w: [dict(c) for c in C.CATEGORIES],
    "store_config": lambda w: [dict(C.STORE)],
    "leaderboards": lambda w: [dict(r) for r in C.LEADERBOARDS],
    "streaks": lambda w: [dict(r) for r in C.STREAKS],
    "streak_logs": lambda w: _chunks(w, streak_log_order(w), render.streak_logs),
    "tiers": lambda w: [dict(t) for t in C.TIERS],
    "tiers_xp_settings": lambda w: [copy.deepcopy(C.XP_SETTING)],  # the tiers call's `xpSetting`, one row
    "bulk_jobs": lambda w: [render.job(j) for j in w.jobs],
    "channels": lambda w: render.channels(),
    "messages": lambda w: _chunks(w, np.arange(w.messages.n), render.messages),
    "minigame_logs": lambda w: _chunks(w, np.arange(w.minigames.n), render.minigame_logs),
    "user_game_stats": minigames.all_stats,
    "webhook_events": lambda w: [dict(e) for e in w.events],
}


# datasets that may carry floats or text a client wrote: checksummed with the json module
EXACT = {"users", "user_field_histories", "loyalty_overview", "purchase_histories", "bulk_jobs", "channels",
         "webhook_events"}
# datasets whose generated rows orjson serialises like `canonical` but whose API-written rows may not
MIXED = {"messages": lambda w: w.messages["src"] == SRC_POSTED}


def rows(w: World, name: str, shown: str = "full") -> Iterable[Row]:
    """A dataset's rows, shaped as the surface `shown` serves them (simulator/surface.py)."""
    return surface.truth_rows(name, shown, DATASETS[name](w))


def summary(w: World, shown: str = "full") -> dict[str, dict[str, Any]]:
    out = {}
    for name in DATASETS:
        def compute(name: str = name) -> tuple[int, str]:
            if name in MIXED:
                return mixed_checksum(w, name, shown)
            return checksum(rows(w, name, shown), exact=name in EXACT)
        # jobs move on by themselves (wall clock), everything else changes only with the world's version
        n, cs = compute() if name == "bulk_jobs" else w.cached(f"truth:{name}:{shown}", compute)
        out[name] = {"count": n, "checksum": cs}
    return out
