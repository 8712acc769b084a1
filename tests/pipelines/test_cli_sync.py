"""`returning-sync sync` through the CLI dispatcher: exit codes and one-line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from returning_sync.cli import main
from tests.simadmin import EXPIRED_KEY, READ_ONLY_KEY, SimAdmin

WRONG_KEY = "f" * 64


def sync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sync", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_wrong_key_ends_with_exit_3_and_says_so(sim: SimAdmin, api_env: dict[str, str], monkeypatch, capsys) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", WRONG_KEY)
    code, _, err = sync(capsys, "--resources", "tiers")
    assert code == 3
    assert err.startswith("error: authentication failed on tiers") and "key invalid or expired" in err
    assert "Invalid API key" in err and WRONG_KEY not in err
    assert len(err.strip().splitlines()) == 1


def test_expired_key_ends_with_exit_3_and_says_expired(sim: SimAdmin, api_env: dict[str, str], monkeypatch,
                                                      capsys) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", EXPIRED_KEY)
    code, _, err = sync(capsys, "--resources", "store_config")
    assert code == 3 and "API key expired" in err and EXPIRED_KEY not in err


def test_missing_permission_names_permission_and_endpoint(sim: SimAdmin, api_env: dict[str, str], monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", READ_ONLY_KEY)
    code, _, err = sync(capsys, "--strict", "--resources", "tiers,bulk_jobs")
    assert code == 3
    assert "permission denied on bulk_jobs" in err and "'bulkUpdateUser'" in err and READ_ONLY_KEY not in err


def test_auth_failure_is_not_retried(sim: SimAdmin, api_env: dict[str, str], monkeypatch, capsys) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", WRONG_KEY)
    sync(capsys, "--resources", "tiers")
    assert sim.counters()["by_status"] == {"401": 1}


@pytest.mark.parametrize(("args", "message"), [
    (["--resources", "users,nope"], "unknown resource(s): nope"),
    (["--since", "01/02/2026"], "--since must be a date as YYYY-MM-DD"),
    (["--resources", ","], "no resources selected"),
])
def test_usage_errors_exit_2(api_env: dict[str, str], capsys, args: list[str], message: str) -> None:
    code, _, err = sync(capsys, *args)
    assert code == 2 and message in err


def test_missing_key_is_a_config_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("RETURNING_AI_API_KEY", raising=False)
    code, _, err = sync(capsys, "--resources", "tiers")
    assert code == 2 and "RETURNING_AI_API_KEY is not set" in err


def test_sync_prints_a_summary(sim: SimAdmin, api_env: dict[str, str], capsys) -> None:
    code, out, _ = sync(capsys, "--resources", "tiers,store_config,streaks")
    assert code == 0
    lines = out.splitlines()
    assert all(line.startswith("sync ") for line in lines[:lines.index(next(x for x in lines if x.startswith("resource")))])
    lines = lines[[line.split()[:1] for line in lines].index(["resource"]):]
    assert lines[0].split() == ["resource", "rows", "pages", "requests", "seconds"]
    assert [line.split()[:2] for line in lines[1:4]] == [["store_config", "1"], ["streaks", "3"], ["tiers", "3"]]
    assert lines[-1].startswith("total: 3 requests (0 retried)")


def test_the_key_is_stored_nowhere(sim: SimAdmin, api_env: dict[str, str], capsys) -> None:
    code, out, err = sync(capsys, "--resources", "tiers,users")
    assert code == 0
    key = api_env["RETURNING_AI_API_KEY"].encode()
    root = Path(api_env["RETURNING_WAREHOUSE"]).parent
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files and not [p for p in files if key in p.read_bytes()]
    assert key.decode() not in out + err


def test_sync_process_ends_at_once_with_its_output_and_warehouse_whole(sim: SimAdmin, api_env: dict[str, str]) -> None:
    """A `sync` process skips the interpreter's teardown (cli.QUICK_EXIT): its summary still
    reaches stdout whole, its exit code is the command's, and the warehouse is closed (no WAL left
    to replay) with every row of the run."""
    import os
    import subprocess
    import sys

    from warehouse.duck import connect

    done = subprocess.run([sys.executable, "-m", "returning_sync.cli", "sync", "--resources", "users,tiers"],
                          env={**os.environ, **api_env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("total: ")
    path = Path(api_env["RETURNING_WAREHOUSE"])
    assert not path.with_name(path.name + ".wal").exists()
    con = connect(path, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM returning_raw.users").fetchone()[0] == len(sim.truth_rows("users"))
    finally:
        con.close()
    failed = subprocess.run([sys.executable, "-m", "returning_sync.cli", "sync", "--resources", "tiers"],
                            env={**os.environ, **api_env, "RETURNING_AI_API_KEY": WRONG_KEY},
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 3 and failed.stderr.startswith("error: authentication failed on tiers")
