"""The declarations sit at the bottom of the import graph: no module they import imports them back
(an import under `if TYPE_CHECKING:` counts), and none of them imports inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "warehouse", "webhooks", "reverse_etl", "assets", "returning_sync")
DECLARATIONS = ("pipelines.pagination", "pipelines.endpoint", "pipelines.dataset", "pipelines.datasets",
                "pipelines.registry", "pipelines.tables", "pipelines.declared", "pipelines.source",
                "pipelines.probe", "pipelines.endpoints_doc")


def source_of(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports(module: str, *, nested: bool = False) -> set[str]:
    """The project modules `module` imports at module level (`nested`: inside functions only)."""
    path = source_of(module)
    if path is None:
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    inner = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    out: set[str] = set()
    for node in ast.walk(tree):
        if (id(node) in inner) != nested:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {n for n in names if n.split(".")[0] in PACKAGES and source_of(n) is not None}
    return out


def reaches(start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(imports(start))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imports(module))
    return seen


@pytest.mark.parametrize("module", DECLARATIONS)
def test_no_cycle_through_the_declarations(module: str) -> None:
    assert module not in reaches(module)


@pytest.mark.parametrize("module", DECLARATIONS)
def test_no_import_inside_a_function(module: str) -> None:
    assert imports(module, nested=True) == set()


def test_the_declarations_import_no_resource() -> None:
    """Views and registry below the configuration: the resources (which need a run) sit above."""
    for module in ("pipelines.datasets", "pipelines.registry", "pipelines.tables", "pipelines.declared"):
        assert not {m for m in reaches(module) if m.startswith(("pipelines.resources", "pipelines.config"))}, module
