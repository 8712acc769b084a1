"""Mini-games: minigame_logs (7.16) and user_game_stats (7.17), fan-outs over the members of the
run's users pass, one call (or walk) per member.

Both read every live member on a first run, and afterwards only those whose activity moved since
the last run (the stored users row compared with this pass, `resources/baseline.py`, as activity
stats do; `login_streak` counts as a move for the stats, whose streaks follow it). A mini-game play
is rewarded with xp or coins (7.16: it also writes a `minigame` gamification log), so it moves the
member's row; a play that moves nothing (a loss paying nothing) is read with the member's next move.

* minigame_logs: per member `from` = the stored high-water mark of `createdAt` less
  `lookback_seconds` (none on a first run), `to` = the run's end when bounded; merged on `_id`.
  Besides the users pass, the members with a `minigame` gamification log (7.6) in that window are
  read too: deleted members' plays stay readable and the users pass no longer lists them. That
  costs one community-wide walk of the gamification logs over the window (one request on a run
  with nothing new; registry `minigame_logs.discover = false` turns it off).
* user_game_stats: one row per member, merged on `user_id`; `games` and `streaks` become the child
  tables `user_game_stats__games` and `user_game_stats__streaks` (joined on `_dlt_parent_id =
  _dlt_id`), replaced with their parent row on each merge.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, announced
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_types, column_hints, empty_once, empty_table
from pipelines.errors import ReturningError
from pipelines.resources.baseline import ACTIVITY_SIGNALS, baseline_usable, changed_users, live_users
from pipelines.resources.common import feeding, in_window, lookback_seconds
from pipelines.shapes import iso, parse_ts, to_arrow
from pipelines.skips import diagnose

notes = logging.getLogger("pipelines.users_pass")  # what the fan-outs of the users pass had to do: the summary's notes

MINIGAME_LOG_TYPES = arrow_types("minigame_logs")
STATS_SIGNALS = (*ACTIVITY_SIGNALS, "login_streak")


def _col(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "data_type": kind}


STATS_NESTED: dict[str, Any] = {
    "games": {"columns": {c["name"]: c for c in (
        _col("game", "text"), _col("plays", "bigint"), _col("wins", "bigint"),
        _col("last_played_at", "timestamp"), _col("spins_left", "bigint"))}},
    "streaks": {"columns": {c["name"]: c for c in (
        _col("streak_id", "text"), _col("current", "bigint"), _col("best", "bigint"),
        _col("last_active_at", "timestamp"))}},
}


def active_members(ctx: RunContext, resource: str, page: pa.Table, signals: tuple[str, ...]) -> list[str]:
    """Emails of the page's live members this fan-out reads: all of them unless the stored users
    table is the baseline its last run saw, then those who moved."""
    uf = ctx.settings.endpoint("users_filter")
    people = live_users(ctx, page)
    if "login_streak" in signals and "login_streak" in page.column_names:
        ids, streak_counts = page.column(uf.name_for("id")).to_pylist(), page.column("login_streak").to_pylist()
        streaks = dict(zip(ids, streak_counts, strict=True))
        for u in people:
            u["login_streak"] = streaks.get(u[uf.name_for("id")])
    if baseline_usable(ctx, resource, ctx.today(), ctx.settings.lookback_days):
        moved = changed_users(ctx, people, signals)
        if moved is not None:
            people = [u for u in people if str(u[uf.name_for("id")]) in moved]
    return [str(u[uf.name_for("email")]) for u in people]


def discover_players(ctx: RunContext, body: dict[str, str]) -> list[str]:
    """Emails of the members with a rewarded play in the window: the `minigame` gamification logs
    (7.6, community-wide, the window's `from`/`to`), deleted members included."""
    ep = ctx.settings.endpoint("minigame_logs")
    action_f, email_f, wanted = ep.name_for("log_action"), ep.name_for("log_email"), ep.name_for("log_minigame")
    logs = ctx.settings.endpoint("activity_logs")
    window = {logs.name_for(k): v for k, v in (("from", body.get(ep.name_for("from"))), ("to", body.get(ep.name_for("to"))))
              if v is not None}
    found: dict[str, None] = {}
    try:
        for page in ctx.client.paginate("activity_logs", json=window):
            for row in page:
                if row.get(action_f) == wanted and row.get(email_f):
                    found.setdefault(str(row[email_f]), None)
    except ReturningError as exc:
        # the gamification logs unavailable (what skips gamification_logs): the plays are read per
        # member of the users pass alone; minigame_logs stands or falls by its own endpoint
        skip = None if ctx.strict else diagnose(ctx.settings, "gamification_logs", exc)
        if skip is None:
            raise
        notes.warning("minigame_logs: the gamification logs are unavailable (%s); plays of members deleted "
                      "before this run are not discovered", skip.result)
        return []
    return list(found)


def minigame_logs_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("minigame_logs")
    lookback = timedelta(seconds=lookback_seconds(ctx, ep))
    cursor_f = ep.name_for("cursor")
    lock = threading.Lock()

    @dlt.transformer(data_from=feeding(dataset, built), **dataset.hints(),
                     columns=column_hints("minigame_logs"))
    def minigame_logs(page: pa.Table) -> Iterator[pa.Table]:
        ctx.tracker.start("minigame_logs")
        state = dlt.current.resource_state()
        bounded = ctx.backfill or ctx.end is not None

        def fetch(email: str) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []

            def first(payload: Any) -> None:  # the member's total in the window: summed over the members read
                total = announced(ep, payload)
                if total is not None:
                    counted = in_window(ep, body.get(ep.name_for("from")), body.get(ep.name_for("to")))
                    counted["scope"] += ", the members read"
                    ctx.tracker.counts.add(Count("minigame_logs", server_count=total, member_column="email",
                                                 members={email}, **counted))

            for got in ctx.client.paginate("minigame_logs", json={**body, ep.name_for("email"): email}, first=first):
                ctx.tracker.page("minigame_logs", len(got))
                rows.extend(got)
            return rows

        @dlt.defer
        def run(emails: list[str]) -> pa.Table | None:
            rows = [row for result in ctx.client.map_ordered(fetch, emails) for row in result]
            if not rows:
                return None
            table = to_arrow(rows, MINIGAME_LOG_TYPES, keys=("_id",))
            if not bounded and cursor_f in table.column_names:
                best = pc.max(table.column(cursor_f)).as_py()
                with lock:  # the deferred calls of every users page move one mark
                    stored = parse_ts(state.get("last_value"))
                    if isinstance(best, datetime) and (not isinstance(stored, datetime) or best > stored):
                        state["last_value"] = iso(best)
            return table

        if ctx.memo.minigame_body is None:
            mark = None if ctx.backfill else parse_ts(state.get("last_value"))
            start = mark - lookback if isinstance(mark, datetime) else None
            if ctx.start is not None:
                start = ctx.start if start is None else max(start, ctx.start)
            body = ctx.memo.minigame_body = {
                k: iso(v) for k, v in ((ep.name_for("from"), start), (ep.name_for("to"), ctx.end)) if v is not None}
            # plays after the mark (those at or before it were read with their member already)
            after = {**body, ep.name_for("from"): iso(mark + timedelta(milliseconds=1))} if isinstance(mark, datetime) else body
            players = discover_players(ctx, after) if ep.options.discover else []
            ctx.memo.minigame_players = set(players)  # set before yielding: pages interleave
            if not ctx.columns("minigame_logs"):  # a first run: the table exists even with no plays
                yield empty_table("minigame_logs")
            if players:
                yield run(players)
        body = ctx.memo.minigame_body
        players = ctx.memo.minigame_players
        emails = [e for e in active_members(ctx, "minigame_logs", page, ACTIVITY_SIGNALS) if e not in players]
        if emails:
            yield run(emails)

    return minigame_logs


def _nested_times(row: dict[str, Any]) -> dict[str, Any]:
    """ISO timestamps parsed, at the top and in the nested lists."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list):
            out[key] = [_nested_times(v) if isinstance(v, dict) else parse_ts(v) for v in value]
        elif isinstance(value, dict):
            out[key] = _nested_times(value)
        else:
            out[key] = parse_ts(value)
    return out


def user_game_stats_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    ep = ctx.settings.endpoint("minigame_stats")

    def fetch(email: str) -> list[dict[str, Any]]:
        data = ctx.client.request_json("minigame_stats", json={ep.name_for("email"): email})
        ctx.tracker.page("user_game_stats", 1 if isinstance(data, dict) else 0)
        data = ep.arrived([data])[0] if isinstance(data, dict) else data
        return [_nested_times(data)] if isinstance(data, dict) and data.get("user_id") is not None else []

    @dlt.transformer(data_from=feeding(dataset, built), **dataset.hints(),
                     columns=column_hints("user_game_stats"), nested_hints=STATS_NESTED)
    def user_game_stats(page: pa.Table) -> Iterator[Any]:
        ctx.tracker.start("user_game_stats")
        # the first users page: the declared empty table, when the warehouse has none yet
        if (empty := empty_once(ctx.memo, "user_game_stats")) is not None and not ctx.columns("user_game_stats"):
            yield empty
        emails = active_members(ctx, "user_game_stats", page, STATS_SIGNALS)

        @dlt.defer
        def run() -> list[dict[str, Any]] | None:
            rows = [row for result in ctx.client.map_ordered(fetch, emails) for row in result]
            return rows or None

        if emails:
            yield run()

    return user_game_stats
