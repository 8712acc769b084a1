"""Fixtures for the pipeline tests: settings for the simulator and a warehouse connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import duckdb
import pytest

from pipelines.config import Settings
from tests.simadmin import SimAdmin

# the simulator answers kept-alive connections slowly; more connections keep the tests quick
TEST_CONCURRENCY = 8


@pytest.fixture()
def settings(api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("RETURNING_SYNC_CONCURRENCY", str(TEST_CONCURRENCY))
    return Settings.from_env(backoff_base=0.05, backoff_max=2.0)


@pytest.fixture()
def warehouse(settings: Settings) -> Callable[[], duckdb.DuckDBPyConnection]:
    """Opens the warehouse read-only (call it after a sync; close before the next one)."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def connect() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(settings.warehouse), read_only=True)
        opened.append(con)
        return con

    yield connect  # type: ignore[misc]
    for con in opened:
        con.close()


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'returning_raw' "
        "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'").fetchall()]
    return {t: con.execute(f'SELECT count(*) FROM returning_raw."{t}"').fetchone()[0] for t in sorted(tables)}


def endpoint_counts(sim: SimAdmin) -> dict[str, int]:
    return dict(sim.counters()["by_endpoint"])


@pytest.fixture()
def sim_counters(sim: SimAdmin) -> Iterator[Callable[[], dict[str, int]]]:
    yield lambda: endpoint_counts(sim)
