"""The shape of reverse_etl: one push protocol with two implementations, no import cycle, no private
names used across modules, and ledger states stored as the strings existing warehouses hold."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from reverse_etl.bulk import BulkPush
from reverse_etl.perrow import RowPush
from reverse_etl.protocol import Push
from reverse_etl.states import (
    FAILED_RUN_STATES,
    OPEN_STATES,
    TERMINAL_JOB_STATES,
    KeyState,
    PushState,
    RowState,
)

PACKAGE = Path(__file__).resolve().parents[2] / "reverse_etl"


def _imports() -> dict[str, set[tuple[str, str]]]:
    """module -> (module, name) it imports from reverse_etl, at any depth of its code."""
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    out: dict[str, set[tuple[str, str]]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[tuple[str, str]] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "reverse_etl":
                found |= {(a.name, "") for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reverse_etl."):
                found |= {(node.module.split(".")[1], a.name) for a in node.names}
        out[path.stem] = found
    return out


def test_no_module_of_reverse_etl_imports_itself_back() -> None:
    graph = {m: {d for d, _ in deps} for m, deps in _imports().items() if m != "__init__"}
    cycles = []

    def walk(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                cycles.append([*path[path.index(dep):], dep])
            elif dep in graph:
                walk(dep, [*path, dep])

    for module in sorted(graph):
        walk(module, [module])
    assert cycles == []


def test_no_private_name_is_used_across_modules() -> None:
    private = sorted((m, dep, name) for m, deps in _imports().items() for dep, name in deps if name.startswith("_"))
    assert private == []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                    PACKAGE / f"{node.value.id}.py").exists():
                assert not node.attr.startswith("_"), (path.name, node.value.id, node.attr)


def test_both_targets_follow_the_one_protocol() -> None:
    assert issubclass(BulkPush, Push) and issubclass(RowPush, Push)
    assert not inspect.isabstract(BulkPush) and not inspect.isabstract(RowPush)
    assert inspect.isabstract(Push)
    assert (BulkPush.sending, RowPush.sending) == (PushState.UPLOADING, PushState.SENDING)


def test_the_states_are_stored_as_the_strings_existing_warehouses_hold() -> None:
    assert [s.value for s in PushState] == [
        "uploading", "queued", "processing", "sending", "completed", "completed_with_errors", "failed",
        "not_received", "accepted", "unknown", "confirmed", "released", "no_changes"]
    assert [s.value for s in RowState] == [
        "pending", "invalid", "given_up", "success", "failed", "skipped", "not_sent", "unknown", "unconfirmed",
        "refused"]
    assert [s.value for s in KeyState] == [
        "in_flight", "applied", "failed", "given_up", "unsent", "accepted", "unknown"]
    assert OPEN_STATES == ("uploading", "queued", "processing", "sending")
    assert TERMINAL_JOB_STATES == ("completed", "completed_with_errors", "failed")
    assert FAILED_RUN_STATES == ("not_received", "failed", "unknown")
    assert all(type(s) is str for s in (*OPEN_STATES, *TERMINAL_JOB_STATES, *FAILED_RUN_STATES))
