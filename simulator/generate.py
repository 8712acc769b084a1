"""Deterministic community from (seed, users): vectorised, so a million users build in seconds."""

from __future__ import annotations

import numpy as np

from simulator import catalog as C
from simulator import messaging, minigames
from simulator.timefmt import CLOCK_START_MS, DAY_MS, HISTORY_START_MS
from simulator.world import SRC_ADMIN, SRC_API, SRC_SYSTEM, World

JOIN_SPAN_BEFORE_MS = 730 * DAY_MS
OLD_SHARE = 0.65
ORDER_SHARE = 0.05
HISTORY_PER_USER = 0.6
DELETED_SHARE = 0.005


def custom_values(rng: np.random.Generator, f: int, k: int) -> np.ndarray:
    """k random values (as stored codes) for custom field f."""
    t = C.CUSTOM_FIELDS[f]["type"]
    nan = np.nan
    if t == "text":
        v = rng.integers(0, len(C.CITIES), k).astype(np.float64)
        return np.where(rng.random(k) < 0.1, nan, v)
    if t == "select":
        v = (len(C.CITIES) + rng.integers(0, len(C.GAMES), k)).astype(np.float64)
        return np.where(rng.random(k) < 0.15, nan, v)
    if t == "number":
        v = rng.integers(16, 71, k).astype(np.float64)
        return np.where(rng.random(k) < 0.2, nan, v)
    if t == "boolean":
        v = (rng.random(k) < 0.4).astype(np.float64)
        return np.where(rng.random(k) < 0.05, nan, v)
    if t == "date":
        v = rng.integers(-3650, 14000, k).astype(np.float64)  # 1960 .. 2008
        return np.where(rng.random(k) < 0.3, nan, v)
    return rng.integers(0, 5001, k).astype(np.float64)  # numerical: loyalty points, never null


def earning_logs(rng: np.random.Generator, users: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 rate_per_day: np.ndarray) -> tuple[np.ndarray, ...]:
    """Random earning events for `users` in [lo, hi): (user, ts, action, xp, coins), unsorted."""
    span = np.maximum(hi - lo, 0)
    counts = rng.poisson(rate_per_day * span / DAY_MS)
    lu = np.repeat(users, counts).astype(np.int32)
    m = len(lu)
    ts = np.repeat(lo, counts) + (rng.random(m) * np.repeat(span, counts)).astype(np.int64)
    action = rng.choice(len(C.EARN_P), m, p=C.EARN_P).astype(np.int8)
    xp = C.EARN_XP[action]
    coins = C.EARN_COINS[action]
    mg = action == C.A_MINIGAME
    xp[mg] = rng.integers(1, 21, int(mg.sum()))
    coins[mg] = rng.integers(0, 11, int(mg.sum()))
    return lu, ts, action, xp, coins


def running_balance(lu: np.ndarray, delta: np.ndarray, prior: np.ndarray,
                    grp: np.ndarray | None = None) -> np.ndarray:
    """Each user's balance after each entry of a time-sorted batch, starting from `prior`
    (`grp`: the batch's stable argsort by user, when known)."""
    if grp is None:
        grp = np.argsort(lu, kind="stable")
    cs = np.cumsum(delta[grp])
    su = lu[grp]
    starts = np.r_[True, su[1:] != su[:-1]]
    seg = np.cumsum(starts) - 1
    bal_sorted = cs - np.r_[0, cs][np.flatnonzero(starts)][seg] + prior[su]
    bal = np.empty_like(bal_sorted)
    bal[grp] = bal_sorted
    return bal


def plan_orders(rng: np.random.Generator, lu: np.ndarray, ts: np.ndarray, bal_coins: np.ndarray,
                k: int, horizon_ms: int) -> tuple[np.ndarray, ...]:
    """Pick up to k orders, at most one per user, each placed just after one of the given logs and
    affordable from the balance at that log. Returns (user, product, qty, currency, created) sorted."""
    if len(lu) == 0 or k <= 0:
        return (np.zeros(0, np.int32),) * 5
    pick = rng.choice(len(lu), size=min(k * 2, len(lu)), replace=False)
    _, first = np.unique(lu[pick], return_index=True)
    pick = pick[first][:k]
    users = lu[pick]
    bal = bal_coins[pick]
    currency = (rng.random(len(pick)) < 0.1).astype(np.int8)  # 10 % paid in premium currency
    order_p = np.argsort(C.PRODUCT_PRICES, kind="stable")
    sorted_prices = C.PRODUCT_PRICES[order_p]
    afford = np.searchsorted(sorted_prices, bal, side="right")
    afford = np.where(currency == 1, len(sorted_prices), afford)
    ok = afford > 0
    users, bal, currency, afford, pick = users[ok], bal[ok], currency[ok], afford[ok], pick[ok]
    product = order_p[(rng.random(len(pick)) * afford).astype(np.int64)]
    price = C.PRODUCT_PRICES[product]
    qty = np.where((currency == 0) & (price * 2 <= bal) & (rng.random(len(pick)) < 0.2), 2, 1)
    qty = np.where(currency == 1, rng.integers(1, 3, len(pick)), qty)
    created = np.minimum(ts[pick] + rng.integers(1_000, 120_000, len(pick)), horizon_ms - 1)
    srt = np.lexsort((users, created))
    return users[srt], product[srt], qty[srt], currency[srt], created[srt]


