"""`returning-sync ui` starts Dagster's current dev server (`dg dev`), which warns of nothing superseded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from returning_sync.commands.ui import dagster_command

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_ui_runs_dg_dev_on_the_workspace() -> None:
    argv = dagster_command("127.0.0.1", 3000)
    assert Path(argv[0]).name == "dg" and Path(argv[0]).exists()
    assert argv[1:] == ["dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", "3000"]


def test_the_dev_server_command_prints_no_deprecation_warning(tmp_path: Path) -> None:
    """Run to the instance (DAGSTER_HOME a file: it stops there, quickly): `dagster dev` had warned
    "superseded ... Use 'dg dev' instead" by then."""
    home = tmp_path / "not-a-directory"
    home.write_text("")
    done = subprocess.run(dagster_command("127.0.0.1", 3999), cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"})
    output = done.stdout + done.stderr
    assert "DAGSTER_HOME" in output or "dagster.yaml" in output or "Traceback" in output, output[-2000:]
    for word in ("SupersessionWarning", "superseded", "DeprecationWarning", "deprecated"):
        assert word not in output, output[-2000:]
