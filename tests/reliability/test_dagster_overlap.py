"""Dagster ingest runs and command-line syncs share dlt's working directory beside the warehouse,
so they must never load at the same time: a Dagster run started while a sync holds the lock
refuses with a clear message and changes nothing; once the lock is free it loads the truth.

The Dagster cases run on both instance storages (`dagster_storage`): the project's SQLite home and
the production deploy/dagster.yaml with its storage in the test Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.sync import sync_lock
from tests.assets.conftest import STORAGES, DagsterStorage, make_dagster_storage
from tests.reliability.helpers import diff_with_truth, snapshot, snapshot_diff
from tests.simadmin import COMMUNITY_ID, SimAdmin


@pytest.fixture(params=STORAGES)
def dagster_storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DagsterStorage:
    """The instance's storage: SQLite (`dagster dev`) or the production dagster.yaml on the test Postgres."""
    return make_dagster_storage(request, tmp_path, monkeypatch)


SNAPSHOT_TABLES = ["users", "user_fields", "store_products", "store_categories", "leaderboards", "streaks", "tiers"]


def materialize_snapshot(sim: SimAdmin, warehouse: Path, home: Path | None) -> Any:
    """The snapshot ingest asset; `home` None: an ephemeral instance (a run killed in it leaves no
    pool slot claimed in a persistent one)."""
    from dagster import DagsterInstance, materialize
    from dagster_dlt import DagsterDltResource

    from assets.ingest import build_ingest_assets

    raw_snapshot = build_ingest_assets().snapshot
    from assets.instance import ensure_dagster_home
    from assets.resources import ReturningApiSettings, Warehouse

    instance = DagsterInstance.from_config(str(ensure_dagster_home(home))) if home else DagsterInstance.ephemeral()
    try:
        return materialize([raw_snapshot], instance=instance, raise_on_error=False, resources={
            "dlt": DagsterDltResource(),
            "returning": ReturningApiSettings(base_url=sim.base_url, community_id=COMMUNITY_ID),
            "warehouse": Warehouse(destination="duckdb", path=str(warehouse)),
        })
    finally:
        instance.dispose()


def test_dagster_run_while_a_sync_holds_the_lock_refuses_then_loads(sim: SimAdmin, make_settings: Any,
                                                                   warehouse: Path,
                                                                   dagster_storage: DagsterStorage) -> None:
    home = dagster_storage.home
    before = snapshot(warehouse)
    with sync_lock(make_settings()):  # what `returning-sync sync` holds for its whole run
        refused = materialize_snapshot(sim, warehouse, home)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    assert error.cause.cls_name == "SyncBusy" and "another sync is already loading into" in error.cause.message
    assert snapshot_diff(before, snapshot(warehouse)) == []
    assert materialize_snapshot(sim, warehouse, home).success
    assert diff_with_truth(warehouse, sim, SNAPSHOT_TABLES) == {}


def test_dagster_run_while_a_reader_polls_the_warehouse_completes(sim: SimAdmin, warehouse: Path,
                                                                  dagster_storage: DagsterStorage) -> None:
    """A dashboard or `returning-sync sql` polling the warehouse read-only must not break a load."""
    import subprocess
    import sys

    home = dagster_storage.home
    assert materialize_snapshot(sim, warehouse, home).success
    reader = subprocess.Popen([sys.executable, "-c", f"""
import duckdb, sys, time
print('polling', flush=True)
while True:
    try:
        con = duckdb.connect({str(warehouse)!r}, read_only=True)
        con.execute('SELECT count(*) FROM returning_raw.users').fetchall()
        con.close()
    except duckdb.IOException:
        pass  # the load holds the file: a reader waits its turn
    time.sleep(0.01)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "polling"
        sim.advance(24)
        results = [materialize_snapshot(sim, warehouse, home) for _ in range(2)]
    finally:
        reader.kill()
        reader.wait(timeout=10)
    assert [r.success for r in results] == [True, True]
    assert diff_with_truth(warehouse, sim, SNAPSHOT_TABLES) == {}


KILL_SCRIPT = """
import sys
from pathlib import Path
from tests.simadmin import SimAdmin
from tests.reliability.test_dagster_overlap import materialize_snapshot
materialize_snapshot(SimAdmin(sys.argv[1]), Path(sys.argv[2]), None)
"""


@pytest.mark.parametrize("point", ["load:2"])
def test_dagster_run_killed_mid_load_then_rerun_converges(point: str, sim: SimAdmin, api_env: dict[str, str],
                                                          warehouse: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from pipelines.sync import KILL_ENV
    from tests.reliability.helpers import pending_packages

    home = tmp_path / "dagster_home"
    assert materialize_snapshot(sim, warehouse, home).success
    sim.advance(24)
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, sim.base_url, str(warehouse)],
                            env={**os.environ, **api_env, KILL_ENV: point}, capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert pending_packages(warehouse)
    assert materialize_snapshot(sim, warehouse, home).success
    assert pending_packages(warehouse) == []
    assert diff_with_truth(warehouse, sim, SNAPSHOT_TABLES) == {}
