"""Fixtures for the community tests: a project folder for dlt's files, a warehouse on each destination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dltproject import empty_project
from warehouse.location import WarehouseLocation


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with an empty `.dlt` folder and no setting in the environment."""
    yield from empty_project(tmp_path, monkeypatch)


@pytest.fixture(params=("duckdb", "postgres"))
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseLocation:
    """The default community's warehouse: a fresh DuckDB file, or a fresh Postgres database."""
    if request.param == "postgres":
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("pg_url"))
        return WarehouseLocation(destination="postgres", path=tmp_path / "w" / "returning.duckdb")
    return WarehouseLocation(destination="duckdb", path=tmp_path / "w" / "returning.duckdb")
