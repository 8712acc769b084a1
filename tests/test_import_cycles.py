"""No import cycles between the project's modules (issue 21).

Every module of the packages below (and `returning_errors`) is parsed with `ast`, and every
`import` / `from ... import` statement in it is an edge, wherever it stands: at the top, inside a
function or method, inside `try:`. An import inside a function is how a cycle is hidden from
Python (the second module is only imported once the first has finished), so hiding it that way
does not remove it: the two modules still cannot be understood, tested or moved apart.

Not edges:
- imports under `if TYPE_CHECKING:` (their `else:` branch counts). They never run; with
  `from __future__ import annotations` they name a type for the checker and the reader, the one
  sanctioned way for two modules to mention each other's types without depending on each other
  at run time;
- a package's `__init__` implied by importing one of its submodules. Python runs it first, but a
  package that re-exports its submodules (`reverse_etl/__init__.py`) would otherwise form a
  "cycle" with each of them; an explicit `import reverse_etl` / `from reverse_etl import x` is an
  edge to the package like any other;
- `importlib.import_module` with a computed name (the command line's sub-commands), which no
  parser can follow.

`from a.b import c` is an edge to the module `a.b.c` when that is a module of the project, else to
`a.b`; relative imports are resolved against the importing module's package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "assets", "warehouse", "reverse_etl", "returning_sync", "webhooks", "simulator")
TOP_MODULES = ("returning_errors",)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    in_function: bool

    def where(self) -> str:
        path = MODULES[self.source].relative_to(ROOT)
        return f"{path}:{self.line}{' (inside a function)' if self.in_function else ''}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules one import statement reaches."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = _package_of(module).split(".")
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in MODULES else base)
    return out


def edges_of(module: str) -> list[Edge]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))
    edges: list[Edge] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` of a TYPE_CHECKING block runs
                visit(child, in_function)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(module, node):
                if target in MODULES and target != module:
                    edges.append(Edge(module, target, node.lineno, in_function))
            return
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return edges


def import_graph() -> dict[str, list[Edge]]:
    return {module: edges_of(module) for module in MODULES}


def cycles(graph: dict[str, list[Edge]]) -> list[list[Edge]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan's algorithm,
    then a breadth-first search inside the group), each starting at its first module by name;
    `groups` names every module of each group."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in graph[v]:
            w = edge.target
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    found = []
    for group in sorted(groups, key=min):
        start = min(group)
        paths: dict[str, list[Edge]] = {start: []}
        queue = [start]
        cycle: list[Edge] | None = None
        while queue and cycle is None:
            v = queue.pop(0)
            for edge in sorted(graph[v], key=lambda e: (e.target, e.line)):
                if edge.target not in group:
                    continue
                if edge.target == start:
                    cycle = [*paths[v], edge]
                    break
                if edge.target not in paths:
                    paths[edge.target] = [*paths[v], edge]
                    queue.append(edge.target)
        assert cycle is not None
        found.append(cycle)
    return found


def groups(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """The modules of each group that import one another, in and out (each a cycle or several)."""
    reach = {v: _reachable(graph, v) for v in graph}
    seen: set[str] = set()
    out = []
    for v in sorted(graph):
        if v in seen or v not in reach[v]:
            continue
        group = sorted(w for w in reach[v] if v in reach[w])
        seen.update(group)
        out.append(group)
    return out


def _reachable(graph: dict[str, list[Edge]], start: str) -> set[str]:
    found: set[str] = set()
    todo = [e.target for e in graph[start]]
    while todo:
        v = todo.pop()
        if v not in found:
            found.add(v)
            todo.extend(e.target for e in graph[v])
    return found


def describe(cycle: list[Edge], group: list[str]) -> str:
    names = " -> ".join([cycle[0].source, *(e.target for e in cycle)])
    steps = "".join(f"\n    {e.source} imports {e.target} at {e.where()}" for e in cycle)
    rest = f"\n    (all of {', '.join(group)} import one another)" if len(group) > len(cycle) else ""
    return f"  {names}{steps}{rest}"


def test_no_module_imports_itself_back() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        describe(c, g) for c, g in zip(found, groups(graph), strict=True))


def test_the_walk_sees_imports_inside_functions_and_skips_type_checking_blocks() -> None:
    """The walk itself: it finds the project's modules, follows an import hidden in a function,
    resolves `from package import module`, and leaves out what only the type checker reads."""
    assert {"pipelines.client", "warehouse.connection", "returning_sync.cli", "simulator", "returning_errors"} <= set(MODULES)
    graph = import_graph()
    sync_command = {e.target: e for e in graph["returning_sync.commands.sync"]}
    assert sync_command["pipelines.sync"].in_function  # `from pipelines.sync import run_sync` inside run()
    assert "pipelines.context" not in sync_command  # under `if TYPE_CHECKING:` only
    assert not sync_command["pipelines.config"].in_function
    assert {"warehouse.destination", "warehouse.errors", "warehouse.location", "warehouse.duck"} <= {
        e.target for e in graph["warehouse.connection"]}
    made_up = {"a": [Edge("a", "b", 1, False)], "b": [Edge("b", "c", 2, True)], "c": [Edge("c", "a", 3, False)],
               "d": [Edge("d", "a", 4, False)]}
    assert [[(e.source, e.target) for e in c] for c in cycles(made_up)] == [[("a", "b"), ("b", "c"), ("c", "a")]]
    assert groups(made_up) == [["a", "b", "c"]]
    assert cycles({"a": [Edge("a", "b", 1, False)], "b": []}) == []
