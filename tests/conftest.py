"""Shared fixtures: one simulator process per test session, reset to a known community per test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

SIM_USERS = int(os.environ.get("RS_TEST_SIM_USERS", "400"))
SIM_SEED = 7


def start_simulator(users: int = SIM_USERS, seed: int = SIM_SEED, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m simulator` on a free loopback port; return the process and its base URL."""
    # RS_TEST_SIM_DIR: a folder holding another copy of the `simulator` package to run instead
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0",
         "--users", str(users), "--seed", str(seed), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=os.environ.get("RS_TEST_SIM_DIR"),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"simulator listening on (http://\S+)", line)
        if m:
            # keep draining its output so a chatty server never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1).rstrip("/")
    proc.kill()
    raise RuntimeError("simulator exited before it was ready")


@pytest.fixture(scope="session")
def sim_server() -> Iterator[str]:
    proc, url = start_simulator()
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def sim(sim_server: str) -> SimAdmin:
    """The session's simulator, reset to the seeded community with quiet knobs and zeroed counters."""
    admin = SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS)
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
