"""Which users a per-user fan-out reads: the live ones of a users page, those the warehouse has
never held, and those who changed since the fan-out's last run, judged against the stored users table.

Per-user fan-outs (daily history, activity stats) re-read only users whose activity moved: the
users row of this run's pass compared with the row stored in the warehouse. That comparison is
sound only when the stored users table was written by the same run that last ran the fan-out
(a `--resources users` run in between would hide the activity it saw). So the users resource
stamps each pass it writes with a token in its state, and each fan-out remembers the token its
last complete run was aligned with; when they differ, the fan-out reads every user.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import dlt
import pyarrow as pa

from pipelines.context import RunContext

USERS_PASS = "pass_token"  # users resource state: the run whose pass the users table holds
ALIGNED = "users_pass"  # a fan-out's state: the users pass its last complete run was aligned with
# user columns whose change means the user was active: any xp or coin movement moves xp or coins
ACTIVITY_SIGNALS = ("last_login", "xp", "coins", "total_messages", "total_reactions", "visit_count")


def stamp_users_pass(ctx: RunContext) -> None:
    """Called by the users resource as it starts: remember which pass the stored table holds and
    which it will hold after this run, claiming it for this run when the run loads the users table."""
    if not ctx.memo.users_stamped:
        state = dlt.current.resource_state()
        ctx.memo.stored_pass = state.get(USERS_PASS)
        if "users" in dlt.current.source().selected_resources:
            state[USERS_PASS] = uuid.uuid4().hex
        ctx.memo.pass_after_run = state.get(USERS_PASS)
        ctx.memo.users_stamped = True


def baseline_usable(ctx: RunContext, resource: str, last_day: date, lookback_days: int) -> bool:
    """Whether the stored users table is the baseline this fan-out's last run saw. Also records,
    for the next run, the pass this run aligns with: a run is complete for that purpose when it
    reads up to the server's day (`last_day`) for every user it was not entitled to skip, from no
    later than the first day the next run re-reads (`last_day - lookback_days`); a `--since`
    backfill from an earlier day qualifies, a bounded window does not. Evaluated once per run."""
    if resource not in ctx.memo.baselines:
        state = dlt.current.resource_state()
        stored = ctx.memo.stored_pass
        usable = (stored is not None and state.get(ALIGNED) == stored
                  and not (ctx.backfill or ctx.refresh or ctx.end is not None))
        complete = ctx.end is None and (ctx.start is None or ctx.start.date() <= last_day - timedelta(days=lookback_days))
        state[ALIGNED] = ctx.memo.pass_after_run if complete else None
        ctx.memo.baselines[resource] = usable
    return ctx.memo.baselines[resource]


def changed_users(ctx: RunContext, people: list[dict[str, Any]],
                  signals: tuple[str, ...] = ACTIVITY_SIGNALS) -> set[str] | None:
    """Ids of `people` (rows of this run's users pass) whose `signals` (default: the activity
    signals) differ from the stored users row, users the table does not hold included; None when
    the stored table has none of the signals (nothing to compare: treat everyone as changed)."""
    id_f = ctx.settings.endpoint("users_filter").name_for("id")
    stored_columns = ctx.columns("users")
    signals = tuple(s for s in signals if s in stored_columns and any(s in u for u in people))
    if not signals:
        return None
    ids = [str(u[id_f]) for u in people]
    stored = {row[0]: tuple(row[1:]) for row in ctx.query(
        "users", "SELECT _id, " + ", ".join(signals) + " FROM {table} WHERE _id IN ?",
        (ids,))}
    return {str(u[id_f]) for u in people if stored.get(str(u[id_f])) != tuple(u.get(s) for s in signals)}


def live_users(ctx: RunContext, page: pa.Table) -> list[dict[str, Any]]:
    """The live members with an email of a users page, with the columns the fan-outs read."""
    ep = ctx.settings.endpoint("users_filter")
    named = (ep.name_for(k) for k in ("id", "email", "join_date", "is_deleted"))
    wanted = [c for c in (*named, *ACTIVITY_SIGNALS) if c in page.column_names]
    rows = page.select(list(dict.fromkeys(wanted))).to_pylist()
    return [r for r in rows if not r.get(ep.name_for("is_deleted")) and r.get(ep.name_for("email"))]


def unseen(ctx: RunContext, table: str, column: str, ids: list[str]) -> set[str]:
    """The ids without a row in the warehouse table (all of them when the table does not exist)."""
    if not ids or column not in ctx.columns(table):
        return set(ids)
    found = ctx.query(table, f"SELECT DISTINCT {column} FROM {{table}} WHERE {column} IN ?",
                      (ids,))
    return set(ids) - {row[0] for row in found}
