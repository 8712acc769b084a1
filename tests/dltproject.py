"""A working directory with an empty `.dlt` folder and no setting in the environment, for the tests
of configuration: the fixtures `project` of several test modules are this one generator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from warehouse.configuration import ALIASES


def empty_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every documented variable and every `SOURCES__RETURNING_AI*` one unset, `tmp_path/.dlt`
    created, the working directory `tmp_path`; afterwards back in the old directory, with dlt's
    providers reading its files again."""
    for var in {*ALIASES.values(), "DLT_PROJECT_DIR"}:
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("SOURCES__RETURNING_AI")]:
        monkeypatch.delenv(var)
    (tmp_path / ".dlt").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    monkeypatch.undo()
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


def write(project: Path, name: str, text: str) -> Path:
    """`.dlt/<name>` of the project, with `text`."""
    path = project / ".dlt" / name
    path.write_text(text, encoding="utf-8")
    return path
