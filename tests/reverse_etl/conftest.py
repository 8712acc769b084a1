"""Fixtures for push tests against the simulator: a warehouse synced once per module, copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

RAW_RESOURCES = ["users", "user_fields", "gamification_logs", "tiers"]
MODELS = ["dim_users", "fct_gamification_events"]


def build_warehouse(base_url: str, path: Path) -> None:
    """Sync what the push definitions read, then build the models they use."""
    from pipelines.config import Settings
    from pipelines.sync import run_sync
    from warehouse.duck import connect
    from warehouse.models import build_model, discover_models

    settings = Settings.from_env({"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": base_url,
                                  "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(path)})
    run_sync(settings, resources=RAW_RESOURCES)
    con = connect(path)
    try:
        for model in discover_models():
            if model.name in MODELS:
                build_model(con, model)
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse_template(sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tests.conftest import SIM_SEED, SIM_USERS

    SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS).reset()
    path = tmp_path_factory.mktemp("template") / "returning.duckdb"
    build_warehouse(sim_server, path)
    yield path


@pytest.fixture()
def push_settings(sim: SimAdmin, api_env: dict[str, str], warehouse_template: Path):
    """Settings for a fresh copy of the synced warehouse, against the freshly reset simulator."""
    from pipelines.config import Settings

    target = Path(api_env["RETURNING_WAREHOUSE"])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse_template, target)
    sim.knobs(bulk_delay_ms=50)
    return Settings.from_env()
