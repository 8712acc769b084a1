"""One full materialization of every ingest and model asset (with checks), made once per session and
shared by tests/assets and tests/warehouse (see `shared_load`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from assets.instance import ensure_dagster_home
from tests.conftest import SIM_SEED, SIM_USERS
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

POOL_CONFIG = {"concurrency": {"pools": {"default_limit": 1}}}


@dataclass
class Loaded:
    sim: SimAdmin
    warehouse: Path
    instance: DagsterInstance
    result: ExecuteInProcessResult
    resources: dict[str, Any]
    window: tuple[str, str]
    seconds: float


def resources_for(sim_url: str, warehouse: Path, lock_wait_seconds: float = 120.0,
                  destination: str = "duckdb") -> dict[str, Any]:
    """The resources a test run uses: the simulator's API, the warehouse at `warehouse` (DuckDB) or
    on `destination` (its credentials from the environment, as dlt reads them)."""
    from dagster_dlt import DagsterDltResource

    from assets.resources import ReturningApiSettings, Warehouse

    return {
        "dlt": DagsterDltResource(),
        "returning": ReturningApiSettings(api_key=FULL_KEY, base_url=sim_url, community_id=COMMUNITY_ID),
        "warehouse": Warehouse(destination=destination, path=str(warehouse), lock_wait_seconds=lock_wait_seconds),
    }


def window_tags(sim: SimAdmin) -> tuple[dict[str, str], tuple[str, str]]:
    """Tags of a run over the simulator's whole history as one partition range (a UI backfill)."""
    from returning_sync.commands.demo import sim_window

    window = sim_window(sim.clock())
    return ({"dagster/asset_partition_range_start": window[0],
             "dagster/asset_partition_range_end": window[1]}, window)


def state_tags(sim: SimAdmin) -> tuple[dict[str, str], tuple[str, str]]:
    """Tags of a scheduled incremental run: the clock's day as partition, loading from the stored
    high-water marks (none yet: everything). One partition keeps Dagster's event log small."""
    from assets.ingest import WINDOW_TAG
    from returning_sync.commands.demo import sim_window

    window = sim_window(sim.clock())
    return {WINDOW_TAG: "state"}, window


def materialize_everything(sim: SimAdmin, warehouse: Path, instance: DagsterInstance) -> tuple[ExecuteInProcessResult, dict[str, Any], tuple[str, str]]:
    from assets.checks import asset_checks
    from assets.ingest import ingest_assets
    from assets.models import model_assets

    resources = resources_for(sim.base_url, warehouse)
    tags, window = state_tags(sim)
    result = materialize([*ingest_assets, *model_assets, *asset_checks], instance=instance,
                         resources=resources, tags=tags, partition_key=window[1], raise_on_error=False)
    return result, resources, window


_CACHE: dict[str, Loaded] = {}


def shared_load(sim_server: str, root: Path) -> Loaded:
    """Materialize once per session; later callers get the same warehouse and instance."""
    if sim_server not in _CACHE:
        sim = SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS)
        sim.reset()
        root.mkdir(parents=True, exist_ok=True)
        warehouse = root / "returning.duckdb"
        instance = DagsterInstance.from_config(str(ensure_dagster_home(root / "dagster_home")))
        started = dt.datetime.now()
        result, resources, window = materialize_everything(sim, warehouse, instance)
        seconds = (dt.datetime.now() - started).total_seconds()
        _CACHE[sim_server] = Loaded(sim, warehouse, instance, result, resources, window, seconds)
    return _CACHE[sim_server]


@pytest.fixture()
def loaded(sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The shared load, with the simulator reset to the same community (its truth matches the load)."""
    load = shared_load(sim_server, tmp_path_factory.getbasetemp() / "loaded")
    load.sim.reset()
    yield load
