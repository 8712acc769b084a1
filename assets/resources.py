"""Dagster resources: the DuckDB warehouse, the API settings and dlt. Injected, so tests swap them.

Unset fields fall back to the environment (`RETURNING_AI_*`, `RETURNING_WAREHOUSE`, see
shared/interfaces.md) when a run starts, not when the code location loads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import ConfigurableResource
from dagster_dlt import DagsterDltResource

from warehouse.duck import connect, warehouse_path

# Every asset or check that opens the DuckDB file runs in this pool (limit 1), so overlapping runs
# queue for the single-writer lock instead of failing on it.
WAREHOUSE_POOL = "duckdb_warehouse"

ENV_FIELDS = {
    "api_key": "RETURNING_AI_API_KEY",
    "base_url": "RETURNING_AI_BASE_URL",
    "community_id": "RETURNING_AI_COMMUNITY_ID",
    "warehouse": "RETURNING_WAREHOUSE",
}


class DuckDBWarehouse(ConfigurableResource):
    """The warehouse file. `path` unset: $RETURNING_WAREHOUSE or warehouse/returning.duckdb."""

    path: str | None = None
    lock_wait_seconds: float = 120.0

    def file(self) -> str:
        return str(warehouse_path(self.path).resolve())

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.file(), read_only=read_only, wait_seconds=self.lock_wait_seconds)
        try:
            yield con
        finally:
            con.close()


class ReturningApiSettings(ConfigurableResource):
    """Where the Returning.AI API is and which key to use; unset fields come from the environment.

    Leave `api_key` unset (RETURNING_AI_API_KEY is read when a run starts) or pass
    `EnvVar("...")`: Dagster stores a literal value in its run records and shows it in the UI."""

    api_key: str | None = None
    base_url: str | None = None
    community_id: str | None = None
    warehouse: str | None = None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for field, var in ENV_FIELDS.items():
            value = getattr(self, field)
            if value:
                env[var] = value
        return env

    def settings(self) -> Any:
        """The client's `pipelines.config.Settings` for these values."""
        return settings_from(self.environment())


def settings_from(env: Mapping[str, str]) -> Any:
    from pipelines.config import Settings

    return Settings.from_env(dict(env))


def default_resources() -> dict[str, Any]:
    return {
        "dlt": DagsterDltResource(),
        "returning": ReturningApiSettings(),
        "warehouse": DuckDBWarehouse(),
    }
