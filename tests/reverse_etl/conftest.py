"""Fixtures for push tests against the simulator: a warehouse synced once, copied per test.

DuckDB: the synced file is built once per module and copied per test. Postgres (tests that ask for
`destination`): the synced database is built once per session as a template, and each test gets
`CREATE DATABASE ... TEMPLATE` of it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

RAW_RESOURCES = ("users", "user_fields", "gamification_logs", "tiers")
MODELS = ["dim_users", "fct_gamification_events"]


def build_warehouse(base_url: str, path: Path, environ: dict[str, str] | None = None,
                    resources: tuple[str, ...] = RAW_RESOURCES, seeds: bool = False) -> None:
    """Sync `resources` (default: what the push definitions read), then build the models they use
    (on the destination `environ` names; DuckDB by default); with `seeds`, load the shipped seeds."""
    from pipelines.config import Settings
    from pipelines.seeds import load_seeds
    from pipelines.sync import run_sync
    from warehouse.connection import connect
    from warehouse.models import discover_models

    settings = Settings.from_env({"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": base_url,
                                  "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(path),
                                  **(environ or {})})
    run_sync(settings, resources=list(resources))
    with connect(settings.location) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        for model in discover_models():
            if model.name in MODELS:  # dependency order; the SQL is DuckDB's, transpiled by the port
                with con.transaction():
                    con.execute(f'DROP TABLE IF EXISTS analytics."{model.name}"')
                    con.execute(f'CREATE TABLE analytics."{model.name}" AS {model.sql}')
    if seeds:
        load_seeds(settings, environ={})  # the shipped seeds


@pytest.fixture(scope="module")
def warehouse_template(sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tests.conftest import SIM_SEED, SIM_USERS

    SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS).reset()
    path = tmp_path_factory.mktemp("template") / "returning.duckdb"
    build_warehouse(sim_server, path)
    yield path


_PG_TEMPLATES: dict[tuple[str, str, tuple[str, ...], bool], str] = {}  # (cluster, simulator, what) -> template


def pg_template(cluster: object, sim_server: str, workdir: Path,
                resources: tuple[str, ...] = RAW_RESOURCES, seeds: bool = False) -> str:
    """The name of a Postgres database holding the synced warehouse (built once per session and
    content: `build_warehouse`'s `resources` and `seeds`)."""
    from tests.conftest import SIM_SEED, SIM_USERS

    key = (str(cluster.url), sim_server, resources, seeds)  # type: ignore[attr-defined]
    if key not in _PG_TEMPLATES:
        SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS).reset()
        name = "rs_push_tmpl_" + uuid.uuid4().hex[:8]
        url = cluster.create_database(name)  # type: ignore[attr-defined]
        with pytest.MonkeyPatch.context() as mp:  # dlt reads its credentials from the environment
            mp.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
            build_warehouse(sim_server, workdir / "returning.duckdb", {"RETURNING_DESTINATION": "postgres"},
                            resources, seeds)
        _PG_TEMPLATES[key] = name
    return _PG_TEMPLATES[key]


def database_from_template(cluster: object, template: str) -> str:
    """A new database copied from `template`; returns its URL."""
    import psycopg2

    name = "rs_push_" + uuid.uuid4().hex[:10]
    con = psycopg2.connect(cluster.url)  # type: ignore[attr-defined]
    con.autocommit = True
    try:
        with con.cursor() as cur:
            # a template must have no sessions; dlt may leave one behind after the sync
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", [template])
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        con.close()
    return cluster.database_url(name)  # type: ignore[attr-defined]


@pytest.fixture()
def push_settings(request: pytest.FixtureRequest, sim: SimAdmin, api_env: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Settings for a fresh copy of the synced warehouse, against the freshly reset simulator. Tests
    that take `destination` run once per warehouse; the others on DuckDB."""
    from pipelines.config import Settings

    name = request.getfixturevalue("destination") if "destination" in request.fixturenames else "duckdb"
    if name == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        template = pg_template(cluster, sim.base_url, tmp_path_factory.mktemp("pg-template"))
        url = database_from_template(cluster, template)
        api_env["DESTINATION__POSTGRES__CREDENTIALS"] = url
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    else:
        template_file = request.getfixturevalue("warehouse_template")
        target = Path(api_env["RETURNING_WAREHOUSE"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_file, target)
    sim.reset()  # building a template may have used the simulator: back to the seeded community
    sim.knobs(bulk_delay_ms=50)
    return Settings.from_env()
