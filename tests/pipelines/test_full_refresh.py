"""`--full-refresh` re-reads every selected dataset from the start and never leaves less than it found:
its cursors are reset, its tables kept, and what the read brings is merged over them. After it, every
dataset equals the server's truth (deleted members' history, which the API no longer serves, stays)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from pipelines.tables import RESOURCES
from returning_sync.cli import main
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare, warehouse_rows
from tests.simadmin import SimAdmin
from warehouse.connection import Connection, connect

Connect = Callable[[], Connection]
# per-member history the API stops serving when the member is deleted: the warehouse keeps it
PER_MEMBER = ("gamification_daily", "activity_stats", "user_game_stats")
# what a full refresh keeps and re-reads holds at any size; 100 members lose two in the simulated day
pytestmark = pytest.mark.sim_users(100)


def synced_a_day_apart(sim: SimAdmin, settings: Settings, warehouse: Connect) -> tuple[set[str], dict[str, int]]:
    """A full sync, a simulated day (with deletions, edits, new rows), a second sync: the state a
    user's warehouse is in when they reach for `--full-refresh`. Returns the deleted ids and the counts."""
    run_sync(settings)
    con = warehouse()
    before = {r["_id"] for r in warehouse_rows(con, "users")}
    con.close()
    sim.advance(hours=24)
    run_sync(settings)
    con = warehouse()
    held = counts(con)
    con.close()
    deleted = before - {r["_id"] for r in sim.truth_rows("users")}
    assert deleted, "the simulated day deleted nobody"
    return deleted, held


def assert_equals_truth(sim: SimAdmin, con: Connection, deleted: set[str]) -> None:
    ids = ", ".join(f"'{i}'" for i in sorted(deleted))
    problems: list[str] = []
    for dataset in RESOURCES:
        truth = sim.truth_rows(dataset)
        if dataset == "users":
            problems += compare(con, dataset, truth, ignore=("deleted_at",), where="WHERE NOT is_deleted")
        elif dataset in PER_MEMBER:
            problems += compare(con, dataset, truth, where=f"WHERE user_id NOT IN ({ids})")
        else:
            problems += compare(con, dataset, truth)
    assert problems == []
    flagged = {r[0] for r in con.execute("SELECT _id FROM returning_raw.users WHERE is_deleted").fetchall()}
    assert flagged == deleted


def test_full_refresh_of_each_resource_ends_equal_to_truth(destination: str, sim: SimAdmin, settings: Settings,
                                                          warehouse: Connect) -> None:
    deleted, held = synced_a_day_apart(sim, settings, warehouse)
    for name in RESOURCES:
        result = run_sync(settings, resources=[name], full_refresh=True)
        assert name in result.resources
        con = warehouse()
        now = counts(con)
        con.close()
        shrunk = {t: (held[t], now.get(t, 0)) for t in held if now.get(t, 0) < held[t]}
        assert shrunk == {}, f"after a full refresh of {name}: {shrunk}"
        held = now
    con = warehouse()
    assert_equals_truth(sim, con, deleted)


def test_whole_full_refresh_keeps_everything_and_equals_truth(destination: str, sim: SimAdmin, settings: Settings,
                                                             warehouse: Connect) -> None:
    deleted, held = synced_a_day_apart(sim, settings, warehouse)
    # damage the warehouse as a user might have: the refresh brings back what the cursors hid
    with connect(settings.location) as rw, rw.transaction():
        rw.execute("DELETE FROM returning_raw.messages WHERE id IN (SELECT id FROM returning_raw.messages LIMIT 25)")
        rw.execute("DELETE FROM returning_raw.gamification_logs WHERE action = 'message'")
    sim.reset_counters()
    run_sync(settings, full_refresh=True)
    assert sim.counters()["by_endpoint"]["GET /v1/messages"] >= sim.truth()["channels"]["count"]
    con = warehouse()
    assert {t: n for t, n in counts(con).items() if n < held.get(t, 0)} == {}
    assert_equals_truth(sim, con, deleted)
    con.close()
    # the refresh moved the cursors on: the next run reads only what is new (one page per channel)
    sim.reset_counters()
    run_sync(settings, resources=["channels", "messages"])
    assert sim.counters()["by_endpoint"]["GET /v1/messages"] == sim.truth()["channels"]["count"]


def test_cli_full_refresh_of_messages_keeps_the_history(sim: SimAdmin, api_env: dict[str, str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The newcomer's path of issue 19, through the command line."""
    assert main(["sync", "--resources", "users,messages"]) == 0
    capsys.readouterr()
    assert main(["sync", "--resources", "messages", "--full-refresh"]) == 0
    out, _ = capsys.readouterr()
    assert "full refresh" in out and "kept" in out
    assert main(["sql", "--format", "csv", "select count(*) from returning_raw.messages"]) == 0
    out, _ = capsys.readouterr()
    assert int(out.splitlines()[-1]) == sim.truth()["messages"]["count"]
    assert main(["sync", "--full-refresh"]) == 0
    assert main(["models"]) == 0
    capsys.readouterr()
    assert main(["sql", "--format", "csv", "select count(*) from analytics.fct_messages"]) == 0
    out, _ = capsys.readouterr()
    assert int(out.splitlines()[-1]) == sim.truth()["messages"]["count"]
