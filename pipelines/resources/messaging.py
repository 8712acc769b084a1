"""Channels (7.14, replaced each run) and messages (7.15, merged on `id`).

Get Messages has no page, cursor or date filter: it answers the newest `count` messages matching
`channel_id` / `user_id` / `email` (capped at `max_count`, 1000) and their `total`. So each channel
is read newest first with `count` growing (doubling) until the oldest message returned is at or
before the channel's stored high-water mark of `timestamp` less `lookback_seconds` (edits keep their
`timestamp`, so re-reading that window is how they are seen), or `total` is reached.

* The first `count` of a channel is what its last run needed (the messages at or after its new mark
  less the lookback) plus a margin, so a run with nothing new costs one request per channel. A
  channel never read starts at `max_count`: all of it is wanted.
* When `max_count` reaches below the mark (new messages) but not below the lookback, the edits of
  the rest of the lookback window are left for a later run: edits are caught within the lookback or
  the newest `max_count` messages of a channel, whichever is less.
* A channel whose new messages outnumber `max_count` (a first run of a big channel, a busy day) has a
  gap the channel filter cannot reach. The gap is read per member, newest first: every member with
  messages (users_filter `total_messages` > 0) whose `last_login` is not before the gap, filtered by
  `email` alone (one member's messages in every channel) and, for a member with more than
  `max_count` of them, by `email` and `channel_id` together (the filters combine [assumed]).
  Messages still out of reach (one member's over `max_count` in one channel) are logged as a
  warning. Registry switch `messages.member_fallback = false` turns the fallback off.
* Deleted members: the users filter no longer lists them, but Get Messages still filters by their
  `user_id` / `email`. Every deleted member the warehouse names (users flagged deleted, authors of
  held messages, gamification and mini-game log identifiers) or this run's messages name is read
  per member for the gaps, and for every channel whose `total` exceeds what the warehouse and this
  run hold together (a first run's gap: the second run reads them through the logs it loaded).
* Each channel's `total` is the server's count for pipelines/completeness.py: what stays out of
  reach is reported with its count in `returning_raw._sync_completeness` and the summary.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCase
from dlt.extract.resource import DltResource

from pipelines.completeness import NOT_HELD, Count
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_types, column_hints, empty_table
from pipelines.pagination import MISSING, dig, records_of, rows_of
from pipelines.resources.common import lookback_seconds, with_timestamps
from pipelines.shapes import iso, parse_ts, to_arrow

log = logging.getLogger(__name__)

MESSAGE_TYPES = arrow_types("messages")
NAMING = SnakeCase()
_lock = threading.Lock()


def channels_list(ctx: RunContext) -> list[dict[str, Any]]:
    """The community's channels, read once per run (the channels table and the messages walk)."""
    with _lock:
        if ctx.memo.channels is None:
            rows = rows_of(ctx.settings.endpoint("channels"), ctx.client.request_json("channels"))
            ctx.memo.channels = with_timestamps(rows)
        return ctx.memo.channels


def channels_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    @dlt.resource(**dataset.hints(), columns=column_hints("channels"))
    def channels() -> Iterator[Any]:
        ctx.tracker.start("channels")
        rows = channels_list(ctx)
        ctx.tracker.page("channels", len(rows))
        yield rows if rows else empty_table("channels")

    return channels()


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}__"))
        else:
            out[prefix + key] = value
    return out


@dataclass
class Read:
    rows: list[dict[str, Any]]
    done: bool  # every message matching the filters at or after `stop_at` is in `rows`
    oldest: datetime | None  # the oldest `timestamp` returned
    total: int | None = None  # the server's `total` of messages matching the filters


class MessageReader:
    """Newest-first reads of Get Messages with `count` growing (doubling up to `max_count`)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.ep = ep = ctx.settings.endpoint("messages")
        self.default = max(1, ep.options.default_count)
        self.max = max(self.default, ep.options.max_count)
        self.cursor = ep.name_for("cursor")

    def read(self, filters: dict[str, str], stop_at: datetime | None, first: int) -> Read:
        count = max(1, min(self.max, first))
        while True:
            payload = self.ctx.client.read_payload("messages", params={**filters, self.ep.name_for("count"): count})
            rows = records_of(self.ep, payload)
            total = dig(payload, self.ep.name_for("total"))
            self.ctx.tracker.page("messages", len(rows))
            stamps = [s for r in rows if isinstance(s := parse_ts(r.get(self.cursor)), datetime)]
            oldest = min(stamps) if stamps else None
            if isinstance(total, int) and not isinstance(total, bool):
                everything = len(rows) >= total
            else:  # no total: fewer than asked means the end
                everything, total = len(rows) < count, None
            reached = stop_at is not None and oldest is not None and oldest <= stop_at
            if everything or reached:
                return Read(rows, True, oldest, total)
            if len(rows) < count or count >= self.max:  # capped (by the server or by us): no further
                return Read(rows, False, oldest, total)
            count = min(self.max, count * 2)


def outside_window(n: int, start: datetime | None, end: datetime | None) -> str:
    """A channel's shortfall reason when a bounded run saw `n` of its messages outside its window."""
    bounds = f"[{iso(start) if start else 'the beginning'}, {iso(end) if end else 'now'})"
    return (f"{n} of its messages are outside this run's window {bounds}, so it did not load them; "
            "a run over their days, or `returning-sync sync`, loads them")


def messages_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("messages")
    lookback = timedelta(seconds=lookback_seconds(ctx, ep))
    id_f, cursor_f, channel_path = ep.name_for("id"), ep.name_for("cursor"), ep.name_for("message_channel")
    channel_f = ep.name_for("channel_id")

    @dlt.resource(**dataset.hints(),
                  columns=column_hints("messages"))
    def messages() -> Iterator[pa.Table]:
        ctx.tracker.start("messages")
        reader = MessageReader(ctx)
        bounded = ctx.backfill or ctx.end is not None
        state = dlt.current.resource_state().setdefault("channels", {})
        ids = [str(c["_id"]) for c in channels_list(ctx) if c.get("_id")]

        def plan(cid: str) -> tuple[datetime | None, datetime | None, int]:
            """(high-water mark, stop_at, first count) of one channel."""
            stored = state.get(cid) or {}
            mark = None if ctx.backfill else parse_ts(stored.get("mark"))
            if not isinstance(mark, datetime):
                return None, ctx.start, reader.max
            stop_at = mark - lookback
            if ctx.start is not None:
                stop_at = max(stop_at, ctx.start)
            need = int(stored.get("need") or 0)
            return mark, stop_at, need + max(reader.default, need // 4)

        plans = {cid: plan(cid) for cid in ids}

        def read_channel(cid: str) -> Read:
            _, stop_at, first = plans[cid]
            return reader.read({channel_f: cid}, stop_at, first)

        found: dict[str, dict[str, Any]] = {}
        gaps: dict[str, datetime | None] = {}  # channel -> stop_at of the part only members can reach
        totals: dict[str, int] = {}  # channel -> the server's `total`
        for cid, got in zip(ids, ctx.client.map_ordered(read_channel, ids), strict=True):
            mark, stop_at, _ = plans[cid]
            if got.total is not None:
                totals[cid] = got.total
            for row in got.rows:
                found[str(row.get(id_f))] = row
            if not got.done and not (mark is not None and got.oldest is not None and got.oldest < mark):
                gaps[cid] = stop_at
            newest = max((s for r in got.rows if isinstance(s := parse_ts(r.get(cursor_f)), datetime)),
                         default=mark)
            if not bounded and isinstance(newest, datetime):
                floor = newest - lookback
                need = sum(1 for r in got.rows if isinstance(s := parse_ts(r.get(cursor_f)), datetime) and s >= floor)
                state[cid] = {"mark": iso(newest), "need": need}
        # channels whose total exceeds what the warehouse and this run hold together: messages
        # older than the mark are missing (a first run's gap members deleted since could not fill)
        short = {cid: None for cid in short_channels(ctx, totals, found, id_f, channel_path) if cid not in gaps}
        reached = Reach()
        if (gaps or short) and ep.options.member_fallback:
            targets: dict[str, datetime | None] = {**gaps, **short}
            for row in member_reads(ctx, reader, gaps, targets, found.values(), reached):
                found[str(row.get(id_f))] = row
        def in_window(row: dict[str, Any]) -> bool:  # the run's window [start, end), when bounded
            s = parse_ts(row.get(cursor_f))
            return not isinstance(s, datetime) or ((ctx.start is None or s >= ctx.start)
                                                   and (ctx.end is None or s < ctx.end))

        # per channel, the messages the read saw outside a bounded run's window: it does not load them
        outside: Counter[str] = Counter(str(dig(r, channel_path)) for r in found.values() if not in_window(r))
        column = NAMING.normalize_path(channel_path.replace(".", "__"))
        for cid, total in totals.items():
            why = reached.reason(reader.max, ep.options.member_fallback) if cid in gaps or cid in short else NOT_HELD
            if why == NOT_HELD and outside[cid]:
                why = outside_window(outside[cid], ctx.start, ctx.end)
            ctx.tracker.counts.state(Count("messages", f"channel {cid}", total, f'"{column}" = ?', (cid,), why))
        rows = [flatten(r) for r in found.values() if in_window(r)]
        table = changed_only(ctx, to_arrow(rows, MESSAGE_TYPES, keys=(id_f,)), id_f) if rows else None
        if table is not None and table.num_rows:
            yield table
        elif not ctx.columns("messages"):  # a first run without messages: create the table
            yield empty_table("messages")

    return messages()


def changed_only(ctx: RunContext, table: pa.Table, key: str, batch: int = 1000) -> pa.Table:
    """The rows of `table` that the warehouse does not hold as they are (new, edited, reacted to):
    the re-read lookback window of a run with nothing new loads nothing."""
    stored_columns = ctx.columns("messages")
    if not stored_columns:
        return table
    naming = ctx.pipeline().default_schema.naming  # non-empty columns: the pipeline is running
    pairs = [(n, naming.normalize_path(n)) for n in table.column_names]
    pairs = [(n, w) for n, w in pairs if w in stored_columns]
    key_w = naming.normalize_path(key)
    if len(pairs) < table.num_columns or key_w not in stored_columns:
        return table  # a column the warehouse lacks: load everything so it is filled
    select = ", ".join(f'"{w}"' for _, w in pairs)
    ids = table.column(key).to_pylist()
    stored: dict[Any, tuple[Any, ...]] = {}
    for i in range(0, len(ids), batch):
        for row in ctx.query("messages", f'SELECT {select} FROM {{table}} WHERE "{key_w}" IN ?', (ids[i:i + batch],)):
            stored[row[[n for n, _ in pairs].index(key)]] = tuple(row)
    fresh = [tuple(r[n] for n, _ in pairs) != stored.get(r[key]) for r in table.select([n for n, _ in pairs]).to_pylist()]
    return table.filter(pa.array(fresh, type=pa.bool_()))


@dataclass
class Reach:
    """Who the per-member reads asked (for the reason a channel's shortfall gives)."""

    live: int = 0
    departed: int = 0
    unreachable: dict[str, int] = field(default_factory=dict)  # channel -> members over `max_count` in it

    def reason(self, most: int, fallback: bool) -> str:
        if not fallback:
            return (f"Get Messages returns at most {most} messages per filter and the per-member reads are off "
                    "(registry messages.member_fallback = false)")
        return (f"Get Messages returns at most {most} messages per filter; the rest were read per member "
                f"({self.live} live members, {self.departed} deleted members the warehouse or this run names); "
                "the messages still missing are those of members deleted before the warehouse saw them, "
                f"or a member's more than {most} in the channel")


def short_channels(ctx: RunContext, totals: dict[str, int], found: dict[str, dict[str, Any]], id_f: str,
                   channel_path: str) -> list[str]:
    """Channels whose `total` is more than the messages the warehouse holds and this run read."""
    naming_channel = NAMING.normalize_path(channel_path.replace(".", "__"))
    held: dict[str, int] = {}
    for cid, n in ctx.query("messages", f'SELECT "{naming_channel}", count(*) FROM {{table}} GROUP BY 1'):
        held[str(cid)] = int(n)
    read: dict[str, list[str]] = {}
    for key, row in found.items():
        read.setdefault(str(dig(row, channel_path)), []).append(key)
    out = []
    for cid, total in totals.items():
        fresh = read.get(cid, [])
        stored = 0
        for i in range(0, len(fresh), 1000):
            got = ctx.query("messages", f'SELECT count(*) FROM {{table}} WHERE "{NAMING.normalize_path(id_f)}" IN ?',
                            (fresh[i:i + 1000],))
            stored += int(got[0][0]) if got else 0
        if held.get(cid, 0) + len(fresh) - stored < total:
            out.append(cid)
    return out


def member_reads(ctx: RunContext, reader: MessageReader, gaps: dict[str, datetime | None],
                 targets: dict[str, datetime | None], read_rows: Iterable[dict[str, Any]],
                 reached: Reach) -> list[dict[str, Any]]:
    """The messages of the channels that the channel filter could not reach, read per member: the
    live members who posted for the `gaps` (the newest part past the cap), and every deleted member
    the warehouse or this run's messages name for all `targets` (the gaps and channels short of
    their total), through Get Messages' `user_id` / `email` filters."""
    ep = ctx.settings.endpoint("messages")
    email_f, user_f, channel_f = ep.name_for("email"), ep.name_for("user_id"), ep.name_for("channel_id")
    channel_path = ep.name_for("message_channel")
    members, live_ids, live_emails = posting_members(ctx, stop_of(gaps))
    if not gaps:
        members = []
    departed = departed_members(ctx, live_ids, live_emails, read_rows)
    reached.live, reached.departed = len(members), len(departed)

    def read_one(filters: dict[str, str], posted: int | None, channels: dict[str, datetime | None]
                 ) -> tuple[list[dict[str, Any]], list[str]]:
        stop_at = stop_of(channels)
        # all of it wanted: as many as the member posted (unknown: the most)
        first = (min(reader.max, posted) if posted else reader.max) if stop_at is None else reader.default
        got = reader.read(filters, stop_at, first)
        rows = [r for r in got.rows if str(dig(r, channel_path)) in channels]
        if got.done:
            return rows, []
        lost = []
        for cid, since in channels.items():
            in_channel = reader.read({**filters, channel_f: cid}, since, reader.max)
            rows.extend(in_channel.rows)
            if not in_channel.done:
                lost.append(cid)
        return rows, lost

    tasks: list[tuple[dict[str, str], int | None, dict[str, datetime | None]]] = [
        ({email_f: email}, posted, gaps) for email, posted in members]
    tasks += [({user_f: uid} if uid else {email_f: str(email)}, None, targets) for uid, email in departed]
    rows: list[dict[str, Any]] = []
    for got, lost in ctx.client.map_ordered(lambda t: read_one(*t), tasks):
        rows.extend(got)
        for cid in lost:
            reached.unreachable[cid] = reached.unreachable.get(cid, 0) + 1
    if reached.unreachable:
        log.warning("messages: in %d channel(s) some members hold more than %d messages newer than the "
                    "last run; their older ones cannot be reached through Get Messages: %s",
                    len(reached.unreachable), reader.max, ", ".join(sorted(reached.unreachable)))
    return rows


def stop_of(channels: dict[str, datetime | None]) -> datetime | None:
    starts = list(channels.values())
    return None if not starts or any(s is None for s in starts) else min(s for s in starts if s is not None)


def departed_members(ctx: RunContext, live_ids: set[str], live_emails: set[str],
                     read_rows: Iterable[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    """(user id, email) of the members the users filter no longer lists but the warehouse (users
    flagged deleted, authors of held messages, gamification and mini-game logs) or this run's
    messages name: Get Messages still filters by them."""
    ep = ctx.settings.endpoint("messages")
    user_path, email_path = ep.name_for("message_user_id"), ep.name_for("message_email")
    pairs: list[tuple[Any, Any]] = [(dig(r, user_path), dig(r, email_path)) for r in read_rows]
    col = NAMING.normalize_path
    for table_name, sql in (
        ("users", "SELECT \"_id\", email FROM {table} WHERE is_deleted"),
        ("messages", f'SELECT DISTINCT "{col(user_path.replace(".", "__"))}", '
                     f'"{col(email_path.replace(".", "__"))}" FROM {{table}}'),
        ("gamification_logs", "SELECT DISTINCT user_id, identifier FROM {table}"),
        ("minigame_logs", "SELECT DISTINCT user_id, email FROM {table}"),
    ):
        try:
            pairs += ctx.query(table_name, sql)
        except Exception as exc:  # noqa: BLE001 - a table without those columns names nobody
            log.info("messages: %s names no deleted members (%s)", table_name, exc)
    by_id: dict[str, str | None] = {}
    by_email: set[str] = set()
    for uid, email in pairs:
        uid = str(uid) if uid not in (None, "", MISSING) else None
        address = str(email).lower() if isinstance(email, str) and "@" in email else None
        if (uid and uid in live_ids) or (address and address in live_emails):
            continue
        if uid:
            by_id[uid] = by_id.get(uid) or address
        elif address:
            by_email.add(address)
    by_email -= {e for e in by_id.values() if e}
    return sorted(by_id.items()) + [(None, e) for e in sorted(by_email)]


def posting_members(ctx: RunContext, since: datetime | None
                    ) -> tuple[list[tuple[str, int | None]], set[str], set[str]]:
    """(email, total_messages) of the live members who may have posted since `since` (None: ever),
    and the ids and (lower-case) emails of every live member."""
    uf = ctx.settings.endpoint("users_filter")
    email_f, login_f, posted_f = uf.name_for("email"), uf.name_for("last_login"), uf.name_for("total_messages")
    id_f = uf.name_for("id")
    out: list[tuple[str, int | None]] = []
    ids: set[str] = set()
    emails: set[str] = set()
    for page in ctx.client.paginate("users_filter", json={uf.name_for("fields"): [uf.served(f) for f in (email_f, posted_f, login_f)]}):
        for user in page:
            email, posted, login = user.get(email_f), user.get(posted_f), parse_ts(user.get(login_f))
            if user.get(uf.name_for("is_deleted")):
                continue
            if user.get(id_f):
                ids.add(str(user[id_f]))
            if not email:
                continue
            emails.add(str(email).lower())
            if isinstance(posted, int | float) and not isinstance(posted, bool) and posted <= 0:
                continue
            if since is not None and isinstance(login, datetime) and login < since:
                continue
            out.append((str(email), int(posted) if isinstance(posted, int | float) else None))
    return out, ids, emails
