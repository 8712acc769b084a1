"""Channels, messages and mini-games against the simulator: a full sync equals the truth, a run with
nothing new costs one messages request per channel and loads nothing, a day later (new messages,
edits, plays) equals the truth again, and a channel past the `count` maximum is read per member."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare, warehouse_rows
from tests.simadmin import SimAdmin
from warehouse.connection import Connection

Connect = Callable[[], Connection]
DATASETS = ("channels", "messages", "minigame_logs", "user_game_stats")
# the users pass feeds the mini-game fan-outs; activity stats tell the server's day
SUBSET = ["users", *DATASETS]
MESSAGES = "GET /v1/messages"


def problems(sim: SimAdmin, con: Connection, datasets: tuple[str, ...] = DATASETS, where: str = "") -> list[str]:
    found: list[str] = []
    for dataset in datasets:
        found += compare(con, dataset, sim.truth_rows(dataset), where=where if dataset == "user_game_stats" else "")
    return found


def test_full_sync_equals_truth(destination: str, sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    result = run_sync(settings, resources=SUBSET)
    con = warehouse()
    assert problems(sim, con) == []
    truth = sim.truth()
    tables = counts(con)
    for dataset in DATASETS:
        assert tables.get(dataset, 0) == truth[dataset]["count"], dataset
        assert result.resources[dataset].rows == truth[dataset]["count"], dataset


def test_second_run_costs_one_messages_request_per_channel(sim: SimAdmin, settings: Settings,
                                                           warehouse: Connect) -> None:
    run_sync(settings, resources=SUBSET)
    con = warehouse()
    before = counts(con)
    con.close()
    sim.reset_counters()
    result = run_sync(settings, resources=SUBSET)
    by_endpoint = sim.counters()["by_endpoint"]
    channels = sim.truth()["channels"]["count"]
    assert by_endpoint[MESSAGES] == channels
    assert by_endpoint["GET /apis/v1/channels"] == 1
    assert "POST /apis/v1/users/minigames/logs" not in by_endpoint
    assert "POST /apis/v1/users/minigames/stats" not in by_endpoint
    con = warehouse()
    assert counts(con) == before
    for dataset in ("messages", "minigame_logs", "user_game_stats"):
        assert result.resources[dataset].rows == 0, dataset


def test_a_day_later_equals_truth_edits_included(destination: str, sim: SimAdmin, settings: Settings,
                                                 warehouse: Connect) -> None:
    run_sync(settings, resources=SUBSET)
    con = warehouse()
    stored = {r["id"]: r for r in warehouse_rows(con, "messages")}
    users_before = {r["_id"] for r in warehouse_rows(con, "users")}
    con.close()
    sim.advance(hours=24)
    truth = {r["id"]: r for r in sim.truth_rows("messages")}
    edited = [i for i, r in truth.items() if i in stored and r.get("editedAt") and r["message"] != stored[i]["message"]]
    assert edited, "the simulated day edited no message loaded before"
    sim.reset_counters()
    run_sync(settings, resources=SUBSET)
    con = warehouse()
    live = {r["_id"] for r in sim.truth_rows("users")}
    deleted = ", ".join(f"'{i}'" for i in users_before - live) or "''"
    # a deleted member's stats row keeps what was loaded before; live members equal the truth
    assert problems(sim, con, where=f"WHERE user_id NOT IN ({deleted})") == []
    by_endpoint = sim.counters()["by_endpoint"]
    active = by_endpoint.get("POST /apis/v1/users/minigames/stats", 0)
    assert 0 < active < len(live)  # only members who moved


def test_channels_past_the_count_maximum_are_read_per_member(sim: SimAdmin, api_env: dict[str, str],
                                                             warehouse: Connect) -> None:
    """With the maximum `count` far below the channels' sizes, the channel filter reaches only the
    newest messages; the rest come per member (email, then email and channel), all of them."""
    truth = sim.truth_rows("messages")
    per_channel = Counter(r["channel"]["channel_id"] for r in truth)
    per_member = Counter(r["user"]["email"] for r in truth)
    per_both = Counter((r["user"]["email"], r["channel"]["channel_id"]) for r in truth)
    # above what one member posts in one channel, below a channel's and a busy member's total
    max_count = max(per_both.values()) + 5
    assert max(per_channel.values()) > max_count and max(per_member.values()) > max_count
    settings = Settings.from_env(concurrency=8, registry_overrides={
        "messages": {"fields": {"max_count": str(max_count), "default_count": "10"}}})
    for advance in (0, 24):  # a first run, then a day later
        sim.advance(hours=advance) if advance else None
        sim.reset_counters()
        run_sync(settings, resources=["channels", "messages"])
        if not advance:  # the channels overflow: the members to ask, then one read or more each
            by_endpoint = sim.counters()["by_endpoint"]
            assert by_endpoint["POST /apis/v1/users/filter"] >= 1
            assert by_endpoint[MESSAGES] > sim.truth()["channels"]["count"] + 50
        # the channel reads reach what they can; the per-member reads the rest, but a deleted
        # member's messages are only reachable through their channel's newest `max_count`
        live = {r["_id"] for r in sim.truth_rows("users")}
        truth = sim.truth_rows("messages")
        ids = ", ".join(f"'{i}'" for i in live)
        con = warehouse()
        assert compare(con, "messages", [r for r in truth if r["user"]["user_id"] in live],
                       where=f"WHERE user__user_id IN ({ids})") == []
        con.close()
