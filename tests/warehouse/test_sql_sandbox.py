"""`returning-sync sql` on DuckDB reaches its own file and nothing else: no file written or read
outside it, no extension installed, no other database attached, no setting switched back."""

from __future__ import annotations

from pathlib import Path

import pytest

from returning_sync.cli import main
from warehouse.connection import connect
from warehouse.location import WarehouseLocation


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "w.duckdb"
    with connect(WarehouseLocation(destination="duckdb", path=path)) as con:
        con.execute("CREATE SCHEMA returning_raw")
        con.execute("CREATE TABLE returning_raw.users AS SELECT 'ann@example.com' AS email UNION ALL SELECT 'bo@example.com'")
    other = tmp_path / "other.duckdb"
    with connect(WarehouseLocation(destination="duckdb", path=other)) as con:
        con.execute("CREATE TABLE secret AS SELECT 42 AS answer")
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(path))
    monkeypatch.delenv("RETURNING_DESTINATION", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("error: refused: this session reaches only")
    return captured.err


def test_copy_to_a_file_is_refused(warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leak = tmp_path / "leak.csv"
    err = refused(["sql", f"COPY (SELECT email FROM returning_raw.users LIMIT 3) TO '{leak}'"], capsys)
    assert "disabled by configuration" in err
    assert not leak.exists()


def test_reading_a_file_is_refused(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(["sql", "SELECT * FROM read_csv('/etc/passwd')"], capsys)
    assert '"/etc/passwd"' in err and "root:" not in err


def test_installing_an_extension_is_refused(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(["sql", "INSTALL httpfs"], capsys)
    refused(["sql", "LOAD httpfs"], capsys)


def test_attaching_another_database_is_refused(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(["sql", "ATTACH 'other.duckdb' AS other"], capsys)
    assert "other.duckdb" in err


def test_the_settings_cannot_be_switched_back(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for statement in ("SET enable_external_access = true", "RESET enable_external_access",
                      "SET lock_configuration = false"):
        err = refused(["sql", statement], capsys)
        assert "locked" in err


def test_reading_the_warehouse_still_works(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT count(*) AS n, current_setting('TimeZone') AS tz FROM returning_raw.users",
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n,tz\n2,UTC\n"


def test_the_sandbox_ends_with_the_query(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The settings belong to the query's connection, not the file: the next writer is not locked."""
    assert main(["sql", "SELECT 1 AS one", "--format", "csv"]) == 0
    with connect(WarehouseLocation(destination="duckdb", path=warehouse)) as con:
        assert con.fetchone("SELECT current_setting('enable_external_access')") == (True,)
        con.execute("ATTACH 'other.duckdb' AS other (READ_ONLY)")
        assert con.fetchone("SELECT answer FROM other.secret") == (42,)
