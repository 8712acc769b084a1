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
  warning; deleted members' messages in a gap are not reachable either. Registry switch
  `messages.member_fallback = false` turns the fallback off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.declared import arrow_types, column_hints, empty_table
from pipelines.errors import ContractError
from pipelines.pagination import MISSING, dig
from pipelines.resources.common import lookback_seconds, with_timestamps
from pipelines.shapes import iso, parse_ts, to_arrow
from pipelines.tables import table

log = logging.getLogger(__name__)

MESSAGE_TYPES = arrow_types("messages")
_lock = threading.Lock()


def channels_list(ctx: RunContext) -> list[dict[str, Any]]:
    """The community's channels, read once per run (the channels table and the messages walk)."""
    with _lock:
        if ctx.memo.channels is None:
            records = ctx.settings.endpoint("channels").records
            data = dig({"data": ctx.client.request_json("channels")}, records)
            if data is MISSING or not isinstance(data, list):
                raise ContractError("channels", f"response lacks the list '{records}'", missing=records)
            ctx.memo.channels = with_timestamps(r for r in data if isinstance(r, dict))
        return ctx.memo.channels


def channels_resource(ctx: RunContext) -> DltResource:
    @dlt.resource(**table("channels").hints(), columns=column_hints("channels"))
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


class MessageReader:
    """Newest-first reads of Get Messages with `count` growing (doubling up to `max_count`)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.ep = ep = ctx.settings.endpoint("messages")
        self.default = max(1, ep.default_count)
        self.max = max(self.default, ep.max_count)
        self.cursor = ep.name_for("cursor")

    def read(self, filters: dict[str, str], stop_at: datetime | None, first: int) -> Read:
        count = max(1, min(self.max, first))
        while True:
            payload = self.ctx.client.read_payload("messages", params={**filters, self.ep.name_for("count"): count})
            rows = dig(payload, self.ep.records)
            if rows is MISSING or not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ContractError("messages", f"response lacks the list '{self.ep.records}'", missing=self.ep.records)
            total = dig(payload, self.ep.name_for("total"))
            self.ctx.tracker.page("messages", len(rows))
            stamps = [s for r in rows if isinstance(s := parse_ts(r.get(self.cursor)), datetime)]
            oldest = min(stamps) if stamps else None
            if isinstance(total, int) and not isinstance(total, bool):
                everything = len(rows) >= total
            else:  # no total: fewer than asked means the end
                everything = len(rows) < count
            reached = stop_at is not None and oldest is not None and oldest <= stop_at
            if everything or reached:
                return Read(rows, True, oldest)
            if len(rows) < count or count >= self.max:  # capped (by the server or by us): no further
                return Read(rows, False, oldest)
            count = min(self.max, count * 2)


def messages_resource(ctx: RunContext) -> DltResource:
    ep = ctx.settings.endpoint("messages")
    lookback = timedelta(seconds=lookback_seconds(ctx, ep))
    channel_f, email_f, id_f = ep.name_for("channel_id"), ep.name_for("email"), ep.name_for("id")
    cursor_f = ep.name_for("cursor")

    @dlt.resource(**table("messages").hints(),
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
        for cid, got in zip(ids, ctx.client.map_ordered(read_channel, ids), strict=True):
            mark, stop_at, _ = plans[cid]
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
        if gaps and ep.member_fallback:
            for row in member_reads(ctx, reader, gaps, email_f, channel_f):
                found[str(row.get(id_f))] = row
        rows = [flatten(r) for r in found.values()]
        if ctx.start is not None or ctx.end is not None:
            rows = [r for r in rows if not isinstance(s := parse_ts(r.get(cursor_f)), datetime)
                    or ((ctx.start is None or s >= ctx.start) and (ctx.end is None or s < ctx.end))]
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


def member_reads(ctx: RunContext, reader: MessageReader, gaps: dict[str, datetime | None],
                 email_f: str, channel_f: str) -> list[dict[str, Any]]:
    """The messages of the `gaps` channels that the channel filter could not reach, read per member."""
    ep = ctx.settings.endpoint("messages")
    starts = list(gaps.values())
    stop_at = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    members = posting_members(ctx, stop_at)
    channel_path = ep.name_for("message_channel")

    def read_member(member: tuple[str, int | None]) -> tuple[list[dict[str, Any]], list[str]]:
        email, posted = member
        first = min(reader.max, posted) if stop_at is None and posted else reader.default
        got = reader.read({email_f: email}, stop_at, first)
        rows = [r for r in got.rows if str(dig(r, channel_path)) in gaps]
        if got.done:
            return rows, []
        lost = []
        for cid, since in gaps.items():
            in_channel = reader.read({email_f: email, channel_f: cid}, since, reader.max)
            rows.extend(in_channel.rows)
            if not in_channel.done:
                lost.append(cid)
        return rows, lost

    rows: list[dict[str, Any]] = []
    unreachable: dict[str, int] = {}
    for got, lost in ctx.client.map_ordered(read_member, members):
        rows.extend(got)
        for cid in lost:
            unreachable[cid] = unreachable.get(cid, 0) + 1
    if unreachable:
        log.warning("messages: in %d channel(s) some members hold more than %d messages newer than the "
                    "last run; their older ones cannot be reached through Get Messages: %s",
                    len(unreachable), reader.max, ", ".join(sorted(unreachable)))
    return rows


def posting_members(ctx: RunContext, since: datetime | None) -> list[tuple[str, int | None]]:
    """(email, total_messages) of the live members who may have posted since `since` (None: ever)."""
    uf = ctx.settings.endpoint("users_filter")
    email_f, login_f, posted_f = uf.name_for("email"), uf.name_for("last_login"), uf.name_for("total_messages")
    out: list[tuple[str, int | None]] = []
    for page in ctx.client.paginate("users_filter", json={uf.name_for("fields"): [email_f, posted_f, login_f]}):
        for user in page:
            email, posted, login = user.get(email_f), user.get(posted_f), parse_ts(user.get(login_f))
            if not email or user.get(uf.name_for("is_deleted")):
                continue
            if isinstance(posted, int | float) and not isinstance(posted, bool) and posted <= 0:
                continue
            if since is not None and isinstance(login, datetime) and login < since:
                continue
            out.append((str(email), int(posted) if isinstance(posted, int | float) else None))
    return out

