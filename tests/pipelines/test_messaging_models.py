"""The messaging models on a synced warehouse, their numbers checked against the simulator's truth:
fct_messages, channel_daily_activity, the messages column of community_daily_kpis and
member_engagement."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.shapes import parse_ts
from pipelines.sync import run_sync
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.models import build_all

# what it checks holds at any size: a small community keeps its syncs cheap
pytestmark = pytest.mark.sim_users(100)

MODELS = ["fct_messages", "channel_daily_activity", "community_daily_kpis", "member_engagement"]


def ts(value: str) -> datetime:
    parsed = parse_ts(value)
    assert isinstance(parsed, datetime)
    return parsed


def rows(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in con.execute(sql).fetchall()]


def test_messaging_models_match_the_truth(destination: str, sim: SimAdmin, settings: Settings) -> None:
    run_sync(settings)
    con = connect(settings.location)
    try:
        built = {r.model: r.rows for r in build_all(con)}
        assert set(MODELS) <= set(built)
        messages = sim.truth_rows("messages")
        games = sim.truth_rows("minigame_logs")
        logs = sim.truth_rows("gamification_logs")
        assert built["fct_messages"] == len(messages)

        # fct_messages: every message with its channel's name and its member
        channels = {c["_id"]: c["topic"] for c in sim.truth_rows("channels")}
        got = dict(rows(con, "SELECT message_id, channel_name FROM analytics.fct_messages"))
        assert got == {m["id"]: channels.get(m["channel"]["channel_id"], m["channel"]["name"]) for m in messages}
        live = {u["_id"]: u["email"] for u in sim.truth_rows("users")}
        known = dict(rows(con, "SELECT message_id, username IS NOT NULL FROM analytics.fct_messages"))
        assert all(known[m["id"]] for m in messages if m["user"]["user_id"] in live)

        # channel_daily_activity: messages (replies included), replies, distinct posters
        want: dict[tuple[str, date], list[Any]] = defaultdict(lambda: [0, 0, set()])
        for m in messages:
            cell = want[(m["channel"]["channel_id"], ts(m["timestamp"]).date())]
            cell[0] += 1
            cell[1] += 1 if m.get("parentId") else 0
            cell[2].add(m["user"]["user_id"])
        got_days = {(c, d): [n, r, p] for c, d, n, r, p in rows(
            con, "SELECT channel_id, activity_date, messages, replies, posters FROM analytics.channel_daily_activity")}
        assert got_days == {k: [n, r, len(p)] for k, (n, r, p) in want.items()}

        # community_daily_kpis: messages per UTC day, on the days the model covers
        per_day = Counter(ts(m["timestamp"]).date() for m in messages)
        kpis = rows(con, "SELECT activity_date, messages FROM analytics.community_daily_kpis")
        assert kpis and all(n == per_day.get(d, 0) for d, n in kpis)
        assert sum(n for _, n in kpis) > 0

        # member_engagement: 7 and 30 days up to the latest activity the warehouse holds
        as_of = max([ts(m["timestamp"]) for m in messages] + [ts(g["createdAt"]) for g in games]
                    + [ts(lg["createdAt"]) for lg in logs])
        week, month = as_of - timedelta(days=7), as_of - timedelta(days=30)
        engaged = {r[0]: r[1:] for r in rows(con, "SELECT user_id, messages_7d, messages_30d, games_7d, games_30d, "
                                                  "game_wins_30d, as_of FROM analytics.member_engagement")}
        assert set(live) <= set(engaged)
        for user_id in live:
            mine = [ts(m["timestamp"]) for m in messages if m["user"]["user_id"] == user_id]
            played = [g for g in games if g["user_id"] == user_id]
            expected = (sum(t > week for t in mine), sum(t > month for t in mine),
                        sum(ts(g["createdAt"]) > week for g in played), sum(ts(g["createdAt"]) > month for g in played),
                        sum(ts(g["createdAt"]) > month and g["outcome"] == "win" for g in played))
            assert engaged[user_id][:5] == expected, user_id
            assert engaged[user_id][5] == as_of
        busiest = max(live, key=lambda u: engaged[u][1])
        assert engaged[busiest][1] > 0 and max(engaged[u][3] for u in live) > 0
    finally:
        con.close()
