"""`returning-sync sql`: read-only, three formats, formula-safe CSV, a plain answer while the file is locked."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from returning_sync.cli import main


@pytest.fixture()
def small_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE TABLE analytics.t (name VARCHAR, n INTEGER)")
    con.execute("INSERT INTO analytics.t VALUES ('=HYPERLINK(\"x\")', 1), ('+1', 2), ('-2', -3), "
                "('@SUM(A1)', 4), ('plain', 5)")
    con.close()
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(path))
    return path


def test_csv_neutralises_formula_cells_but_not_numbers(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select name, n from analytics.t order by n", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["name", "n"], ["'-2", "-3"], ["'=HYPERLINK(\"x\")", "1"], ["'+1", "2"],
                    ["'@SUM(A1)", "4"], ["plain", "5"]]


def test_json_output_is_a_list_of_objects(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select n, name from analytics.t where n > 3 order by n", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 4, "name": "@SUM(A1)"}, {"n": 5, "name": "plain"}]


def test_table_output_counts_rows(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select count(*) as c from analytics.t"]) == 0
    out = capsys.readouterr().out
    assert "5" in out and "1 row" in out


def test_writes_are_refused(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "delete from analytics.t"]) == 2
    assert "read-only" in capsys.readouterr().err.lower()
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.execute("select count(*) from analytics.t").fetchone() == (5,)
    con.close()


def test_missing_warehouse_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert main(["sql", "select 1"]) == 2
    assert "no warehouse" in capsys.readouterr().err


def test_locked_warehouse_waits_then_says_so(small_warehouse: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(small_warehouse)!r})
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "returning_sync.cli", "sql", "select 1", "--wait", "1.5"],
                              capture_output=True, text=True, timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode != 0
    assert "locked by another process" in done.stderr and "Try again" in done.stderr
    assert waited >= 1.5
    assert "Traceback" not in done.stderr
