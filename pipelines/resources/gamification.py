"""Gamification: the daily history (gamification_daily, a fan-out over the users of the run's
pass), the gamification logs and the streak logs.

Streak logs are read by a reconciled time window: streak breaks can be recorded long after the day
they are dated (the simulator writes `broken` logs weeks back), beyond any lookback. So each run
first asks for the count of logs before its window and compares it with the warehouse; if they
differ, late rows exist and the run re-reads from the start. dlt's incremental cannot widen a bound
window, so that resource keeps its high-water mark in its own resource state (same half-open
[start, end) semantics)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, number_at
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_types, empty_once, empty_table
from pipelines.resources.baseline import baseline_usable, changed_users, live_users, unseen
from pipelines.resources.common import (
    chunked,
    day_span,
    fan_out,
    feeding,
    incremental,
    lookback_seconds,
    or_empty,
    tracked,
    window,
    window_count,
)
from pipelines.shapes import days, dmy, iso, parse_day, parse_ts, to_arrow

LOG_TYPES = arrow_types("gamification_logs")
STREAK_LOG_TYPES = arrow_types("streak_logs")


def gamification_daily_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("activity_daily")
    per_call = ep.options.max_identifiers

    def fetch(task: tuple[date, list[str]]) -> list[dict[str, Any]]:
        day, batch = task
        body = {ep.name_for("identifier"): batch, ep.name_for("identifier_type"): "email", ep.name_for("date"): dmy(day)}
        rows: list[dict[str, Any]] = []

        def first(payload: Any) -> None:  # `found`: the identifiers matched, one row each that day
            found = number_at(payload, f"{getattr(ep.pagination, 'block', 'data.pagination')}.found")
            if found is not None:
                ctx.tracker.counts.add(Count("gamification_daily", f"day {day.isoformat()}", found, "date = ?",
                                             (day,), reason="members daily history found that day have no row"))

        for page in ctx.client.paginate("activity_daily", json=body, first=first):
            ctx.tracker.page("gamification_daily", len(page))
            rows.extend(page)
        return rows

    @dlt.transformer(data_from=feeding(dataset, built), **dataset.hints())
    def gamification_daily(page: pa.Table) -> Iterator[pa.Table]:
        ctx.tracker.start("gamification_daily")
        first, last, first_ever, prev_day = day_span(ctx, "gamification_daily", ctx.settings.daily_lookback_days)
        baseline = (baseline_usable(ctx, "gamification_daily", last, ctx.settings.daily_lookback_days)
                    and prev_day is not None)
        uf = ctx.settings.endpoint("users_filter")
        live = live_users(ctx, page)
        ids = [str(u[uf.name_for("id")]) for u in live]
        # users never seen in the daily table get their whole history, the others the new days
        new = unseen(ctx, "gamification_daily", "user_id", ids)
        # days already loaded are re-read only for users whose xp, coins or activity moved since
        # (daily history is the per-day sum of their logs); days after them for every user
        changed = changed_users(ctx, live) if baseline else None
        people = [(str(u[uf.name_for("email")]), parse_day(u.get(uf.name_for("join_date"))), i in new,
                   changed is None or i in changed) for u, i in zip(live, ids, strict=True)]
        tasks = []
        for day in days(min(first, first_ever) if new else first, last):
            fresh = prev_day is None or day > prev_day
            emails = [email for email, joined, is_new, moved in people
                      if (joined is None or joined <= day) and (day >= first or is_new)
                      and (is_new or fresh or moved)]
            tasks.extend((day, batch) for batch in chunked(emails, per_call))
        if tasks:
            yield fan_out(ctx, fetch, tasks, "gamification_daily")
        elif (empty := empty_once(ctx.memo, "gamification_daily")) is not None:
            yield empty

    return gamification_daily


def gamification_logs_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("activity_logs")

    @dlt.resource(**dataset.hints())
    def gamification_logs(
        cursor: dlt.sources.incremental[datetime] = incremental(ctx, ep),  # noqa: B008
    ) -> Iterator[pa.Table]:
        ctx.tracker.start("gamification_logs")
        start, end = window(cursor)
        body = {k: v for k, v in ((ep.name_for("from"), start), (ep.name_for("to"), end)) if v is not None}
        first = window_count(ctx, ep, "gamification_logs", start, end)
        pages = tracked(ctx, "gamification_logs", ctx.client.paginate("activity_logs", json=body, first=first))
        yield from or_empty("gamification_logs", (to_arrow(page, LOG_TYPES, keys=("_id",)) for page in pages))

    return gamification_logs()



def streak_logs_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("streak_logs")
    cursor_f, from_f, to_f = ep.name_for("cursor"), ep.name_for("from"), ep.name_for("to")

    def body(start: datetime | None, end: datetime | None) -> dict[str, str]:
        return {k: iso(v) for k, v in ((from_f, start), (to_f, end)) if v is not None}

    @dlt.resource(**dataset.hints())
    def streak_logs() -> Iterator[pa.Table]:
        ctx.tracker.start("streak_logs")
        state = dlt.current.resource_state()
        bounded = ctx.backfill or ctx.end is not None
        high = None if bounded else parse_ts(state.get("last_value"))
        start, end = ctx.start, ctx.end
        if isinstance(high, datetime):
            lookback = lookback_seconds(ctx, ep)
            window_start = high - timedelta(seconds=lookback)
            if ctx.start is not None:
                window_start = max(window_start, ctx.start)
            if ep.options.reconcile:
                api_before = ctx.client.count("streak_logs", json=body(ctx.start, window_start))
                where = "WHERE created_at < ?" + (" AND created_at >= ?" if ctx.start else "")
                args = (window_start, ctx.start) if ctx.start else (window_start,)
                stored = ctx.query("streak_logs", "SELECT count(*) FROM {table} " + where, args)
                if not stored or stored[0][0] != api_before:
                    window_start = ctx.start  # late rows before the window: read it all again
            start = window_start
        best = high
        empty = True
        first = window_count(ctx, ep, "streak_logs", iso(start) if start else None, iso(end) if end else None)
        for page in ctx.client.paginate("streak_logs", json=body(start, end), first=first):
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
