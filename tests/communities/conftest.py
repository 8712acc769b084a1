"""Fixtures for the community tests: a project folder for dlt's files, a warehouse on each destination."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import ALIASES
from warehouse.location import WarehouseLocation


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with an empty `.dlt` folder and no setting in the environment."""
    for var in {*ALIASES.values(), "DLT_PROJECT_DIR"}:
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("SOURCES__RETURNING_AI")]:
        monkeypatch.delenv(var)
    (tmp_path / ".dlt").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    monkeypatch.undo()  # back in the old directory: dlt's providers read its files again
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


def write(project: Path, name: str, text: str) -> Path:
    path = project / ".dlt" / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(params=("duckdb", "postgres"))
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseLocation:
    """The default community's warehouse: a fresh DuckDB file, or a fresh Postgres database."""
    if request.param == "postgres":
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("pg_url"))
        return WarehouseLocation(destination="postgres", path=tmp_path / "w" / "returning.duckdb")
    return WarehouseLocation(destination="duckdb", path=tmp_path / "w" / "returning.duckdb")
