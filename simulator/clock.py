"""The simulated clock moving forward: the community lives, deterministically from (seed, clock, span)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from simulator import catalog as C
from simulator import events, messaging, minigames
from simulator.generate import custom_values, earning_logs, plan_orders, running_balance, with_redemptions
from simulator.timefmt import DAY_MS, HOUR_MS, iso
from simulator.world import SRC_ADMIN, SRC_API, SRC_SYSTEM, World

MAX_HOURS = 24 * 366


def advance(w: World, hours: float) -> dict[str, object]:
    """Move the clock `hours` ahead in steps of at most a day; returns what changed."""
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= MAX_HOURS:
        raise ValueError(f"hours must be a number in (0, {MAX_HOURS}]")
    changes: Counter[str] = Counter()
    remaining = int(round(hours * HOUR_MS))
    start = w.clock_ms
    while remaining > 0:
        span = min(remaining, DAY_MS)
        _step(w, span, changes)
        remaining -= span
    keys = ["users_joined", "users_deleted", "logs", "orders_created", "order_status_changes", "field_changes",
            "streak_logs", "messages", "message_edits", "reactions", "minigame_logs", "events"]
    return {"from": iso(start), "now": iso(w.clock_ms), "hours": hours, "changes": {k: changes[k] for k in keys}}


def _step(w: World, span: int, changes: Counter[str]) -> None:
    t0, t1 = w.clock_ms, w.clock_ms + span
    frac = span / DAY_MS
    rng = np.random.default_rng([w.seed, t0, span, 424242])
    talk = np.random.default_rng([w.seed, t0, span, 515151])  # messages and games: their own stream
    u = w.users
    users0 = w.n_users
    n_live = int(np.count_nonzero(~u["deleted"]))

    # newcomers
    k = int(rng.poisson(max(2.0, n_live * 0.004) * frac))
    if k:
        joins = np.sort(rng.integers(t0 + 1, t1 + 1, k))
        n0 = w.n_users
        cols: dict[str, np.ndarray] = {
            "join_ms": joins, "first": rng.integers(0, len(C.FIRST_NAMES), k),
            "last": rng.integers(0, len(C.LAST_NAMES), k), "domain": rng.integers(0, len(C.DOMAINS), k),
            "lang": rng.integers(0, len(C.LANGUAGES), k), "role": np.zeros(k, np.int64),
            "premium": np.zeros(k, np.int64), "last_login": joins, "streak_last": np.full(k, -10),
            "rate": np.minimum(np.exp(rng.normal(-1.5, 1.0, k)), 3.0),
        }
        for f in range(len(C.CUSTOM_FIELDS)):
            cols[f"c_{C.CUSTOM_KEYS[f]}"] = custom_values(rng, f, k)
        zeros = np.zeros(k, np.int64)
        w.users.append({name: cols.get(name, zeros) for name in w.users.names})
        changes["users_joined"] += k
        assert w.n_users == n0 + k
    u = w.users

    # earning, then a few orders affordable at the moment they are placed (one per user per step)
    live = np.flatnonzero(~u["deleted"]).astype(np.int32)
    lo = np.maximum(u["join_ms"][live], t0) + 1
    lu, ts, action, xp, coins = earning_logs(rng, live, lo, np.full(len(live), t1 + 1), u["rate"][live])
    srt = np.argsort(ts, kind="stable")
    lu, ts, action, xp, coins = lu[srt], ts[srt], action[srt], xp[srt], coins[srt]
    bal = running_balance(lu, coins, u["coins"])
    n_orders = int(rng.poisson(max(2.0, n_live * 0.05 / 90) * frac))
    orders = plan_orders(rng, lu, ts, bal, n_orders, t1 + 1)
    lu, ts, action, xp, coins, _ = with_redemptions(lu, ts, action, xp, coins, orders)
    s0, l0, m0, o0 = w.streak_logs.n, w.logs.n, w.messages.n, w.orders.n
    changes["logs"] += w.append_logs(lu, ts, action, xp, coins)
    changes["streak_logs"] += w.streak_logs.n - s0
    changes["orders_created"] += w.add_orders(*orders)
    new_messages, reactions = messaging.from_logs(w, talk, l0, w.logs.n)
    changes["messages"] += new_messages
    changes["reactions"] += reactions
    changes["minigame_logs"] += minigames.from_logs(w, talk, l0, w.logs.n, t1)
    changes["events"] += events.record(w, (users0, w.n_users), (l0, w.logs.n), (m0, w.messages.n), (o0, w.orders.n))
    changes["message_edits"] += messaging.edit_recent(w, talk, new_messages, t0, t1)

    # orders move along their statuses
    OT = w.orders
    open_ = np.flatnonzero(OT["status"] <= C.S_SHIPPING)
    moving = open_[rng.random(len(open_)) < 1 - np.exp(-0.8 * frac)]
    if len(moving):
        cur = OT["status"][moving]
        nxt = np.where(cur == C.S_PENDING, C.S_PROCESSING, np.where(cur == C.S_PROCESSING, C.S_SHIPPING, C.S_COMPLETED))
        cancel = (cur == C.S_PENDING) & (rng.random(len(moving)) < 0.1)
        nxt = np.where(cancel, C.S_CANCELLED, nxt)
        lo_t = np.maximum(OT["updated"][moving], t0) + 1
        when = lo_t + (rng.random(len(moving)) * (t1 + 1 - lo_t)).astype(np.int64)
        when = np.minimum(when, t1)
        srt = np.argsort(when, kind="stable")
        by = 0 if rng.random() < 0.7 else 1
        changes["order_status_changes"] += w.change_status(moving[srt], nxt[srt], when[srt], by)

    # custom-field changes
    live_all = np.flatnonzero(~u["deleted"])
    k = int(rng.poisson(max(3.0, n_live * 0.01) * frac)) if len(live_all) else 0
    if k:
        who = rng.choice(live_all, k)
        fld = rng.integers(0, len(C.CUSTOM_FIELDS), k)
        val = np.empty(k)
        for f in range(len(C.CUSTOM_FIELDS)):
            sel = fld == f
            val[sel] = custom_values(rng, f, int(sel.sum()))
        when = np.minimum(np.maximum(rng.integers(t0 + 1, t1 + 1, k), np.maximum(u["join_ms"][who], t0) + 1), t1)
        src = rng.choice([SRC_API, SRC_ADMIN, SRC_SYSTEM], k, p=[0.6, 0.3, 0.1])
        srt = np.argsort(when, kind="stable")
        changes["field_changes"] += w.set_custom(who[srt], fld[srt], val[srt], when[srt], src[srt])

    # a few members leave
    k = min(int(rng.poisson(max(1.0, n_live * 0.0005) * frac)), len(live_all))
    if k:
        gone = rng.choice(live_all, k, replace=False)
        u["deleted"][gone] = True
        changes["users_deleted"] += k
    w.clock_ms = t1
    w.version += 1