def with_redemptions(lu: np.ndarray, ts: np.ndarray, action: np.ndarray, xp: np.ndarray, coins: np.ndarray,
                     orders: tuple[np.ndarray, ...], grp: np.ndarray | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Merge the coin orders' `redemption` logs into a time-sorted batch of logs, keeping it sorted.
    Returns the six arrays (user, ts, action, xp, coins, grouped) where `grouped` is the merged batch's
    stable argsort by user, derived from `grp` without sorting again (None when `grp` is None)."""
    ou, op, oq, oc, ot = orders
    coin = oc == 0
    k = int(coin.sum())
    ru, rt = ou[coin].astype(np.int64), ot[coin]
    where = np.searchsorted(ts, rt, side="right")
    merged = (np.insert(lu, where, ru).astype(np.int32), np.insert(ts, where, rt),
              np.insert(action, where, np.full(k, C.A_REDEMPTION, np.int8)),
              np.insert(xp, where, np.zeros(k, np.int64)), np.insert(coins, where, -C.PRODUCT_PRICES[op[coin]] * oq[coin]))
    if grp is None:
        return (*merged, None)
    shift = np.searchsorted(where, np.arange(len(ts)), side="right")  # rows inserted at or before each old row
    old_new = grp + shift[grp]
    new_pos = where + np.arange(k)
    big = np.int64(1) << 35
    old_keys = lu[grp].astype(np.int64) * big + old_new
    red_keys = ru * big + new_pos
    srt = np.argsort(red_keys, kind="stable")
    grouped = np.insert(old_new, np.searchsorted(old_keys, red_keys[srt]), new_pos[srt])
    return (*merged, grouped)


def generate(seed: int, n: int) -> World:
    rng = np.random.default_rng([seed, n, 20260601])
    w = World(seed, CLOCK_START_MS)
    n_old = int(round(n * OLD_SHARE))
    joins = np.sort(np.r_[rng.integers(HISTORY_START_MS - JOIN_SPAN_BEFORE_MS, HISTORY_START_MS, n_old),
                          rng.integers(HISTORY_START_MS, CLOCK_START_MS, n - n_old)]).astype(np.int64)
    cols = {
        "join_ms": joins,
        "first": rng.integers(0, len(C.FIRST_NAMES), n), "last": rng.integers(0, len(C.LAST_NAMES), n),
        "domain": rng.integers(0, len(C.DOMAINS), n), "lang": rng.integers(0, len(C.LANGUAGES), n),
        "role": rng.integers(0, len(C.ROLES), n),
        "premium": np.where(rng.random(n) < 0.3, rng.integers(1, 500, n), 0),
        "last_login": joins, "streak_last": np.full(n, -10),
        "rate": np.minimum(np.exp(rng.normal(-3.5, 1.5, n)), 3.0),
    }
    for f in range(len(C.CUSTOM_FIELDS)):
        cols[f"c_{C.CUSTOM_KEYS[f]}"] = custom_values(rng, f, n)
    zeros = np.zeros(n, np.int64)
    w.users.append({k: cols.get(k, zeros) for k in w.users.names})
    users = np.arange(n, dtype=np.int32)

    # earnings: opening balances for members older than the history, then 90 days of activity
    old = np.flatnonzero(joins < HISTORY_START_MS)
    open_xp = np.maximum(1, rng.lognormal(6.0, 1.2, len(old)).astype(np.int64))
    open_coins = (open_xp * rng.uniform(0.2, 0.6, len(old))).astype(np.int64)
    lo = np.maximum(joins, HISTORY_START_MS)
    lu, ts, action, xp, coins = earning_logs(rng, users, lo, np.full(n, CLOCK_START_MS), w.users["rate"])
    lu = np.r_[old.astype(np.int32), lu]
    ts = np.r_[np.full(len(old), HISTORY_START_MS), ts]
    action = np.r_[np.full(len(old), C.A_BULK, np.int8), action]
    xp = np.r_[open_xp, xp]
    coins = np.r_[open_coins, coins]
    srt = np.argsort(ts, kind="stable")
    lu, ts, action, xp, coins = lu[srt], ts[srt], action[srt], xp[srt], coins[srt]

    # orders placed after some logs, affordable at that moment (balances before any spending)
    grp = np.argsort(lu, kind="stable")
    bal = running_balance(lu, coins, np.zeros(n, np.int64), grp)
    orders = plan_orders(rng, lu, ts, bal, int(n * ORDER_SHARE), CLOCK_START_MS)
    del bal
    lu, ts, action, xp, coins, grouped = with_redemptions(lu, ts, action, xp, coins, orders, grp)
    del grp
    w.append_logs(lu, ts, action, xp, coins, grouped)
    del lu, ts, action, xp, coins, grouped
    w.add_orders(*orders)
    progress_generated_orders(w, rng)
    conversation(w, np.random.default_rng([seed, n, 20260602]))

    # custom-field histories
    counts = rng.poisson(HISTORY_PER_USER, n)
    hu = np.repeat(users, counts)
    hts = np.repeat(lo, counts) + (rng.random(len(hu)) * np.repeat(CLOCK_START_MS - lo, counts)).astype(np.int64)
    hf = rng.integers(0, len(C.CUSTOM_FIELDS), len(hu)).astype(np.int8)
    hv = np.empty(len(hu))
    for f in range(len(C.CUSTOM_FIELDS)):
        sel = hf == f
        hv[sel] = custom_values(rng, f, int(sel.sum()))
    src = rng.choice([SRC_API, SRC_ADMIN, SRC_SYSTEM], len(hu), p=[0.6, 0.3, 0.1]).astype(np.int8)
    srt = np.argsort(hts, kind="stable")
    hu, hts, hf, hv, src = hu[srt], hts[srt], hf[srt], hv[srt], src[srt]
    # previous value = the value before each change: chain per (field, user) from the starting value
    grp = np.lexsort((np.arange(len(hu)), hu, hf))
    prev = np.empty(len(hu))
    g_hu, g_hf, g_hv = hu[grp], hf[grp], hv[grp]
    first = np.r_[True, (g_hu[1:] != g_hu[:-1]) | (g_hf[1:] != g_hf[:-1])]
    start_vals = np.empty(len(hu))
    for f in range(len(C.CUSTOM_FIELDS)):
        sel = g_hf == f
        start_vals[sel] = w.users[f"c_{C.CUSTOM_KEYS[f]}"][g_hu[sel]]
    prev_sorted = np.where(first, start_vals, np.r_[np.nan, g_hv[:-1]])
    prev[grp] = prev_sorted
    last = np.r_[first[1:], True]
    for f in range(len(C.CUSTOM_FIELDS)):
        sel = last & (g_hf == f)
        w.users[f"c_{C.CUSTOM_KEYS[f]}"][g_hu[sel]] = g_hv[sel]
    w.histories.append({"user": hu, "field": hf, "ts": hts, "prev": prev, "value": hv, "source": src})

    # a few members left the community
    dead = rng.choice(n, size=int(n * DELETED_SHARE), replace=False) if n > 1 else np.zeros(0, np.int64)
    w.users["deleted"][dead] = True
    w.version += 1
    return w


def conversation(w: World, rng: np.random.Generator) -> None:
    """Channels' welcome notes, a message per message/reply log, reactions, edits, mini-game plays (own
    random stream, so the rest of the community is the same with or without them)."""
    messaging.welcome(w)
    m0 = w.messages.n
    messaging.from_logs(w, rng, 0, w.logs.n)
    messaging.edit_own(w, rng, m0, w.messages.n, CLOCK_START_MS)
    minigames.from_logs(w, rng, 0, w.logs.n, CLOCK_START_MS)


def progress_generated_orders(w: World, rng: np.random.Generator) -> None:
    """Move generated orders through their statuses up to the clock; 10 % are cancelled."""
    m = w.orders.n
    if m == 0:
        return
    created = w.orders["created"]
    cancel = rng.random(m) < 0.1
    t = created.copy()
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    path = [C.S_PROCESSING, C.S_SHIPPING, C.S_COMPLETED]
    alive = np.ones(m, dtype=bool)
    for step, status in enumerate(path):
        t = t + (rng.exponential((step + 1) * DAY_MS, m)).astype(np.int64) + 1000
        st = np.full(m, status, np.int8)
        if step == 0:
            st[cancel] = C.S_CANCELLED
        alive &= t < CLOCK_START_MS
        if step > 0:
            alive &= ~cancel
        idx = np.flatnonzero(alive)
        rows.append((idx, st[idx], t[idx]))
    o = np.concatenate([r[0] for r in rows])
    s = np.concatenate([r[1] for r in rows])
    ts = np.concatenate([r[2] for r in rows])
    srt = np.lexsort((o, ts))
    o, s, ts = o[srt], s[srt], ts[srt]
    by = np.where(rng.random(len(o)) < 0.3, 1, 0)
    _, rev_first = np.unique(o[::-1], return_index=True)
    last = len(o) - 1 - rev_first  # the latest change of each order
    w.orders["status"][o[last]] = s[last]
    w.orders["updated"][o[last]] = ts[last]
    w.changes.append({"order": o, "status": s, "ts": ts, "by": by})
