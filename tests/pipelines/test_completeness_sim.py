"""Completeness against the server's own counts (pipelines/completeness.py): every count the API
states becomes a row of `returning_raw._sync_completeness`, and a shortfall is exactly what the
simulator's truth says is missing, never silent. Messages of deleted members in channels past Get
Messages' `count` cap are read through the ids and emails the warehouse holds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from pipelines.completeness import NOT_HELD
from pipelines.config import Settings
from pipelines.shapes import parse_ts
from pipelines.sync import run_sync
from returning_sync.cli import main
from tests.conftest import simulator_process
from tests.pipelines.truth import compare
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin
from warehouse.connection import Connection, connect

Connect = Callable[[], Connection]
MESSAGE_SUBSET = ["users", "channels", "messages", "gamification_logs"]


def completeness(con: Connection, dataset: str) -> dict[str, tuple[int, int, int, str | None]]:
    """The newest sync's rows of `dataset`: scope -> (server_count, held, shortfall, reason)."""
    rows = con.fetchall("SELECT scope, server_count, held, shortfall, reason FROM returning_raw._sync_completeness "
                        "WHERE dataset = ? AND load_id = (SELECT max(load_id) FROM returning_raw._sync_completeness) "
                        "ORDER BY scope", [dataset])
    return {str(s): (int(n), int(h), int(f), r) for s, n, h, f, r in rows}


def per_channel(truth: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["channel"]["channel_id"] for r in truth)


def held_per_channel(con: Connection) -> Counter[str]:
    return Counter({str(c): int(n) for c, n in con.fetchall(
        "SELECT channel__channel_id, count(*) FROM returning_raw.messages GROUP BY 1")})


def assert_exact(sim: SimAdmin, con: Connection) -> int:
    """Each channel's row states the truth's count, what the warehouse holds and their difference;
    what is held equals the truth. Returns the messages missing."""
    truth = sim.truth_rows("messages")
    held = held_per_channel(con)
    rows = completeness(con, "messages")
    expected = {f"channel {c}": (n, held[c], n - held[c]) for c, n in per_channel(truth).items()}
    assert {s: r[:3] for s, r in rows.items() if r[0]} == expected
    for scope, (_, _, short, reason) in rows.items():
        assert (reason is None) == (short == 0), scope
    ids = {str(r[0]) for r in con.fetchall("SELECT id FROM returning_raw.messages")}
    assert compare(con, "messages", [r for r in truth if r["id"] in ids]) == []
    return len(truth) - len(ids)


def test_deleted_members_messages_past_the_cap_are_read_or_reported_exactly(
        destination: str, sim: SimAdmin, api_env: dict[str, str], warehouse: Connect) -> None:
    """With `count` capped below the channels' sizes, a first run reaches deleted members only
    through what it reads itself: what it misses is reported per channel, exactly. The second run
    reads the rest through the deleted members the gamification logs it loaded name: the truth."""
    truth = sim.truth_rows("messages")
    per_both = Counter((r["user"]["email"], r["channel"]["channel_id"]) for r in truth)
    max_count = max(per_both.values()) + 5
    assert max(per_channel(truth).values()) > max_count
    live = {r["_id"] for r in sim.truth_rows("users")}
    assert any(r["user"]["user_id"] not in live for r in truth)  # deleted members' messages exist
    settings = Settings.from_env(concurrency=8, registry_overrides={
        "messages": {"fields": {"max_count": str(max_count), "default_count": "10"}}})
    first = run_sync(settings, resources=MESSAGE_SUBSET)
    con = warehouse()
    missing = assert_exact(sim, con)
    con.close()
    assert missing > 0  # the seeded community has deleted members no first run can name
    reported = sum(r.shortfall for r in first.bookkeeping.completeness if r.dataset == "messages")
    assert reported == missing
    assert [r.dataset for r in first.bookkeeping.shortfalls] == ["messages"] * len(first.bookkeeping.shortfalls)
    second = run_sync(settings, resources=MESSAGE_SUBSET)
    con = warehouse()
    assert assert_exact(sim, con) == 0
    assert compare(con, "messages", truth) == []
    assert second.bookkeeping.shortfalls == []


def test_a_shortfall_is_in_the_summary_and_the_table(sim: SimAdmin, api_env: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Per-member reads switched off: each channel past the cap is short by exactly what the truth
    has beyond its newest `max_count`, printed one line each by `returning-sync sync`."""
    truth = per_channel(sim.truth_rows("messages"))
    max_count = 40
    monkeypatch.setenv("RETURNING_SYNC_REGISTRY_OVERRIDES",
                       json.dumps({"messages": {"max_count": max_count, "default_count": 10,
                                                   "member_fallback": False}}))
    assert main(["sync", "--resources", "channels,messages"]) == 0
    out = capsys.readouterr().out
    short = {c: n - max_count for c, n in truth.items() if n > max_count}
    assert short
    for cid, n in short.items():
        assert f"incomplete: messages (channel {cid}): the server counts {truth[cid]:,}, the warehouse holds " \
               f"{max_count:,}: {n:,} short (" in out
    with connect(Settings.from_env().location, read_only=True) as con:
        rows = completeness(con, "messages")
    assert {s: r[2] for s, r in rows.items() if r[2]} == {f"channel {c}": n for c, n in short.items()}
    assert all("member_fallback = false" in str(r[3]) for r in rows.values() if r[2])


def test_counts_of_users_lists_and_daily_history_are_held(destination: str, sim: SimAdmin, settings: Settings,
                                                          warehouse: Connect) -> None:
    """The users filter's `total`, each list's total and daily history's `found` per day: one row
    each, equal to the truth, nothing short."""
    result = run_sync(settings, resources=["users", "gamification_daily", "store_products", "leaderboards",
                                           "streaks", "streak_logs", "user_field_histories", "redemption_orders",
                                           "purchase_histories", "minigame_logs"])
    truth = sim.truth()
    con = warehouse()
    assert completeness(con, "users") == {"live members": (truth["users"]["count"],) * 2 + (0, None)}
    for name in ("store_products", "leaderboards", "streaks"):
        assert completeness(con, name) == {"all": (truth[name]["count"],) * 2 + (0, None)}, name
    days = Counter(str(r["date"]) for r in sim.truth_rows("gamification_daily"))
    daily = completeness(con, "gamification_daily")
    found = {scope: n for scope, (n, _, _, _) in daily.items()}
    assert sum(found.values()) == truth["gamification_daily"]["count"]
    assert len(found) == len(days)
    assert all(short == 0 for _, _, short, _ in daily.values())
    [(scope, logs)] = completeness(con, "streak_logs").items()
    assert logs == (truth["streak_logs"]["count"],) * 2 + (0, None)
    # a first run's windows are unbounded: each window's total is the whole dataset
    assert completeness(con, "user_field_histories") == {
        "created_at in [start, now)": (truth["user_field_histories"]["count"],) * 2 + (0, None)}
    assert completeness(con, "redemption_orders") == {
        "updated_at in [start, now)": (truth["redemption_orders"]["count"],) * 2 + (0, None)}
    assert completeness(con, "purchase_histories") == {"all": (truth["purchase_histories"]["count"],) * 2 + (0, None)}
    assert all(truth[name]["count"] > 0 for name in ("user_field_histories", "redemption_orders", "purchase_histories",
                                                     "minigame_logs"))
    # the per-member totals of minigame logs, summed over the members read: every play of the truth
    assert completeness(con, "minigame_logs") == {
        "created_at in [start, now), the members read": (truth["minigame_logs"]["count"],) * 2 + (0, None)}
    assert result.bookkeeping.shortfalls == []


@pytest.fixture(scope="module")
def big_sim() -> Iterator[SimAdmin]:
    with simulator_process(3000, 7) as sim:
        yield SimAdmin(sim.url, seed=7, users=3000)


def test_full_sync_of_3000_members_equals_the_truth_or_reports_exactly(
        big_sim: SimAdmin, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: a 3,000-member community, channels over the 1,000 cap, members deleted
    before the first run. The messages held plus the shortfall reported equal the server's total
    in every channel, and the held ones equal the truth."""
    big_sim.reset()
    for key, value in {"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": big_sim.base_url,
                       "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID,
                       "RETURNING_WAREHOUSE": str(tmp_path / "returning.duckdb")}.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env(concurrency=8)
    truth = per_channel(big_sim.truth_rows("messages"))
    assert max(truth.values()) > 1000
    run_sync(settings, resources=MESSAGE_SUBSET)
    with connect(settings.location, read_only=True) as con:
        assert assert_exact(big_sim, con) >= 0



def test_a_walk_that_stops_too_early_is_reported_short_exactly(destination: str, sim: SimAdmin, settings: Settings,
                                                               warehouse: Connect) -> None:
    """purchase_histories walks newest first and stops at the stored high-water mark. Overridden to walk
    oldest first (`fields.sort`, pages of 5), a later run stops on its first page and never reaches the
    purchases made since: `meta.total` counts them, and the shortfall is exactly the records of the truth the
    warehouse lacks."""
    oldest_first = Settings.from_env(backoff_base=0.05, backoff_max=2.0, registry_overrides={
        "purchase_histories": {"page_size": 5, "fields": {"sort": "updatedAt:asc"}}})
    assert run_sync(settings, resources=["purchase_histories"]).bookkeeping.shortfalls == []
    sim.advance(hours=72)
    result = run_sync(oldest_first, resources=["purchase_histories"])
    truth = {r["_id"] for r in sim.truth_rows("purchase_histories")}
    con = warehouse()
    held = {str(r[0]) for r in con.fetchall("SELECT _id FROM returning_raw.purchase_histories")}
    missing = len(truth - held)
    assert held <= truth and missing > 0
    assert completeness(con, "purchase_histories") == {"all": (len(truth), len(held), missing, NOT_HELD)}
    assert [(r.dataset, r.shortfall) for r in result.bookkeeping.shortfalls] == [("purchase_histories", missing)]


WINDOWED = {"user_field_histories": "createdAt", "redemption_orders": "updatedAt", "minigame_logs": "createdAt"}


def test_a_later_runs_windows_state_the_truth_of_the_window(destination: str, sim: SimAdmin, settings: Settings,
                                                             warehouse: Connect) -> None:
    """After the clock moves, the windows start at the high-water mark less the lookback: each window's
    total is the truth's count of rows from that start, all held; minigame logs' sum covers only the
    members read (those whose activity moved), every one of their plays in the window held."""
    resources = ["users", *WINDOWED, "purchase_histories"]
    run_sync(settings, resources=resources)
    sim.advance(hours=48)
    result = run_sync(settings, resources=resources)
    con = warehouse()
    for name, cursor in WINDOWED.items():
        [(scope, (server, held, short, reason))] = completeness(con, name).items()
        start = parse_ts(scope.split("[", 1)[1].split(",", 1)[0])
        assert isinstance(start, datetime), scope
        rows = [r for r in sim.truth_rows(name) if parse_ts(r[cursor]) >= start]
        if name == "minigame_logs":  # only the members whose activity moved are read: a part of the window
            assert (held, short, reason) == (server, 0, None) and 0 < server < len(rows), (scope, server, len(rows))
            continue
        assert (server, held, short, reason) == (len(rows), len(rows), 0, None), name
        assert server > 0, name
    assert completeness(con, "purchase_histories") == {"all": (sim.truth()["purchase_histories"]["count"],) * 2
                                                       + (0, None)}
    assert result.bookkeeping.shortfalls == []


def test_a_dataset_read_only_to_feed_another_states_no_count(destination: str, sim: SimAdmin, settings: Settings,
                                                             warehouse: Connect) -> None:
    """gamification_daily alone (Dagster's day-partitioned asset: users sit in the snapshot asset)
    reads the users filter for its members without loading users: the filter's `total` says
    nothing of what this run loaded, so no users row and no "incomplete" line; the daily counts are held."""
    result = run_sync(settings, resources=["gamification_daily"])
    con = warehouse()
    assert completeness(con, "users") == {}
    assert con.row_count("returning_raw", "users") in (None, 0)  # read, not loaded
    assert result.bookkeeping.shortfalls == []
    assert not [line for line in result.bookkeeping.lines() if line.startswith("incomplete")]
    daily = completeness(con, "gamification_daily")
    assert sum(n for n, _, _, _ in daily.values()) == sim.truth()["gamification_daily"]["count"] > 0


def test_messages_outside_a_bounded_runs_window_are_named_as_such(sim: SimAdmin, settings: Settings,
                                                                   warehouse: Connect) -> None:
    """A run from a day on (`--since`, a Dagster range) does not load the older messages its walk
    saw (each channel's welcome note predates the history): the channel's row says how many, that
    they lie outside the window, and how to load them; never the bare 'holds fewer rows'."""
    start = datetime.fromisoformat(sim.clock()["history_start"].replace("Z", "+00:00")).date()
    result = run_sync(settings, resources=["channels", "messages"], since=start)
    con = warehouse()
    rows = completeness(con, "messages")
    short = {scope: r for scope, r in rows.items() if r[2]}
    assert short, "every postable channel's welcome note predates the history"
    for scope, (_, _, n, reason) in short.items():
        assert reason is not None and reason.startswith(f"{n} of its messages are outside this run's window ["), scope
        assert "`returning-sync sync`" in reason
    held = {str(i) for (i,) in con.fetchall("SELECT id FROM returning_raw.messages")}
    older = [r for r in sim.truth_rows("messages") if r["id"] not in held]
    assert len(older) == sum(n for _, _, n, _ in short.values())
    assert all(parse_ts(r["timestamp"]).date() < start for r in older)
    assert len(result.bookkeeping.shortfalls) == len(short)
