"""`returning-sync sync` SIGKILLed during extract, normalize and load (through the test hook
RETURNING_SYNC_TEST_KILL_AT, see pipelines/sync.py): the next run converges to the truth with
no row lost and none duplicated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.sync import KILL_ENV, run_sync
from tests.reliability.helpers import RAW, diff_with_truth, location_of, pending_packages
from tests.simadmin import SimAdmin

# replace (tiers), merge (users with tombstones, store_products), insert-only (logs, field histories)
CRASH_RESOURCES = ["users", "gamification_logs", "user_field_histories", "store_products", "tiers"]


@pytest.fixture(scope="module")
def synced_template(sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A warehouse directory (DuckDB file + dlt working dir) synced once from the reset community."""
    from pipelines.config import Settings
    from tests.conftest import SIM_SEED, SIM_USERS
    from tests.simadmin import COMMUNITY_ID, FULL_KEY

    SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS).reset()
    root = tmp_path_factory.mktemp("crash-template")
    settings = Settings.from_env({"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim_server,
                                  "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID,
                                  "RETURNING_WAREHOUSE": str(root / "returning.duckdb")})
    run_sync(settings, CRASH_RESOURCES)
    yield root


def sync_killed_at(point: str, api_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **api_env, KILL_ENV: point}
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", "sync", "--resources", ",".join(CRASH_RESOURCES)],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", ["extract:3", "extract:_dlt_pipeline_state", "normalize:3", "load:2", "load:12"])
def test_sync_killed_then_rerun_converges(point: str, sim: SimAdmin, api_env: dict[str, str], warehouse: Path,
                                          synced_template: Path, make_settings: Callable[..., Any]) -> None:
    shutil.copytree(synced_template, warehouse.parent, dirs_exist_ok=True)
    sim.advance(24)  # new users, logs, field changes; some users leave
    proc = sync_killed_at(point, api_env)
    assert proc.returncode == -9, proc.stderr[-2000:]
    if point.startswith(("normalize", "load")):  # extract was committed: its package waits for the next run
        assert pending_packages(warehouse)
    run_sync(make_settings(), CRASH_RESOURCES)
    assert pending_packages(warehouse) == []
    assert diff_with_truth(warehouse, sim, CRASH_RESOURCES) == {}


def test_first_sync_killed_during_load_then_rerun_converges(sim: SimAdmin, api_env: dict[str, str], warehouse: Path,
                                                            make_settings: Callable[..., Any]) -> None:
    proc = sync_killed_at("load:10", api_env)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_sync(make_settings(), CRASH_RESOURCES)
    assert diff_with_truth(warehouse, sim, CRASH_RESOURCES) == {}


def table_counts(warehouse: Path) -> dict[str, int]:
    from warehouse.connection import connect

    with connect(location_of(warehouse), read_only=True) as con:
        return {t: con.row_count(RAW, t) or 0 for t in con.tables(RAW) if not t.startswith("_dlt")}


@pytest.mark.parametrize("point", ["load:1", "load:3", "load:6"])
def test_full_refresh_killed_loses_nothing_and_the_next_sync_converges(
        point: str, sim: SimAdmin, api_env: dict[str, str], warehouse: Path, synced_template: Path,
        make_settings: Callable[..., Any]) -> None:
    """A full refresh never empties a table (its cursors are reset, its tables kept): killed at any
    point of its loads (the committed cursor reset, the read's own load), no table holds less than
    before, and the next plain sync, even after a failing one, converges to the truth."""
    from pipelines.errors import ReturningError

    shutil.copytree(synced_template, warehouse.parent, dirs_exist_ok=True)
    held = table_counts(warehouse)
    sim.advance(24)
    env = {**os.environ, **api_env, KILL_ENV: point}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "sync", "--full-refresh",
                           "--resources", ",".join(CRASH_RESOURCES)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    after_kill = table_counts(warehouse)
    assert {t: (n, after_kill.get(t, 0)) for t, n in held.items() if after_kill.get(t, 0) < n} == {}
    sim.knobs(faults={"kinds": ["503"], "rate": 1.0, "endpoints": ["/apis/v1/users/activity/logs"]})
    with pytest.raises(ReturningError):
        run_sync(make_settings(max_attempts=2), CRASH_RESOURCES)
    sim.knobs(faults={"kinds": [], "rate": 0, "endpoints": []})
    run_sync(make_settings(), CRASH_RESOURCES)
    assert diff_with_truth(warehouse, sim, CRASH_RESOURCES) == {}


@pytest.mark.parametrize("point", ["load:2", "load:12"])
def test_sync_killed_mid_load_converges_on_every_destination(
        point: str, destination: str, sim: SimAdmin, api_env: dict[str, str],
        make_settings: Callable[..., Any]) -> None:
    """The same repair on DuckDB and on Postgres: a first sync, a day, a sync killed mid-load, a rerun."""
    settings = make_settings()
    run_sync(settings, CRASH_RESOURCES)
    sim.advance(24)
    proc = sync_killed_at(point, api_env)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert pending_packages(settings.location)
    run_sync(make_settings(), CRASH_RESOURCES)
    assert pending_packages(settings.location) == []
    assert diff_with_truth(settings.location, sim, CRASH_RESOURCES) == {}
