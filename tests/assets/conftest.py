"""One full materialization of every ingest and model asset (with checks), made once per session and
shared by tests/assets and tests/warehouse (see `shared_load`)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from assets.instance import ensure_dagster_home
from tests.conftest import SIM_SEED, SIM_USERS
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

POOL_CONFIG = {"concurrency": {"pools": {"default_limit": 1}}}
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def postgres_instance_env(url: str) -> dict[str, str]:
    """The variables deploy/dagster.yaml reads for its storage, pointing at the database `url`."""
    parts = urlsplit(url)
    return {"DAGSTER_POSTGRES_USER": unquote(parts.username or ""),
            "DAGSTER_POSTGRES_PASSWORD": unquote(parts.password or ""),
            "DAGSTER_POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "DAGSTER_POSTGRES_PORT": str(parts.port or 5432),
            "DAGSTER_POSTGRES_DB": parts.path.lstrip("/")}


def production_home(home: Path) -> Path:
    """A DAGSTER_HOME holding the production deploy/dagster.yaml (storage from DAGSTER_POSTGRES_*)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


@dataclass
class DagsterStorage:
    name: str  # sqlite (`dagster dev`'s default, the project's .dagster_home) or postgres (production)
    home: Path


STORAGES = ("sqlite", "postgres")


@pytest.fixture(params=STORAGES)
def dagster_storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DagsterStorage:
    """A Dagster home per test: the project's SQLite instance, or the production deploy/dagster.yaml
    with its storage in a fresh database of the test Postgres (the variables are set in the
    environment, so subprocesses of the test read the same instance)."""
    return make_dagster_storage(request, tmp_path, monkeypatch)


def make_dagster_storage(request: pytest.FixtureRequest, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> DagsterStorage:
    home = tmp_path / "dagster_home"
    if request.param == "sqlite":
        return DagsterStorage("sqlite", ensure_dagster_home(home))
    url = request.getfixturevalue("pg_cluster").create_database()
    for name, value in postgres_instance_env(url).items():
        monkeypatch.setenv(name, value)
    return DagsterStorage("postgres", production_home(home))


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


def sim_days(sim: SimAdmin) -> tuple[str, str]:
    """The simulator's history as partition keys: its first day of activity to its clock's day."""
    from returning_sync.commands.demo import sim_window

    return sim_window(sim.clock())


@contextmanager
def first_load(sim: SimAdmin) -> Iterator[dict[str, Any]]:
    """`materialize` arguments of a first scheduled load: today's partition (by Dagster's clock), which
    reads from the stored marks to now (none yet: all the simulator's history), as the hourly
    schedule's first run and the command line's first sync do (`assets.ingest.load_window`)."""
    from assets.ingest import partitions

    yield {"partition_key": partitions.get_last_partition_key()}


@contextmanager
def at_sim_clock(sim: SimAdmin, hours: float = 0.0) -> Iterator[dt.datetime]:
    """Dagster's clock set to the simulator's (plus `hours`): its today is the partition still
    filling, which the ingest runs read from the stored marks (`assets.ingest.load_window`)."""
    from dagster._core.test_utils import freeze_time

    now = dt.datetime.fromisoformat(sim.clock()["now"].replace("Z", "+00:00")) + dt.timedelta(hours=hours)
    with freeze_time(now):
        yield now


def materialize_everything(sim: SimAdmin, warehouse: Path, instance: DagsterInstance) -> tuple[ExecuteInProcessResult, dict[str, Any], tuple[str, str]]:
    from assets.checks import build_checks
    from assets.ingest import build_ingest_assets
    from assets.models import build_model_assets

    ingest_assets, model_assets, asset_checks = build_ingest_assets(), build_model_assets(), build_checks()

    resources = resources_for(sim.base_url, warehouse)
    with first_load(sim) as first:
        result = materialize([*ingest_assets, *model_assets, *asset_checks], instance=instance,
                             resources=resources, raise_on_error=False, **first)
    return result, resources, sim_days(sim)


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
