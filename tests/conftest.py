"""Shared fixtures: one simulator process per test session, reset to a known community per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from returning_sync.simulator_process import SimulatorProcess
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

pytest_plugins = ("tests.cpu_report",)  # `--cpu-report=FILE`: the CPU seconds of each test

SIM_USERS = int(os.environ.get("RS_TEST_SIM_USERS", "400"))
SIM_SEED = 7


def simulator_process(users: int = SIM_USERS, seed: int = SIM_SEED, *extra: str) -> SimulatorProcess:
    """`python -m simulator` on a free loopback port, not started yet."""
    # RS_TEST_SIM_DIR: a folder holding another copy of the `simulator` package to run instead
    return SimulatorProcess(users, seed, extra=extra, cwd=os.environ.get("RS_TEST_SIM_DIR"))


def start_simulator(users: int = SIM_USERS, seed: int = SIM_SEED, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start the simulator; return the process and its base URL."""
    sim = simulator_process(users, seed, *extra).start()
    assert sim.proc is not None
    return sim.proc, sim.url


@pytest.fixture(scope="session")
def sim_server() -> Iterator[str]:
    with simulator_process() as sim:
        yield sim.url


@pytest.fixture()
def sim(sim_server: str, request: pytest.FixtureRequest) -> SimAdmin:
    """The session's simulator, reset to the seeded community with quiet knobs and zeroed counters.
    `@pytest.mark.sim_users(N)` makes it N members instead of SIM_USERS: the CPU of a sync grows with
    the community, so a test whose assertions hold at any size takes a smaller one."""
    marker = request.node.get_closest_marker("sim_users")
    admin = SimAdmin(sim_server, seed=SIM_SEED, users=int(marker.args[0]) if marker else SIM_USERS)
    admin.reset()
    return admin


@pytest.fixture()
def api_env(sim: SimAdmin, tmp_path, monkeypatch) -> dict[str, str]:
    """Environment a user would set to sync from the simulator into a fresh warehouse file."""
    env = {
        "RETURNING_AI_API_KEY": FULL_KEY,
        "RETURNING_AI_BASE_URL": sim.base_url,
        "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID,
        "RETURNING_WAREHOUSE": str(tmp_path / "warehouse" / "returning.duckdb"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


# -- destinations: the ground-truth tests run once per warehouse, as dlt's verified sources do ------
DESTINATIONS = ("duckdb", "postgres")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """The session's throwaway PostgreSQL server (tests/pgcluster.py); a failure says why."""
    from tests import pgcluster

    try:
        cluster = pgcluster.from_environment()
    except Exception as exc:  # noqa: BLE001 - no server to be had: fail with the reason, never skip
        pytest.fail(f"no PostgreSQL server for the Postgres tests: {exc}", pytrace=False)
    if cluster is None:
        pytest.skip("RETURNING_TEST_POSTGRES=off")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def pg_url(pg_cluster) -> str:
    """A fresh, empty database on the test server (its URL carries the password)."""
    return pg_cluster.create_database()


@pytest.fixture(params=DESTINATIONS)
def destination(request: pytest.FixtureRequest, api_env: dict[str, str], monkeypatch) -> str:
    """Parametrizes a test over the warehouses: DuckDB (the file of `api_env`) and Postgres (a fresh
    database, configured only by RETURNING_DESTINATION and dlt's credentials variable)."""
    name = request.param
    if name == "postgres":
        url = request.getfixturevalue("pg_url")
        api_env.update({"RETURNING_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": url})
        monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    return name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `slow` first (a stable sort: the rest keep their order), so that under xdist
    the longest ones (the live production deployment) run beside the others instead of at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
