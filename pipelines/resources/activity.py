"""Activity: activity_stats (a fan-out over the members of the run's pass who moved) and the
community's daily loyalty_overview."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import column_hints, empty_once, empty_table
from pipelines.resources.baseline import baseline_usable, changed_users, live_users, unseen
from pipelines.resources.common import day_span, fan_out, feeding
from pipelines.shapes import iso, parse_day, parse_ts


def activity_stats_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("activity_stats")
    max_days = ep.options.max_days

    def fetch(task: tuple[str, int]) -> list[dict[str, Any]]:
        email, span = task
        data = ctx.client.request_json("activity_stats", json={
            ep.name_for("identifier"): email, ep.name_for("identifier_type"): "email", ep.name_for("days"): span})
        if not isinstance(data, dict):
            ctx.tracker.page("activity_stats", 0)
            return []
        data = ep.arrived([data])[0]
        user_id = data.get("user_id")
        days = [d for d in data.get("daily_stats") or [] if isinstance(d, dict)]
        rows = [{"user_id": user_id, **d} for d in (ep.arrived(days) if ep.record_names else days)]
        ctx.tracker.page("activity_stats", len(rows))  # counted as produced: the progress lines show them
        return rows

    @dlt.transformer(data_from=feeding(dataset, built), **dataset.hints())
    def activity_stats(page: pa.Table) -> Iterator[pa.Table]:
        ctx.tracker.start("activity_stats")
        state = dlt.current.resource_state()
        if not ctx.memo.stats_prev_login_read:
            found = parse_ts(state.get("max_last_login"))
            ctx.memo.stats_prev_login = found if isinstance(found, datetime) else None
            ctx.memo.stats_prev_login_read = True
        prev_login = ctx.memo.stats_prev_login
        first, today, first_ever, prev_day = day_span(ctx, "activity_stats", ctx.settings.lookback_days)
        full = max(1, min(max_days, (today - first_ever).days + 1))
        if prev_day is None or ctx.backfill:
            span = (today - first).days + 1
        else:
            span = (today - prev_day).days + 1 + ctx.settings.lookback_days
        span = max(1, min(max_days, span))
        live = live_users(ctx, page)
        people = live
        id_f = ctx.settings.endpoint("users_filter").name_for("id")
        new: set[str] = set()
        if baseline_usable(ctx, "activity_stats", today, ctx.settings.lookback_days) and prev_login is not None:
            people = active_since(ctx, people, prev_login)
            if "_id" in ctx.columns("users"):  # users the warehouse has never held: their whole range
                new = unseen(ctx, "users", "_id", [str(u[id_f]) for u in people])
        best = parse_ts(state.get("max_last_login"))
        for user in live:
            login = parse_ts(user.get("last_login"))
            if isinstance(login, datetime) and (not isinstance(best, datetime) or login > best):
                best = login
        if isinstance(best, datetime):
            state["max_last_login"] = iso(best)
        email_f = ctx.settings.endpoint("users_filter").name_for("email")
        tasks = [(str(u[email_f]), full if str(u[id_f]) in new else span) for u in people]
        if tasks:
            yield fan_out(ctx, fetch, tasks, "activity_stats")
        elif (empty := empty_once(ctx.memo, "activity_stats")) is not None:
            yield empty

    return activity_stats


def active_since(ctx: RunContext, people: list[dict[str, Any]], prev_login: datetime) -> list[dict[str, Any]]:
    """Users whose activity moved since the last run: compared with the stored users row
    (last login, xp, coins, message/reaction/visit counters), new users included. Without a
    stored users table, users who logged in since the last run's latest login (less the lookback)."""
    changed = changed_users(ctx, people)
    if changed is None:
        cutoff = prev_login - timedelta(seconds=ctx.settings.lookback_seconds)
        return [u for u in people if not isinstance(login := parse_ts(u.get("last_login")), datetime)
                or login >= cutoff]
    id_f = ctx.settings.endpoint("users_filter").name_for("id")
    return [u for u in people if str(u[id_f]) in changed]


def loyalty_overview_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("loyalty_overview")
    max_days = ep.options.max_days

    @dlt.resource(**dataset.hints(), columns=column_hints("loyalty_overview"))
    def loyalty_overview() -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start("loyalty_overview")
        first, last, _, _ = day_span(ctx, "loyalty_overview", ctx.settings.lookback_days)
        empty = True
        while first <= last:
            upto = min(last, first + timedelta(days=max_days - 1))
            data = ctx.client.request_json("loyalty_overview", params={
                ep.name_for("from"): first.isoformat(), ep.name_for("to"): upto.isoformat()})
            rows = [dict(r, date=parse_day(r.get("date")))
                    for r in ep.arrived([dict(r) for r in data or [] if isinstance(r, dict)])]
            ctx.tracker.page("loyalty_overview", len(rows))
            if rows:
                empty = False
                yield rows
            first = upto + timedelta(days=1)
        if empty:
            yield empty_table("loyalty_overview")

    return loyalty_overview()
