"""The simulated community's state (columnar) and the few operations that change it consistently.

Every change to xp or coins goes through `append_logs`, so a user's totals always equal the sum of
their logs, balances are running totals, and daily history is the per-day sum of logs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import objectid
from simulator.columns import GroupIndex, Table
from simulator.timefmt import DAY_MS, HISTORY_START_MS, ymd

SOURCES = ["api", "admin", "bulk", "system"]
SRC_API, SRC_ADMIN, SRC_BULK, SRC_SYSTEM = range(4)
CHANGED_BY = ["system", "admin", "api"]
CURRENCIES = ["coins", "premium"]

USER_COLUMNS: dict[str, str] = {
    "join_ms": "i8", "first": "i2", "last": "i2", "domain": "i1", "lang": "i1", "role": "i1",
    "premium": "i8", "xp": "i8", "coins": "i8", "n_message": "i4", "n_reply": "i4", "n_react": "i4",
    "n_visit": "i4", "n_referral": "i4", "last_login": "i8", "streak_len": "i4", "streak_last": "i4",
    "deleted": "?", "rate": "f4", "streak_best": "i4", "streak_at": "i8", **{f"c_{k}": "f8" for k in C.CUSTOM_KEYS},
}
LOG_COLUMNS = {"user": "i4", "ts": "i8", "action": "i1", "xp": "i8", "coins": "i8", "bal_xp": "i8", "bal_coins": "i8"}
HISTORY_COLUMNS = {"user": "i4", "field": "i1", "ts": "i8", "prev": "f8", "value": "f8", "source": "i1"}
ORDER_COLUMNS = {"user": "i4", "product": "i2", "qty": "i2", "price": "i8", "currency": "i1",
                 "created": "i8", "updated": "i8", "status": "i1", "day_seq": "i4"}
CHANGE_COLUMNS = {"order": "i4", "status": "i1", "ts": "i8", "by": "i1"}
STREAK_LOG_COLUMNS = {"user": "i4", "count": "i4", "status": "i1", "ts": "i8"}
# parent: row of the message replied to (-1: none); edited: ms of the last edit (0: never); text: string code;
# src: how it was posted (generated from a log, through the API, or the channel's welcome note)
MESSAGE_COLUMNS = {"user": "i4", "ts": "i8", "channel": "i1", "parent": "i4", "reactions": "i4", "edited": "i8",
                   "text": "i4", "src": "i1"}
SRC_LOG, SRC_POSTED, SRC_WELCOME = range(3)
MINIGAME_COLUMNS = {"user": "i4", "ts": "i8", "game": "i1", "outcome": "i1", "xp": "i4", "coins": "i4"}
ACTIVE_ACTIONS = (C.A_MESSAGE, C.A_REPLY, C.A_REACT, C.A_VISIT)


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower().replace("ł", "l"))


FIRST_ASCII = [_ascii(n) for n in C.FIRST_NAMES]
LAST_ASCII = [_ascii(n) for n in C.LAST_NAMES]
_EMAIL_RE = re.compile(r"^[a-z]+\.[a-z]+(\d+)@")
_USERNAME_RE = re.compile(r"^[a-z]+?(\d+)$")


@dataclass
class Job:
    job_id: str
    kind: str  # "users" | "premium_currency"
    file_name: str
    created_ms: int
    wall_created: float
    raw: bytes
    status: str = "queued"
    started_ms: int | None = None
    finished_ms: int | None = None
    total_rows: int = 0
    processed_rows: int = 0
    success_rows: int = 0
    failed_rows: int = 0
    error: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)


class World:
    def __init__(self, seed: int, clock_ms: int) -> None:
        self.seed = seed
        self.clock_ms = clock_ms
        self.users = Table(USER_COLUMNS)
        self.logs = Table(LOG_COLUMNS)
        self.histories = Table(HISTORY_COLUMNS)
        self.orders = Table(ORDER_COLUMNS)
        self.changes = Table(CHANGE_COLUMNS)
        self.streak_logs = Table(STREAK_LOG_COLUMNS)
        self.messages = Table(MESSAGE_COLUMNS)
        self.minigames = Table(MINIGAME_COLUMNS)
        self.messages_by_user = GroupIndex(self.messages, "user")
        self.messages_by_channel = GroupIndex(self.messages, "channel")
        self.minigames_by_user = GroupIndex(self.minigames, "user")
        self.events: list[dict[str, Any]] = []  # outgoing webhook events (contract 9), every one generated
        self.record_events = False  # from a receiver's registration on
        self.strings: list[str] = []
        self.string_codes: dict[str, int] = {}
        self.overrides: dict[tuple[str, int], str] = {}  # (platform field, user) -> text
        self.tier_override: dict[int, str] = {}
        self.tids: list[str] = []
        self.tid_index: dict[str, int] = {}
        self.day_order_count: dict[int, int] = {}
        self.purchase_overrides: dict[int, dict[str, Any]] = {}
        self.jobs: list[Job] = []
        self.version = 0
        self._log_index: tuple[int, np.ndarray, np.ndarray] | None = None
        self._cache: dict[str, tuple[int, Any]] = {}
        for s in C.CITIES + C.GAMES:
            self.code(s)
        self.phrase_base = len(self.strings)  # message phrases: codes phrase_base .. + len(MESSAGE_PHRASES)
        for s in C.MESSAGE_PHRASES:
            self.code(s)
        self.welcome_code = self.code(C.WELCOME_TEXT)

    # ---- strings ---------------------------------------------------------------------------------
    def code(self, text: str) -> int:
        c = self.string_codes.get(text)
        if c is None:
            c = len(self.strings)
            self.strings.append(text)
            self.string_codes[text] = c
        return c

    # ---- users -----------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return self.users.n

    def user_id(self, i: int) -> str:
        return objectid.make(int(self.users["join_ms"][i]), objectid.TAG_USER, i)

    def email(self, i: int) -> str:
        u = self.users
        return (f"{FIRST_ASCII[u['first'][i]]}.{LAST_ASCII[u['last'][i]]}{i}"
                f"@{C.DOMAINS[u['domain'][i]]}")

    def find_email(self, email: object, include_deleted: bool = False) -> int | None:
        if not isinstance(email, str):
            return None
        e = email.strip().lower()
        m = _EMAIL_RE.match(e)
        if not m:
            return None
        i = int(m.group(1))
        if i >= self.n_users or self.email(i) != e:
            return None
        if not include_deleted and self.users["deleted"][i]:
            return None
        return i

    def find_username(self, name: object, include_deleted: bool = False) -> int | None:
        """Index of a user by username (case-insensitive), bulk-updated usernames included."""
        if not isinstance(name, str) or not name.strip():
            return None
        s = name.strip().lower()
        hit: int | None = None
        m = _USERNAME_RE.match(s)
        if m and int(m.group(1)) < self.n_users and self.text_field("username", int(m.group(1))).lower() == s:
            hit = int(m.group(1))
        if hit is None and self.overrides:
            hit = next((i for (f, i), v in self.overrides.items() if f == "username" and v.lower() == s), None)
        if hit is None or (not include_deleted and self.users["deleted"][hit]):
            return None
        return hit

    def find_member(self, sender: object) -> int | None:
        """A live member named by email or username (as Send Message's `sender`)."""
        if isinstance(sender, str) and "@" in sender:
            return self.find_email(sender)
        return self.find_username(sender)

    def find_user_id(self, uid: str, include_deleted: bool = False) -> int | None:
        """Index of a user by `_id` (caller has checked it is a well-formed ObjectId)."""
        i = objectid.seq_of(uid, objectid.TAG_USER)
        if i is None or i >= self.n_users or self.user_id(i) != uid:
            return None
        if not include_deleted and self.users["deleted"][i]:
            return None
        return i

    def text_field(self, name: str, i: int) -> str:
        o = self.overrides.get((name, i))
        if o is not None:
            return o
        u = self.users
        first, last = C.FIRST_NAMES[u["first"][i]], C.LAST_NAMES[u["last"][i]]
        if name == "first_name":
            return first
        if name == "last_name":
            return last
        if name == "username":
            return f"{FIRST_ASCII[u['first'][i]]}{LAST_ASCII[u['last'][i]]}{i}"
        if name == "display_name":
            return f"{first} {last}"
        if name == "language":
            return C.LANGUAGES[u["lang"][i]]
        raise KeyError(name)

    # ---- logs ------------------------------------------------------------------------------------
    def log_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions grouped by user in time order, offsets per user)."""
        n = self.logs.n
        cached = self._log_index
        if cached is not None and cached[0] == n and len(cached[2]) == self.n_users + 1:
            return cached[1], cached[2]
        if cached is None or cached[0] > n:
            order = np.argsort(self.logs["user"], kind="stable").astype(np.int64)
        else:  # logs were appended: slot the new positions in after each user's old ones, no full sort
            n0, old_order, old_off = cached
            new_users = self.logs["user"][n0:n]
            srt = np.argsort(new_users, kind="stable")
            pad = self.n_users + 1 - len(old_off)
            if pad > 0:
                old_off = np.r_[old_off, np.full(pad, old_off[-1])]
            order = np.insert(old_order, old_off[new_users[srt].astype(np.int64) + 1], np.arange(n0, n)[srt])
        self._log_index = (n, order, self._log_offsets())
        return order, self._log_index[2]

    def _log_offsets(self) -> np.ndarray:
        counts = np.bincount(self.logs["user"], minlength=self.n_users)
        return np.r_[0, np.cumsum(counts)].astype(np.int64)

    def user_logs(self, i: int) -> np.ndarray:
        order, offsets = self.log_index()
        return order[offsets[i]: offsets[i + 1]]

    def append_logs(self, users: np.ndarray, ts: np.ndarray, action: np.ndarray, xp: np.ndarray,
                    coins: np.ndarray, order: np.ndarray | None = None) -> int:
        """Append log entries (ts sorted, none earlier than the last stored) and update every aggregate.
        `order`, when the caller has it, is `argsort(users, kind="stable")` of the batch."""
        m = len(users)
        if m == 0:
            return 0
        users = np.asarray(users, dtype=np.int32)
        ts = np.asarray(ts, dtype=np.int64)
        action = np.asarray(action, dtype=np.int8)
        xp = np.asarray(xp, dtype=np.int64)
        coins = np.asarray(coins, dtype=np.int64)
        u = self.users
        if order is None:
            order = np.argsort(users, kind="stable")
        su = users[order]
        boundary = np.r_[False, su[1:] != su[:-1]]
        starts = np.r_[0, np.flatnonzero(boundary)]
        seg = np.cumsum(boundary, dtype=np.int64)  # user segment of each sorted row
        del boundary
        bal = {}
        for name, delta in (("xp", xp), ("coins", coins)):
            running = np.cumsum(delta[order])
            before = np.r_[0, running][starts]
            running -= before[seg]
            running += u[name][su]
            out = np.empty(m, dtype=np.int64)
            out[order] = running
            del running
            bal[name] = out
            u[name][:] += np.bincount(users, weights=delta, minlength=self.n_users).astype(np.int64)
        del seg, su
        first_pos = self.logs.n
        self.logs.append({"user": users, "ts": ts, "action": action, "xp": xp, "coins": coins,
                          "bal_xp": bal["xp"], "bal_coins": bal["coins"]})
        for col, a in (("n_message", C.A_MESSAGE), ("n_reply", C.A_REPLY), ("n_react", C.A_REACT),
                       ("n_visit", C.A_VISIT), ("n_referral", C.A_REFERRAL)):
            sel = action == a
            if sel.any():
                u[col][:] += np.bincount(users[sel], minlength=self.n_users).astype(np.int32)
        active = np.isin(action, ACTIVE_ACTIONS)
        if active.any():
            np.maximum.at(u["last_login"], users[active], ts[active])
        visits = order[action[order] == C.A_VISIT]  # grouped by user, in time order
        if len(visits):
            self._streaks(users[visits], ts[visits])
        if first_pos == 0:
            self._log_index = (m, order.astype(np.int64), self._log_offsets())
        self.version += 1
        return m

    def _streaks(self, users: np.ndarray, ts: np.ndarray) -> None:
        """Daily-visit streak state and streak logs from a batch of visits sorted by (user, time)."""
        u = self.users
        keys = users.astype(np.int64) * 1_000_000 + ts // DAY_MS
        first = np.r_[True, keys[1:] != keys[:-1]]
        keys_u = keys[first]
        pu = (keys_u // 1_000_000).astype(np.int64)
        pd = keys_u % 1_000_000
        pts = ts[first]  # the day's first visit
        prior_last = u["streak_last"][pu].astype(np.int64)
        prior_len = u["streak_len"][pu].astype(np.int64)
        keep = pd != prior_last  # that day's visit already counted
        pu, pd, pts, prior_last, prior_len = pu[keep], pd[keep], pts[keep], prior_last[keep], prior_len[keep]
        k = len(pu)
        if k == 0:
            return
        first_of_user = np.r_[True, pu[1:] != pu[:-1]]
        prev_day = np.r_[-10, pd[:-1]]
        continuing_prior = first_of_user & (prior_len > 0) & (pd == prior_last + 1)
        seg_start = first_of_user | (pd != prev_day + 1)
        seg = np.cumsum(seg_start) - 1
        seg_first = np.flatnonzero(seg_start)
        offset = np.where(continuing_prior[seg_first], prior_len[seg_first], 0)
        pos = np.arange(k) - seg_first[seg] + 1 + offset[seg]
        status = np.where(pos > 1, 1, 0)
        # a new run after an earlier one: the earlier run broke at the end of its first missed day
        prev_len = np.where(first_of_user, prior_len, np.r_[0, pos[:-1]])
        prev_last = np.where(first_of_user, prior_last, prev_day)
        broken = seg_start & ~continuing_prior & (prev_len > 0)
        b_ts = (prev_last[broken] + 2) * DAY_MS
        rows_user = np.r_[pu, pu[broken]]
        rows_count = np.r_[pos, prev_len[broken]]
        rows_status = np.r_[status, np.full(int(broken.sum()), 2)]
        rows_ts = np.r_[pts, b_ts]
        srt = np.lexsort((rows_user, rows_ts))
        self.streak_logs.append({"user": rows_user[srt], "count": rows_count[srt],
                                 "status": rows_status[srt], "ts": rows_ts[srt]})
        last_of_user = np.r_[pu[1:] != pu[:-1], True]
        u["streak_len"][pu[last_of_user]] = pos[last_of_user]
        u["streak_last"][pu[last_of_user]] = pd[last_of_user]
        u["streak_at"][pu[last_of_user]] = pts[last_of_user]
        np.maximum.at(u["streak_best"], pu, pos.astype(np.int32))

    def login_streak(self, i: int) -> int:
        last = int(self.users["streak_last"][i])
        return int(self.users["streak_len"][i]) if last >= self.clock_ms // DAY_MS - 1 else 0

    # ---- messages and mini-games -------------------------------------------------------------------
    def append_messages(self, cols: dict[str, np.ndarray]) -> int:
        """Append messages (ts sorted, none earlier than the last stored); returns the first new row."""
        start = self.messages.append(cols)
        self.version += 1
        return start

    def message_id(self, row: int) -> str:
        return objectid.make(int(self.messages["ts"][row]), objectid.TAG_MESSAGE, row)

    def find_message(self, mid: str) -> int | None:
        row = objectid.seq_of(mid, objectid.TAG_MESSAGE)
        if row is None or row >= self.messages.n or self.message_id(row) != mid:
            return None
        return row

    # ---- custom fields ---------------------------------------------------------------------------
    def set_custom(self, users: np.ndarray, fields: np.ndarray, values: np.ndarray, ts: np.ndarray,
                   sources: np.ndarray) -> int:
        """Change custom field values (ts sorted, after every stored history), recording histories."""
        m = len(users)
        if m == 0:
            return 0
        prev = np.empty(m, dtype=np.float64)
        for j in range(m):  # sequential: two changes of one (user, field) chain their previous values
            col = self.users[f"c_{C.CUSTOM_KEYS[fields[j]]}"]
            prev[j] = col[users[j]]
            col[users[j]] = values[j]
        self.histories.append({"user": users, "field": fields, "ts": ts, "prev": prev, "value": values,
                               "source": sources})
        self.version += 1
        return m

    def custom_value(self, f: int, code: float) -> Any:
        if code != code:  # NaN
            return None
        t = C.CUSTOM_FIELDS[f]["type"]
        if t in ("text", "select", "single-line-text", "multi-line-text"):
            return self.strings[int(code)]
        if t in C.NUMERIC_TYPES:
            return int(code) if float(code).is_integer() else float(code)
        if t == "boolean":
            return bool(code)
        if t == "date":
            return ymd(int(code))
        return code

    # ---- orders ----------------------------------------------------------------------------------
    def tid(self, o: int) -> str:
        return self.tids[o]

    def add_orders(self, users: np.ndarray, products: np.ndarray, qty: np.ndarray, currency: np.ndarray,
                   created: np.ndarray) -> int:
        """New orders (created sorted) in status Pending; coin orders write a `redemption` log each."""
        m = len(users)
        if m == 0:
            return 0
        start = self.orders.n
        price = C.PRODUCT_PRICES[products]
        day_seq = np.zeros(m, dtype=np.int32)
        for j in range(m):
            d = int(created[j]) // DAY_MS
            s = self.day_order_count.get(d, 0) + 1
            self.day_order_count[d] = s
            day_seq[j] = s
            t = "ORD" + ymd(d).replace("-", "") + f"{s:04d}"
            self.tid_index[t] = start + j
            self.tids.append(t)
        self.orders.append({"user": users, "product": products, "qty": qty, "price": price,
                            "currency": currency, "created": created, "updated": created,
                            "status": np.zeros(m), "day_seq": day_seq})
        self.changes.append({"order": np.arange(start, start + m), "status": np.zeros(m), "ts": created,
                             "by": np.zeros(m)})
        self.version += 1
        return m

    def change_status(self, orders: np.ndarray, statuses: np.ndarray, ts: np.ndarray, by: int) -> int:
        m = len(orders)
        if m == 0:
            return 0
        self.orders["status"][orders] = statuses
        self.orders["updated"][orders] = ts
        self.changes.append({"order": orders, "status": statuses, "ts": ts, "by": np.full(m, by)})
        self.version += 1
        return m

    # ---- caches ----------------------------------------------------------------------------------
    def cached(self, name: str, build: Any) -> Any:
        hit = self._cache.get(name)
        key = hash((self.version, self.logs.n, self.users.n, self.clock_ms // DAY_MS))
        if hit is None or hit[0] != key:
            if len(self._cache) > 64:
                self._cache = {k: v for k, v in self._cache.items() if not k.startswith(("mask:", "matching:"))}
            hit = (key, build())
            self._cache[name] = hit
        return hit[1]

    @property
    def history_start_day(self) -> int:
        return HISTORY_START_MS // DAY_MS

    @property
    def clock_day(self) -> int:
        return self.clock_ms // DAY_MS
