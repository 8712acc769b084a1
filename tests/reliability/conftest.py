"""Fixtures for the reliability suite: settings with short back-offs and a synced starting point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.simadmin import SimAdmin

# One resource per pagination scheme: cursor, page-total-pages, page-meta-total, skip-limit, has-next.
SCHEME_RESOURCES = ["users", "gamification_logs", "user_field_histories", "store_products", "streaks"]


@pytest.fixture()
def make_settings(api_env: dict[str, str]) -> Callable[..., Any]:
    """Settings from the environment a user would set, with back-offs short enough for tests."""
    from pipelines.config import Settings

    def build(**overrides: Any) -> Any:
        base: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05}
        return Settings.from_env(**{**base, **overrides})

    return build


@pytest.fixture()
def warehouse(api_env: dict[str, str]) -> Path:
    return Path(api_env["RETURNING_WAREHOUSE"])


def quiet(sim: SimAdmin) -> None:
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []}, rate_limit=0, latency_ms=0)


# the reverse-ETL suite's synced warehouse, reused for push tests here
from tests.reverse_etl.conftest import push_settings, warehouse_template  # noqa: E402, F401
