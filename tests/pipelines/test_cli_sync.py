"""`returning-sync sync` through the CLI dispatcher: exit codes and one-line messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from returning_sync.cli import main
from tests.simadmin import EXPIRED_KEY, READ_ONLY_KEY, SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation

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


@pytest.fixture()
def dlt_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory of a project with its own `.dlt` folder; dlt's providers read it."""
    (tmp_path / "project" / ".dlt").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project")
    yield tmp_path / "project"
    monkeypatch.undo()
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()


@pytest.mark.parametrize("where", ["RETURNING_AI_API_KEY", "SOURCES__RETURNING_AI__API_KEY", "secrets.toml"])
def test_wrong_key_names_where_the_key_came_from_never_the_key(sim: SimAdmin, api_env: dict[str, str],
                                                               dlt_project: Path, monkeypatch, capsys,
                                                               where: str) -> None:
    monkeypatch.delenv("RETURNING_AI_API_KEY")
    secrets = dlt_project / ".dlt" / "secrets.toml"
    if where == "secrets.toml":
        secrets.write_text(f'[sources.returning_ai]\napi_key = "{WRONG_KEY}"\n')
        told = f"sources.returning_ai.api_key in {secrets}"
    else:
        monkeypatch.setenv(where, WRONG_KEY)
        told = f"{where} in the environment"
    code, _, err = sync(capsys, "--resources", "tiers")
    assert code == 3 and err.count("\n") == 1
    assert err.rstrip().endswith(f"; check {told}") and WRONG_KEY not in err


@pytest.mark.parametrize("community", ["123", "6502c9e514a3e564c5c09c0a0", "6502c9e514a3e564c5c09c0z"])
def test_a_community_id_that_is_not_24_hex_exits_2_before_any_call(sim: SimAdmin, api_env: dict[str, str],
                                                                   monkeypatch, capsys, community: str) -> None:
    monkeypatch.setenv("RETURNING_AI_COMMUNITY_ID", community)
    sim.reset_counters()
    code, out, err = sync(capsys, "--resources", "tiers")
    assert code == 2 and out == ""
    assert err == (f"error: RETURNING_AI_COMMUNITY_ID must be the community's id, 24 hex characters "
                   f"(e.g. 6502c9e514a3e564c5c09c0a), got {community!r} (from RETURNING_AI_COMMUNITY_ID in the "
                   "environment)\n")
    assert sim.counters()["total"] == 0


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
    """A `sync` process exits normally (no thread or connection left to hold it open): its summary
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


SHIPPED_SEEDS = "seeds: 3 tables into schema seeds (announcements 1 row, fulfilment 3 rows, voucher_codes 3 rows)"


def seed_columns(table: str) -> list[str]:
    """The columns of `seeds.<table>` on the configured warehouse, dlt's own left out."""
    with connect(WarehouseLocation.from_env(), read_only=True) as con:
        rows = con.fetchall("SELECT column_name FROM information_schema.columns WHERE table_schema = 'seeds' "
                            "AND table_name = ? ORDER BY ordinal_position", [table])
    return [r[0] for r in rows if not r[0].startswith("_dlt")]


def test_a_whole_sync_loads_the_seeds_and_every_shipped_dry_run_works(sim: SimAdmin, api_env: dict[str, str],
                                                                      destination: str, capsys) -> None:
    code, out, err = sync(capsys)
    assert code == 0, err
    assert SHIPPED_SEEDS in out.splitlines()
    assert seed_columns("fulfilment") == ["transaction_id", "status", "carrier", "tracking_number", "shipped_on"]
    assert main(["models"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    for name in ("orders_shipped", "voucher_codes", "weekly_gold_welcome"):
        assert main(["push", name, "--dry-run"]) == 0, capsys.readouterr()
        assert capsys.readouterr().out.startswith(f"{name}: dry run\n")


def test_a_sync_of_some_resources_leaves_the_seeds_alone(sim: SimAdmin, api_env: dict[str, str], capsys) -> None:
    code, out, _ = sync(capsys, "--resources", "tiers")
    assert code == 0 and "seeds:" not in out
    with connect(WarehouseLocation.from_env(), read_only=True) as con:
        assert con.tables("seeds") == []


def test_seeds_only_loads_the_seeds_dir_of_the_dlt_config_without_a_key_or_a_call(
        sim: SimAdmin, api_env: dict[str, str], destination: str, dlt_project: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("RETURNING_AI_API_KEY")
    mine = dlt_project / "my_seeds"
    mine.mkdir()
    (dlt_project / ".dlt" / "config.toml").write_text('[sources.returning_ai]\nseeds_dir = "my_seeds"\n')
    (mine / "fulfilment.csv").write_text("transaction_id,status,carrier\nORD1,Shipping,DHL\nORD2,Delivered,\n")
    sim.reset_counters()
    code, out, err = sync(capsys, "--seeds-only")
    assert code == 0, err
    assert out == ("seeds: 3 tables into schema seeds (announcements 1 row, fulfilment 2 rows, "
                   "voucher_codes 3 rows)\n")
    assert seed_columns("fulfilment") == ["transaction_id", "status", "carrier"]
    (mine / "fulfilment.csv").write_text("transaction_id,status\nORD3,Shipping\n")  # carrier removed
    assert sync(capsys, "--seeds-only")[0] == 0
    assert seed_columns("fulfilment") == ["transaction_id", "status"]  # replaced: the column is gone
    with connect(WarehouseLocation.from_env(), read_only=True) as con:
        assert con.fetchall("SELECT transaction_id, status FROM seeds.fulfilment") == [("ORD3", "Shipping")]
    assert sim.counters()["total"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds-only", "--resources", "users"], "--seeds-only loads the seed CSVs alone"),
    (["--seeds-only", "--full-refresh"], "--seeds-only loads the seed CSVs alone"),
])
def test_seeds_only_takes_no_api_options(api_env: dict[str, str], capsys, args: list[str], message: str) -> None:
    code, out, err = sync(capsys, *args)
    assert code == 2 and out == "" and err.startswith(f"error: {message}") and err.count("\n") == 1


def test_a_bad_seed_file_ends_a_whole_sync_before_it_loads_anything(sim: SimAdmin, api_env: dict[str, str],
                                                                    tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fulfilment.csv").write_text("transaction_id,status\nORD1\n")
    monkeypatch.setenv("RETURNING_SEEDS_DIR", str(tmp_path / "bad"))
    code, _, err = sync(capsys)
    assert code == 2 and err == f"error: seed {tmp_path / 'bad' / 'fulfilment.csv'} line 2: 1 cell for 2 columns\n"
    assert not Path(api_env["RETURNING_WAREHOUSE"]).exists()  # checked before the warehouse was opened
