"""Every shipped push definition (DuckDB's dialect) runs on Postgres, transpiled, with the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reverse_etl import list_definitions
from reverse_etl.csvfile import format_value
from tests.reverse_etl.conftest import database_from_template, pg_template
from warehouse.connection import connect
from warehouse.location import WarehouseLocation


def rows(location: WarehouseLocation, sql: str) -> list[tuple[str, ...]]:
    with connect(location, read_only=True) as con:
        return [tuple(format_value(v) for v in row) for row in con.fetchall(sql)]


@pytest.mark.parametrize("name", [d.name for d in list_definitions() if not d.per_row])  # per-row: test_row_pushes
def test_a_shipped_definition_returns_the_same_rows_on_postgres_as_on_duckdb(
        name: str, sim_server: str, warehouse_template: Path, pg_cluster: Any,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = next(d for d in list_definitions() if d.name == name)
    on_duckdb = rows(WarehouseLocation(path=warehouse_template), definition.sql)
    url = database_from_template(pg_cluster, pg_template(pg_cluster, sim_server, tmp_path))
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    on_postgres = rows(WarehouseLocation(destination="postgres", path=tmp_path / "unused.duckdb"), definition.sql)
    assert on_duckdb, f"{name} selects nobody in the seeded community"
    assert on_postgres == on_duckdb
