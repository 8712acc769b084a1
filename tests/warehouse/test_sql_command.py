"""`returning-sync sql`: read-only on every destination, three formats, formula-safe CSV, one plain line
when the warehouse is missing, locked, unreachable or refuses the login."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from returning_sync.cli import main
from warehouse.connection import connect
from warehouse.location import WarehouseLocation

ROWS = [("=HYPERLINK(\"x\")", 1), ("+1", 2), ("-2", -3), ("@SUM(A1)", 4), ("plain", 5)]


@pytest.fixture()
def small_warehouse(destination: str, api_env: dict[str, str]) -> WarehouseLocation:
    """`analytics.t` (five rows) on each destination, written through the port."""
    location = WarehouseLocation.from_env()
    with connect(location) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute("CREATE TABLE analytics.t (name VARCHAR, n INTEGER)")
        con.execute("CREATE SEQUENCE analytics.s")
        for name, n in ROWS:
            con.execute("INSERT INTO analytics.t VALUES (?, ?)", [name, n])
    return location


def count_rows(location: WarehouseLocation) -> int:
    with connect(location, read_only=True) as con:
        row = con.fetchone("SELECT count(*) FROM analytics.t")
    return int(row[0]) if row else -1


def test_csv_neutralises_formula_cells_but_not_numbers(small_warehouse: WarehouseLocation,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select name, n from analytics.t order by n", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["name", "n"], ["'-2", "-3"], ["'=HYPERLINK(\"x\")", "1"], ["'+1", "2"],
                    ["'@SUM(A1)", "4"], ["plain", "5"]]


def test_json_output_is_a_list_of_objects(small_warehouse: WarehouseLocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select n, name from analytics.t where n > 3 order by n", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 4, "name": "@SUM(A1)"}, {"n": 5, "name": "plain"}]


def test_json_output_spells_dates_and_decimals(small_warehouse: WarehouseLocation,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    query = ("select CAST('2024-03-01' AS DATE) AS d, CAST(1.25 AS DECIMAL(10, 2)) AS x, "
             "CAST('2024-03-01 10:00:00+00' AS TIMESTAMPTZ) AS at")
    assert main(["sql", query, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"d": "2024-03-01", "x": 1.25, "at": "2024-03-01T10:00:00+00:00"}]


def test_table_output_counts_rows(small_warehouse: WarehouseLocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select count(*) as c from analytics.t"]) == 0
    out = capsys.readouterr().out
    assert "5" in out and "1 row" in out


@pytest.mark.parametrize("statement", [
    "delete from analytics.t",
    "update analytics.t set n = 0",
    "drop table analytics.t",
    "insert into analytics.t values ('x', 9)",
    "create table analytics.u as select * from analytics.t",
    "select 1; delete from analytics.t",
    "with gone as (delete from analytics.t returning *) select count(*) from gone",
])
def test_writes_are_refused(small_warehouse: WarehouseLocation, statement: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", statement]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err.lower() and err.count("\n") == 1 and "Traceback" not in err
    assert count_rows(small_warehouse) == 5


def test_a_read_that_writes_is_refused_by_the_session(small_warehouse: WarehouseLocation,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Past the one-read-statement check, the session itself refuses (Postgres: a read-only
    transaction; DuckDB: the file opened read-only)."""
    assert main(["sql", "select nextval('analytics.s') as v"]) == 2
    assert "read-only" in capsys.readouterr().err.lower()
    with connect(small_warehouse) as con:  # the sequence never moved
        assert con.fetchone("select nextval('analytics.s')") == (1,)


def test_postgres_sessions_are_read_only(small_warehouse: WarehouseLocation, destination: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    if destination != "postgres":
        pytest.skip("a Postgres session setting")
    assert main(["sql", "select current_setting('transaction_read_only') as ro", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"ro": "on"}]
    assert main(["sql", "select * from analytics.t for update"]) == 2
    assert "read-only" in capsys.readouterr().err.lower()


def test_a_bad_query_is_one_line(small_warehouse: WarehouseLocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "select * from analytics.nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope" in err and err.count("\n") == 1


def test_missing_warehouse_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert main(["sql", "select 1"]) == 2
    assert "no warehouse" in capsys.readouterr().err


@pytest.fixture()
def duckdb_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "w.duckdb"
    with connect(WarehouseLocation(destination="duckdb", path=path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS one")
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(path))
    monkeypatch.delenv("RETURNING_DESTINATION", raising=False)
    return path


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Another process holding the DuckDB file for writing (as a sync or a Dagster run does)."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("argv", [["sql", "select 1", "--wait", "1.5"], ["models", "--wait", "1.5"]])
def test_locked_warehouse_waits_then_exits_6_busy(duckdb_file: Path, argv: list[str]) -> None:
    with held(duckdb_file):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "returning_sync.cli", *argv],
                              capture_output=True, text=True, timeout=60)
        waited = time.monotonic() - started
    assert done.returncode == 6  # busy: documented, not 1 (unexpected)
    assert done.stderr.startswith("error: the warehouse ") and done.stderr.count("\n") == 1
    assert "locked by another process" in done.stderr and "Try again" in done.stderr
    assert waited >= 1.5


def test_table_output_to_a_file_keeps_every_cell_whole(small_warehouse: WarehouseLocation,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    long = "x" * 300 + "END"
    assert main(["sql", f"select '{long}' AS long, n from analytics.t where n = 5"]) == 0
    out = capsys.readouterr().out  # captured: not a terminal
    assert long in out and out.rstrip().endswith("1 row")
    assert [line.count("x") for line in out.splitlines() if "END" in line] == [300]


def _postgres_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)


def test_an_unreachable_server_exits_4(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _postgres_env(monkeypatch, f"postgresql://someone:hunter2-secret@127.0.0.1:{port}/db")
    assert main(["sql", "select 1"]) == 4
    err = capsys.readouterr().err
    assert "unreachable" in err and f"127.0.0.1:{port}" in err and "hunter2-secret" not in err
    assert err.count("\n") == 1


def test_a_refused_login_exits_2_without_the_password(pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    parts = urlsplit(pg_url)
    real_password = parts.password or ""
    wrong = urlunsplit(parts._replace(netloc=f"{parts.username}:not-the-pw-4711@{parts.hostname}:{parts.port}"))
    _postgres_env(monkeypatch, wrong)
    assert main(["sql", "select 1"]) == 2
    captured = capsys.readouterr()
    assert "refused" in captured.err and "password authentication failed" in captured.err
    for secret in ("not-the-pw-4711", real_password):
        assert secret not in captured.err and secret not in captured.out
