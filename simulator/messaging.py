"""Messages (7.15): one per message/reply log, threads, reactions from react logs, edits; API posts (8.4).

Every `message` log has a top-level message and every `reply` log a reply (same member, same time); a
reply's parent is an earlier top-level message and the reply sits in its channel. Each react log adds a
reaction to a message posted in the 48 hours before it (when there is one); edits, too, touch only
messages at most 48 hours old, and never those posted through the API.
"""

from __future__ import annotations

import numpy as np

from simulator import catalog as C
from simulator.timefmt import parse_iso
from simulator.world import SRC_LOG, SRC_POSTED, SRC_WELCOME, World

REPLY_POOL = 256  # a reply answers one of the latest top-level messages (recent ones likelier)
EDIT_SHARE = 0.03  # edits per new message


def welcome(w: World) -> int:
    """Each postable channel's first message, a welcome note posted before the history (so no log)."""
    join0 = int(w.users["join_ms"][0])
    ts = np.sort(np.array([max(parse_iso(C.CHANNELS[c]["createdAt"]), join0) + 3_600_000
                           for c in C.POSTABLE_CHANNELS], dtype=np.int64))
    k = len(ts)
    w.append_messages({"user": np.zeros(k), "ts": ts, "channel": np.array(C.POSTABLE_CHANNELS),
                       "parent": np.full(k, -1), "reactions": np.zeros(k), "edited": np.zeros(k),
                       "text": np.full(k, w.welcome_code), "src": np.full(k, SRC_WELCOME)})
    return k


def from_logs(w: World, rng: np.random.Generator, a: int, b: int) -> tuple[int, int]:
    """Messages for the message/reply logs at rows [a, b), then their reactions; (messages, reactions)."""
    L, M = w.logs, w.messages
    act = L["action"][a:b]
    sel = np.flatnonzero((act == C.A_MESSAGE) | (act == C.A_REPLY))
    users, ts = L["user"][a:b][sel], L["ts"][a:b][sel]
    is_reply = act[sel] == C.A_REPLY
    del sel
    k = len(users)
    n0 = M.n
    channel = rng.choice(len(C.CHANNELS), k, p=C.CHANNEL_WEIGHTS).astype(np.int8)
    text = (w.phrase_base + rng.integers(0, len(C.MESSAGE_PHRASES), k)).astype(np.int32)
    parent = np.full(k, -1, np.int64)
    replies = np.flatnonzero(is_reply)
    if len(replies):
        tail = max(0, n0 - 20 * REPLY_POOL)
        prior = (tail + np.flatnonzero(M["parent"][tail:] == -1))[-REPLY_POOL:]
        top = np.flatnonzero(~is_reply)
        pool = np.r_[prior, n0 + top]
        pool_ts = np.r_[M["ts"][prior], ts[top]]
        before = np.searchsorted(pool_ts, ts[replies], "right")  # top-level messages at or before each reply
        ok = before > 0  # always, once the channels have their welcome notes
        back = np.minimum(rng.exponential(REPLY_POOL / 8, len(replies)).astype(np.int64), np.maximum(before - 1, 0))
        chosen = pool[np.maximum(before - 1 - back, 0)] if len(pool) else np.zeros(len(replies), np.int64)
        parent[replies[ok]] = chosen[ok]
        old = chosen < n0
        ch = np.empty(len(replies), np.int8)
        ch[old] = M["channel"][chosen[old]]
        ch[~old] = channel[chosen[~old] - n0]
        channel[replies[ok]] = ch[ok]
    w.append_messages({"user": users, "ts": ts, "channel": channel, "parent": parent, "reactions": np.zeros(k),
                       "edited": np.zeros(k), "text": text, "src": np.full(k, SRC_LOG)})
    return k, react(w, rng, L["ts"][a:b][act == C.A_REACT])


def _recent(w: World, rng: np.random.Generator, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time in `at`, a random message posted in the 48 hours before it: (which of `at`, row)."""
    mts = w.messages["ts"]
    hi = np.searchsorted(mts, at, "left")
    lo = np.searchsorted(mts, at - C.MUTABLE_WINDOW_MS, "left")
    ok = np.flatnonzero(hi > lo)
    rows = lo[ok] + (rng.random(len(ok)) * (hi[ok] - lo[ok])).astype(np.int64)
    return ok, rows


def react(w: World, rng: np.random.Generator, at: np.ndarray) -> int:
    _, rows = _recent(w, rng, at)
    if len(rows):
        target, n = np.unique(rows, return_counts=True)
        w.messages["reactions"][target] += n.astype(np.int32)
        w.version += 1
    return len(rows)


def _new_text(w: World, rng: np.random.Generator, old: np.ndarray) -> np.ndarray:
    """Another phrase than each message's current one."""
    v = len(C.MESSAGE_PHRASES)
    cur = np.clip(old - w.phrase_base, 0, v - 1)
    return (w.phrase_base + (cur + rng.integers(1, v, len(old))) % v).astype(np.int32)


def edit_own(w: World, rng: np.random.Generator, m0: int, m1: int, horizon: int) -> int:
    """Generation: a share of the messages at rows [m0, m1) were edited within 48 hours of posting."""
    M = w.messages
    rows = m0 + np.flatnonzero(rng.random(m1 - m0) < EDIT_SHARE)
    rows = rows[M["src"][rows] == SRC_LOG]
    when = M["ts"][rows] + rng.integers(60_000, C.MUTABLE_WINDOW_MS, len(rows))
    M["edited"][rows] = np.minimum(when, horizon)
    M["text"][rows] = _new_text(w, rng, M["text"][rows])
    w.version += 1
    return len(rows)


def edit_recent(w: World, rng: np.random.Generator, new_messages: int, t0: int, t1: int) -> int:
    """The clock: about EDIT_SHARE edits per new message, in (t0, t1], of messages at most 48 hours old."""
    k = int(rng.poisson(EDIT_SHARE * new_messages))
    if not k:
        return 0
    at = np.sort(rng.integers(t0 + 1, t1 + 1, k))
    which, rows = _recent(w, rng, at)
    M = w.messages
    keep = M["src"][rows] == SRC_LOG
    which, rows = which[keep], rows[keep]
    if not len(rows):
        return 0
    rev_rows = rows[::-1]  # the latest edit of a message wins
    _, last = np.unique(rev_rows, return_index=True)
    rows, when = rev_rows[last], at[which[::-1][last]]
    M["edited"][rows] = when
    M["text"][rows] = _new_text(w, rng, M["text"][rows])
    w.version += 1
    return len(rows)


def post(w: World, user: int, channel: int, text: str, parent: int = -1) -> int:
    """A message posted through the API at the simulated clock's time; returns its row."""
    one = np.ones(1, np.int64)
    return w.append_messages({"user": one * user, "ts": one * w.clock_ms, "channel": one * channel,
                              "parent": one * parent, "reactions": one * 0, "edited": one * 0,
                              "text": one * w.code(text), "src": one * SRC_POSTED})


def select(w: World, channel: int | None, user: int | None) -> np.ndarray | None:
    """Rows matching the filters, oldest first (None: every row)."""
    if channel is None and user is None:
        return None
    if user is None:
        return w.messages_by_channel.positions(channel or 0, len(C.CHANNELS))
    rows = w.messages_by_user.positions(user, w.n_users)
    if channel is not None:
        rows = rows[w.messages["channel"][rows] == channel]
    return rows
