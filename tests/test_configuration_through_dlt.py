"""Nothing resolves a setting except through dlt: outside `warehouse/configuration.py` (dlt's
`ReturningAliases` provider and the accessors' lookup), no module reads a `RETURNING_*` name of a
setting or a `SOURCES__RETURNING_AI__*` variable from an environment, opens dlt's TOML files, parses
TOML it was not named, or drives dlt's provider container. The simulator and the tests are left out
(the simulator shares no code; tests set the environment up)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESOLVER = Path("warehouse/configuration.py")
# modules that parse TOML, each for a file that is not one of dlt's:
TOML_READERS = {
    Path("pipelines/config.py"): "the registry-overrides file a setting names",
    Path("assets/automation.py"): "assets/automation.toml: schedules and sensors, not dlt settings",
    Path("returning_sync/commands/check.py"): "`check --write FILE` edits the file it is given",
    Path("reverse_etl/definitions.py"): "a push definition's own sidecar file",
}
# the benchmark's peer: dlt's rest_api as a dlt user writes it, not our client (flag defaults only)
PEERS = {Path("bench/peer_rest_api.py")}
# modules that write a throwaway project's dlt files as a user would (they never read one)
PROJECT_WRITERS = {Path("bench/communities.py"): "the benchmark's eight communities, one block and one secret each"}
DLT_FILES = {"secrets.toml", "config.toml"}
DRIVING = {"Container", "PluggableRunContext", "reload_providers", "ConfigProvidersContainer"}
READS = {"get", "pop", "getenv", "setdefault"}


def modules() -> list[Path]:
    skip = {".venv", "tests", "simulator", ".git", "node_modules"}
    return sorted(p.relative_to(ROOT) for p in ROOT.rglob("*.py")
                  if not skip & set(p.relative_to(ROOT).parts[:-1]))


def documented_names() -> set[str]:
    """Every `RETURNING_*` name registered as an alias of a dlt setting."""
    import assets.reverse_etl  # noqa: F401  (each module registers its names on import)
    import pipelines.config  # noqa: F401
    import webhooks.config  # noqa: F401
    from pipelines.seeds import seed_dirs
    from reverse_etl.definitions import push_dirs
    from warehouse.configuration import ALIASES
    from warehouse.models import model_dirs

    for folders in (seed_dirs, model_dirs, push_dirs):  # the user's folders register theirs when asked
        folders({})

    return set(ALIASES.values())


def setting_names(node: ast.AST, names: set[str]) -> list[str]:
    """The setting names a node reads from a mapping: `x.get("N")`, `x["N"]`, `getenv("N")`, `"N" in x`."""
    keys: list[ast.expr] = []
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called in READS and node.args:
            keys.append(node.args[0])
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        keys.append(node.slice)
    elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
        keys.append(node.left)
    return [k.value for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
            and (k.value in names or k.value.upper().startswith("SOURCES__RETURNING_AI"))]


def violations(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        line = f"{path}:{getattr(node, 'lineno', 0)}"
        found += [f"{line} reads {name}" for name in setting_names(node, names)]
        if isinstance(node, ast.Constant) and node.value in DLT_FILES and path not in PROJECT_WRITERS:
            found.append(f"{line} names dlt's file {node.value!r}")
        if isinstance(node, ast.Import | ast.ImportFrom) and path not in TOML_READERS:
            imported = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"{line} imports {m}" for m in imported if m.split(".")[0] in ("tomllib", "tomlkit", "toml")
                      or m.endswith("providers.toml")]
        if isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in DRIVING:
                found.append(f"{line} drives dlt's providers ({name})")
        if isinstance(node, ast.alias) and node.name in DRIVING:
            found.append(f"{line} imports {node.name}")
    return found


def test_only_the_alias_provider_reads_settings_outside_dlt() -> None:
    names = documented_names()
    assert {"RETURNING_AI_API_KEY", "RETURNING_WAREHOUSE", "RETURNING_WEBHOOK_KEY", "RETURNING_SEEDS_DIR", "RETURNING_MODELS_DIR",
            "RETURNING_PUSH_MAX_REJECTION_RATE", "RETURNING_SYNC_CONCURRENCY"} <= names
    paths = modules()
    assert RESOLVER in paths and len(paths) > 50
    found = [v for path in paths if path != RESOLVER and path not in PEERS for v in violations(path, names)]
    assert found == []


@pytest.mark.parametrize(("source", "says"), [
    ('import os\nx = os.environ.get("RETURNING_AI_API_KEY")\n', "reads RETURNING_AI_API_KEY"),
    ('import os\nx = os.environ["SOURCES__RETURNING_AI__CONCURRENCY"]\n', "reads SOURCES__RETURNING_AI__CONCURRENCY"),
    ('import os\nx = os.getenv("RETURNING_WAREHOUSE", "w")\n', "reads RETURNING_WAREHOUSE"),
    ('def f(env):\n    return "RETURNING_WEBHOOK_KEY" in env\n', "reads RETURNING_WEBHOOK_KEY"),
    ('from pathlib import Path\ntext = (Path.cwd() / ".dlt" / "secrets.toml").read_text()\n',
     "names dlt's file 'secrets.toml'"),
    ("import tomllib\n", "imports tomllib"),
    ("from dlt.common.configuration.container import Container\n", "imports Container"),
])
def test_the_guard_finds_each_way_around_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              source: str, says: str) -> None:
    """The check itself can fail: each way of reading a setting behind dlt's back is caught."""
    module = ROOT / "warehouse" / f"_guard_probe_{tmp_path.name}.py"
    module.write_text(source, encoding="utf-8")
    try:
        found = violations(module.relative_to(ROOT), documented_names())
    finally:
        module.unlink()
    assert len(found) == 1 and found[0].endswith(says), found
