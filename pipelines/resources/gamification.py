"""Streak logs: an event stream read by a reconciled time window.

Streak breaks can be recorded long after the day they are dated (the simulator writes `broken`
logs weeks back), beyond any lookback. So each run first asks for the count of logs before its
window and compares it with the warehouse; if they differ, late rows exist and the run re-reads
from the start. dlt's incremental cannot widen a bound window, so this resource keeps its
high-water mark in its own resource state (same half-open [start, end) semantics)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.declared import empty_table
from pipelines.shapes import INT, STR, TS, iso, parse_ts, to_arrow
from pipelines.tables import table

STREAK_LOG_TYPES = {"_id": STR, "streakId": STR, "user_id": STR, "identifier": STR, "count": INT,
                    "status": STR, "createdAt": TS}


def streak_logs_resource(ctx: RunContext) -> DltResource:
    ep = ctx.settings.endpoint("streak_logs")
    cursor_f, from_f, to_f = ep.f("cursor"), ep.f("from"), ep.f("to")

    def body(start: datetime | None, end: datetime | None) -> dict[str, str]:
        return {k: iso(v) for k, v in ((from_f, start), (to_f, end)) if v is not None}

    @dlt.resource(**table("streak_logs").hints())
    def streak_logs() -> Iterator[pa.Table]:
        ctx.tracker.start("streak_logs")
        state = dlt.current.resource_state()
        bounded = ctx.backfill or ctx.end is not None
        high = None if bounded else parse_ts(state.get("last_value"))
        start, end = ctx.start, ctx.end
        if isinstance(high, datetime):
            lookback = float(ep.f("lookback_seconds", str(ctx.settings.lookback_seconds)))
            window_start = high - timedelta(seconds=lookback)
            if ctx.start is not None:
                window_start = max(window_start, ctx.start)
            if ep.f("reconcile", "true") == "true":
                api_before = ctx.client.count("streak_logs", json=body(ctx.start, window_start))
                where = "WHERE created_at < ?" + (" AND created_at >= ?" if ctx.start else "")
                args = (window_start, ctx.start) if ctx.start else (window_start,)
                stored = ctx.query("streak_logs", "SELECT count(*) FROM {table} " + where, args)
                if not stored or stored[0][0] != api_before:
                    window_start = ctx.start  # late rows before the window: read it all again
            start = window_start
        best = high
        empty = True
        for page in ctx.client.paginate("streak_logs", json=body(start, end)):
            ctx.tracker.page("streak_logs", len(page))
            stamps = [s for r in page if isinstance(s := parse_ts(r.get(cursor_f)), datetime)]
            if stamps and (best is None or max(stamps) > best):
                best = max(stamps)
            if page:
                empty = False
                yield to_arrow(page, STREAK_LOG_TYPES, keys=("_id",))
        if empty:
            yield empty_table("streak_logs")
        if not bounded and isinstance(best, datetime):
            state["last_value"] = iso(best)

    return streak_logs()
