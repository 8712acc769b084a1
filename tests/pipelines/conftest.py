"""Fixtures for the pipeline tests: settings for the simulator and a warehouse connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pipelines.config import Settings
from tests.simadmin import SimAdmin
from warehouse.connection import Connection, connect

# the simulator answers kept-alive connections slowly; more connections keep the tests quick
TEST_CONCURRENCY = 8


@pytest.fixture()
def settings(api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("RETURNING_SYNC_CONCURRENCY", str(TEST_CONCURRENCY))
    return Settings.from_env(backoff_base=0.05, backoff_max=2.0)


@pytest.fixture()
def warehouse(settings: Settings) -> Callable[[], Connection]:
    """Opens the configured warehouse (DuckDB file or Postgres) read-only through the port (call it
    after a sync; on DuckDB close it before the next one)."""
    opened: list[Connection] = []

    def connect_() -> Connection:
        con = connect(settings.location, read_only=True)
        opened.append(con)
        return con

    yield connect_  # type: ignore[misc]
    for con in opened:
        con.close()


def counts(con: Connection) -> dict[str, int]:
    """Rows per data table (dlt's and the sync's bookkeeping tables, named `_...`, left out)."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'returning_raw' "
        "AND table_name NOT LIKE '\\_%' ESCAPE '\\'").fetchall()]
    return {t: con.execute(f'SELECT count(*) FROM returning_raw."{t}"').fetchone()[0] for t in sorted(tables)}


def endpoint_counts(sim: SimAdmin) -> dict[str, int]:
    return dict(sim.counters()["by_endpoint"])


@pytest.fixture()
def sim_counters(sim: SimAdmin) -> Iterator[Callable[[], dict[str, int]]]:
    yield lambda: endpoint_counts(sim)
