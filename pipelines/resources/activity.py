"""Gamification and activity: gamification_daily and activity_stats (fan-outs over the users of
the run's pass), gamification_logs, loyalty_overview."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.declared import empty_once, empty_table
from pipelines.resources.baseline import ACTIVITY_SIGNALS, baseline_usable, changed_users
from pipelines.resources.common import chunked, fan_out, incremental, window
from pipelines.shapes import DATE, INT, STR, TS, days, dmy, iso, parse_day, parse_ts, to_arrow
from pipelines.tables import table

DAILY_TYPES = {"identifier": STR, "user_id": STR, "date": DATE, "coins": INT, "xp": INT}
STATS_TYPES = {"user_id": STR, "date": DATE, "messages": INT, "replies": INT, "reaction": INT, "socials": INT}
LOG_TYPES = {"_id": STR, "user_id": STR, "identifier": STR, "action": STR, "xp": INT, "coins": INT,
             "balance_xp": INT, "balance_coins": INT, "createdAt": TS}


def live_users(ctx: RunContext, page: pa.Table) -> list[dict[str, Any]]:
    ep = ctx.settings.endpoint("users_filter")
    wanted = [c for c in (ep.f("id"), ep.f("email"), ep.f("join_date"), ep.f("is_deleted"), *ACTIVITY_SIGNALS)
              if c in page.column_names]
    rows = page.select(list(dict.fromkeys(wanted))).to_pylist()
    return [r for r in rows if not r.get(ep.f("is_deleted")) and r.get(ep.f("email"))]


class Span(NamedTuple):
    first: date  # the first day this resource reads this run
    last: date  # the last day it reads (the server's day, or the window's end)
    first_ever: date  # the first day a first run reads (users it has never seen)
    previous: date | None  # the last day the previous run read (None: never ran)


def day_span(ctx: RunContext, key: str, lookback: int) -> Span:
    """The days this resource reads this run. Computed once per run; moves the stored day."""
    memo_key = f"span:{key}"
    if memo_key not in ctx.memo:
        state = dlt.current.resource_state()
        today = ctx.today()
        last = today if ctx.end is None else min(today, ctx.end.date() - timedelta(days=1))
        first_ever = ctx.start.date() if ctx.start else today - timedelta(days=ctx.settings.history_days)
        first = first_ever
        stored = parse_day(state.get("last_day"))
        if stored is not None and not ctx.backfill:
            first = max(first, stored - timedelta(days=lookback)) if ctx.start else stored - timedelta(days=lookback)
        if ctx.end is None:
            state["last_day"] = last.isoformat()
        ctx.memo[memo_key] = Span(first, last, first_ever, stored)
    return ctx.memo[memo_key]


def unseen(ctx: RunContext, table: str, column: str, ids: list[str]) -> set[str]:
    """The ids without a row in the warehouse table (all of them when the table does not exist)."""
    if not ids or column not in ctx.columns(table):
        return set(ids)
    found = ctx.query(table, f"SELECT DISTINCT {column} FROM {{table}} WHERE {column} IN ?",
                      (ids,))
    return set(ids) - {row[0] for row in found}


def gamification_daily_resource(ctx: RunContext, users: DltResource) -> DltResource:
    ep = ctx.settings.endpoint("activity_daily")
    per_call = int(ep.f("max_identifiers", "100"))

    def fetch(task: tuple[date, list[str]]) -> list[dict[str, Any]]:
        day, batch = task
        body = {ep.f("identifier"): batch, ep.f("identifier_type"): "email", ep.f("date"): dmy(day)}
        rows: list[dict[str, Any]] = []
        for page in ctx.client.paginate("activity_daily", json=body):
            ctx.tracker.page("gamification_daily", len(page))
            rows.extend(page)
        return rows

    @dlt.transformer(data_from=users, **table("gamification_daily").hints())
    def gamification_daily(page: pa.Table) -> Iterator[pa.Table]:
        ctx.tracker.start("gamification_daily")
        first, last, first_ever, prev_day = day_span(ctx, "gamification_daily", ctx.settings.daily_lookback_days)
        baseline = (baseline_usable(ctx, "gamification_daily", last, ctx.settings.daily_lookback_days)
                    and prev_day is not None)
        uf = ctx.settings.endpoint("users_filter")
        live = live_users(ctx, page)
        ids = [str(u[uf.f("id")]) for u in live]
        # users never seen in the daily table get their whole history, the others the new days
        new = unseen(ctx, "gamification_daily", "user_id", ids)
        # days already loaded are re-read only for users whose xp, coins or activity moved since
        # (daily history is the per-day sum of their logs); days after them for every user
        changed = changed_users(ctx, live) if baseline else None
        people = [(str(u[uf.f("email")]), parse_day(u.get(uf.f("join_date"))), i in new,
                   changed is None or i in changed) for u, i in zip(live, ids, strict=True)]
        tasks = []
        for day in days(min(first, first_ever) if new else first, last):
            fresh = prev_day is None or day > prev_day
            emails = [email for email, joined, is_new, moved in people
                      if (joined is None or joined <= day) and (day >= first or is_new)
                      and (is_new or fresh or moved)]
            tasks.extend((day, batch) for batch in chunked(emails, per_call))
        if tasks:
            yield fan_out(ctx, fetch, tasks, DAILY_TYPES, ("user_id", "date"), "gamification_daily")
        elif (empty := empty_once(ctx.memo, "gamification_daily")) is not None:
            yield empty

    return gamification_daily


def activity_stats_resource(ctx: RunContext, users: DltResource) -> DltResource:
    ep = ctx.settings.endpoint("activity_stats")
    max_days = int(ep.f("max_days", "90"))

    def fetch(task: tuple[str, int]) -> list[dict[str, Any]]:
        email, span = task
        data = ctx.client.request_json("activity_stats", json={
            ep.f("identifier"): email, ep.f("identifier_type"): "email", ep.f("days"): span})
        ctx.tracker.page("activity_stats", 0)
        if not isinstance(data, dict):
            return []
        user_id = data.get("user_id")
        return [{"user_id": user_id, **d} for d in data.get("daily_stats") or [] if isinstance(d, dict)]

    @dlt.transformer(data_from=users, **table("activity_stats").hints())
    def activity_stats(page: pa.Table) -> Iterator[pa.Table]:
        ctx.tracker.start("activity_stats")
        state = dlt.current.resource_state()
        if "stats:prev_login" not in ctx.memo:
            ctx.memo["stats:prev_login"] = parse_ts(state.get("max_last_login"))
        prev_login = ctx.memo["stats:prev_login"]
        first, today, first_ever, prev_day = day_span(ctx, "activity_stats", ctx.settings.lookback_days)
        full = max(1, min(max_days, (today - first_ever).days + 1))
        if prev_day is None or ctx.backfill:
            span = (today - first).days + 1
        else:
            span = (today - prev_day).days + 1 + ctx.settings.lookback_days
        span = max(1, min(max_days, span))
        people = live_users(ctx, page)
        id_f = ctx.settings.endpoint("users_filter").f("id")
        new: set[str] = set()
        if baseline_usable(ctx, "activity_stats", today, ctx.settings.lookback_days) and prev_login is not None:
            people = active_since(ctx, people, prev_login)
            if "_id" in ctx.columns("users"):  # users the warehouse has never held: their whole range
                new = unseen(ctx, "users", "_id", [str(u[id_f]) for u in people])
        best = parse_ts(state.get("max_last_login"))
        for user in live_users(ctx, page):
            login = parse_ts(user.get("last_login"))
            if isinstance(login, datetime) and (not isinstance(best, datetime) or login > best):
                best = login
        if isinstance(best, datetime):
            state["max_last_login"] = iso(best)
        email_f = ctx.settings.endpoint("users_filter").f("email")
        tasks = [(str(u[email_f]), full if str(u[id_f]) in new else span) for u in people]
        if tasks:
            yield fan_out(ctx, fetch, tasks, STATS_TYPES, ("user_id", "date"), "activity_stats")
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
    id_f = ctx.settings.endpoint("users_filter").f("id")
    return [u for u in people if str(u[id_f]) in changed]


def gamification_logs_resource(ctx: RunContext) -> DltResource:
    ep = ctx.settings.endpoint("activity_logs")

    @dlt.resource(**table("gamification_logs").hints())
    def gamification_logs(
        cursor: dlt.sources.incremental[datetime] = incremental(ctx, ep),  # noqa: B008
    ) -> Iterator[pa.Table]:
        ctx.tracker.start("gamification_logs")
        start, end = window(cursor)
        body = {k: v for k, v in ((ep.f("from"), start), (ep.f("to"), end)) if v is not None}
        empty = True
        for page in ctx.client.paginate("activity_logs", json=body):
            ctx.tracker.page("gamification_logs", len(page))
            if page:
                empty = False
                yield to_arrow(page, LOG_TYPES, keys=("_id",))
        if empty:
            yield empty_table("gamification_logs")

    return gamification_logs()


def loyalty_overview_resource(ctx: RunContext) -> DltResource:
    ep = ctx.settings.endpoint("loyalty_overview")
    max_days = int(ep.f("max_days", "90"))

    @dlt.resource(**table("loyalty_overview").hints(),
                  columns={"date": {"data_type": "date"}})
    def loyalty_overview() -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start("loyalty_overview")
        first, last, _, _ = day_span(ctx, "loyalty_overview", ctx.settings.lookback_days)
        empty = True
        while first <= last:
            upto = min(last, first + timedelta(days=max_days - 1))
            data = ctx.client.request_json("loyalty_overview", params={
                ep.f("from"): first.isoformat(), ep.f("to"): upto.isoformat()})
            rows = [dict(r, date=parse_day(r.get("date"))) for r in data or [] if isinstance(r, dict)]
            ctx.tracker.page("loyalty_overview", len(rows))
            if rows:
                empty = False
                yield rows
            first = upto + timedelta(days=1)
        if empty:
            yield empty_table("loyalty_overview")

    return loyalty_overview()
