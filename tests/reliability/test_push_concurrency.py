"""Pushes of one definition started at once: one upload, every delta applied once, on every warehouse.

On DuckDB one writing process at a time serialises the runs; on Postgres nothing does, and the
guard is the ledger's keys: a run's claim on its definition is an insert on a primary key, and
settling an open upload is conditional on it still being open. Races are widened with the runner's
fault hook (`pause:<stage>:<seconds>`), crashes made with it (`kill:<stage>`).

(Process kills before the upload, after it and after the job is recorded, lost answers and 5xx on
upload, one process at a time, are proved by tests/reverse_etl/test_push_simulator.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from reverse_etl import get_definition, run_push
from reverse_etl.jobs import Waiting
from reverse_etl.steps import FAULT_ENV
from tests.simadmin import SimAdmin
from warehouse.connection import connect

POSTGRES = pytest.mark.parametrize("destination", ["postgres"], indirect=True)
BULK_USERS = "POST /apis/v1/users/bulk-update"
NAME = "weekly_tier_bonus"
WAIT = Waiting(timeout=30, first=0.05, ceiling=0.5)


def coins(sim: SimAdmin) -> dict[str, int]:
    return {u["email"]: u["coins"] for u in sim.truth_rows("users")}


def uploads(sim: SimAdmin) -> int:
    return sim.counters()["by_endpoint"].get(BULK_USERS, 0)


def query(settings: Any, sql: str) -> list[tuple]:
    with connect(settings.location, read_only=True) as con:
        return con.fetchall(sql)


def push_at_once(env: dict[str, str], count: int = 2, fault: str | None = None) -> list[tuple[int, str, str]]:
    """`count` `returning-sync push NAME` processes started together: (exit code, stdout, stderr) each."""
    run_env = {**os.environ, **env}
    if fault:
        run_env[FAULT_ENV] = fault
    procs = [subprocess.Popen([sys.executable, "-m", "returning_sync.cli", "push", NAME], env=run_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    return [(p.wait(timeout=180), *p.communicate()) for p in procs]


def states(results: list[tuple[int, str, str]]) -> list[str]:
    """Each run's outcome, from its first line `NAME: state`."""
    return sorted(out.splitlines()[0].split(": ", 1)[1] if out else "-" for _, out, _ in results)


def assert_applied_once(sim: SimAdmin, settings: Any, before: dict[str, int], results: Any) -> None:
    """The bonus reached exactly the intended members, once; one upload; the ledger agrees."""
    expected = {row[0] for row in query(settings, get_definition(NAME).sql)}
    after = coins(sim)
    deltas = {e: after[e] - before[e] for e in after if after[e] != before.get(e)}
    assert expected and deltas == {e: 500 for e in expected}, results
    assert uploads(sim) == 1, results
    assert [r[0] for r in results] == [0] * len(results), results
    assert query(settings, "SELECT count(*) FROM reverse_etl.pushes WHERE sent_rows > 0 AND state = 'completed'") == [
        (1,)]
    assert query(settings, "SELECT count(*) FROM reverse_etl.push_claims") == [(0,)]
    assert query(settings, "SELECT result, count(*) FROM reverse_etl.push_rows WHERE push_id IN "
                           "(SELECT push_id FROM reverse_etl.pushes WHERE state = 'completed') GROUP BY 1") == [
        ("success", len(expected))]
    assert query(settings, "SELECT status, attempts, count(*) FROM reverse_etl.push_ledger GROUP BY 1, 2") == [
        ("applied", 0, len(expected))]


def assert_second_push_sends_nothing(sim: SimAdmin, settings: Any) -> None:
    sim.reset_counters()
    again = run_push(NAME, settings, waiting=WAIT)
    assert (again.state, again.sent) == ("no_changes", 0)
    assert uploads(sim) == 0


def test_two_pushes_at_once_send_one_upload_and_apply_every_delta_once(
        destination: str, sim: SimAdmin, push_settings: Any, api_env: dict[str, str]) -> None:
    before = coins(sim)
    results = push_at_once(api_env)
    assert_applied_once(sim, push_settings, before, results)
    found = states(results)
    assert found.count("completed") == 1 and set(found) <= {"completed", "blocked", "no_changes"}, results
    assert_second_push_sends_nothing(sim, push_settings)


@POSTGRES
@pytest.mark.parametrize("fault", ["pause:before_claim:1.5", "pause:after_claim:2"])
def test_pushes_racing_for_the_claim_on_postgres_send_one_upload(
        fault: str, destination: str, sim: SimAdmin, push_settings: Any, api_env: dict[str, str]) -> None:
    """Both runs have queried and validated before either claims (before_claim), or one holds its
    claim in an open transaction while the other's insert waits on the key (after_claim)."""
    before = coins(sim)
    results = push_at_once(api_env, count=3, fault=fault)
    assert_applied_once(sim, push_settings, before, results)
    found = states(results)
    # the losers stop at the claim, or claim once the winner is done and find nothing left to send
    assert found.count("completed") == 1 and set(found) <= {"completed", "blocked", "no_changes"}, results
    assert_second_push_sends_nothing(sim, push_settings)


@POSTGRES
def test_push_killed_between_claim_and_upload_on_postgres_is_sent_once_by_the_next_runs(
        destination: str, sim: SimAdmin, push_settings: Any, api_env: dict[str, str]) -> None:
    before = coins(sim)
    [(code, _, err)] = push_at_once(api_env, count=1, fault="kill:before_upload")
    assert code == -9, err
    assert uploads(sim) == 0
    assert query(push_settings, "SELECT state FROM reverse_etl.pushes") == [("uploading",)]
    assert query(push_settings, "SELECT count(*) FROM reverse_etl.push_claims") == [(1,)]
    results = push_at_once(api_env)  # both find the dead upload; one releases it, one run sends
    assert_applied_once(sim, push_settings, before, results)
    assert query(push_settings, "SELECT state, count(*) FROM reverse_etl.pushes WHERE state <> 'no_changes' "
                                "GROUP BY 1 ORDER BY 1") == [("completed", 1), ("not_received", 1)]
    assert_second_push_sends_nothing(sim, push_settings)


@POSTGRES
def test_upload_killed_before_it_was_recorded_is_recorded_once_by_two_settlers_on_postgres(
        destination: str, sim: SimAdmin, push_settings: Any, api_env: dict[str, str]) -> None:
    """The server has the file but the ledger does not know: two runs both find the job by its file
    name and wait for it; one records the rows, the other records nothing, neither uploads."""
    before = coins(sim)
    [(code, _, err)] = push_at_once(api_env, count=1, fault="kill:after_upload")
    assert code == -9, err
    assert uploads(sim) == 1
    results = push_at_once(api_env)
    assert_applied_once(sim, push_settings, before, results)
    assert query(push_settings, "SELECT state, count(*) FROM reverse_etl.pushes WHERE state <> 'no_changes' "
                                "GROUP BY 1") == [("completed", 1)]
    assert_second_push_sends_nothing(sim, push_settings)

