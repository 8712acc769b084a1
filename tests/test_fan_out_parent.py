"""`sync --all-communities` runs each community in a child process; the parent only reads the
configuration, checks the arguments and the seed files, and waits. It must not import what a sync
needs (dlt's source, pyarrow, duckdb: about 67 MB, bench/README.md "Issue 22") before its children
start, since it holds that memory for the whole fan-out beside eight syncs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# the parent's state when the fan-out starts: an empty project fails there (no community configured)
PROBE = """
import sys
from returning_sync.cli import main
code = main(["sync", "--all-communities", *sys.argv[1:]])
print(code, sorted(m for m in ("pyarrow", "duckdb", "pipelines.sync", "pipelines.source") if m in sys.modules))
"""


@pytest.mark.parametrize("argv", [(), ("--resources", "users,gamification_daily")], ids=["whole", "resources"])
def test_the_fan_outs_parent_reaches_its_children_without_the_syncs_imports(tmp_path: Path, argv: tuple[str, ...]) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETURNING_", "SOURCES__", "DESTINATION__", "DLT_"))}
    (tmp_path / ".dlt").mkdir()
    env["DLT_PROJECT_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert "no community is configured" in done.stderr, done.stdout + done.stderr  # it got to the fan-out
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr
