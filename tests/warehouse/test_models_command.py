"""`returning-sync models`: builds on the configured warehouse in dependency order, `--select` with
`+` for upstream and downstream, exit 2 for an unknown model; a failed build keeps the old table;
on Postgres a reader during a rebuild sees the old table or the new one, never an error or a gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from returning_sync.cli import main
from tests.warehouse.rebuild_reader import read_through_rebuilds
from warehouse.connection import connect
from warehouse.errors import WarehouseQueryError
from warehouse.location import WarehouseLocation
from warehouse.models import build_model, discover_models


def write_models(folder: Path, **models: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in models.items():
        (folder / f"{name}.sql").write_text(sql)
    return folder


@pytest.fixture()
def extra_models(destination: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseLocation:
    """RETURNING_MODELS_DIR with a chain a -> b -> c, on an existing, empty warehouse."""
    folder = write_models(tmp_path / "models",
                          a="SELECT 1 AS one UNION ALL SELECT 2",
                          b="SELECT sum(one) AS total FROM analytics.a",
                          c="SELECT total * 10 AS big FROM analytics.b")
    monkeypatch.setenv("RETURNING_MODELS_DIR", str(folder))
    location = WarehouseLocation.from_env()
    with connect(location) as con:  # DuckDB: the file exists (models never create a warehouse)
        con.execute("SELECT 1")
    return location


def built_lines(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[2:-1]]


def test_select_with_plus_builds_the_upstream_models_first(extra_models: WarehouseLocation,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--select", "+b"]) == 0
    out = capsys.readouterr().out
    assert built_lines(out) == ["a", "b"]
    assert "rows" in out.splitlines()[1] and "seconds" in out.splitlines()[1]
    with connect(extra_models, read_only=True) as con:
        assert con.fetchone("SELECT total FROM analytics.b") == (3,)
        assert not con.table_exists("analytics", "c") and not con.table_exists("analytics", "dim_users")


def test_select_builds_just_the_named_models(extra_models: WarehouseLocation,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--select", "a+"]) == 0
    assert built_lines(capsys.readouterr().out) == ["a", "b", "c"]
    assert main(["models", "--select", "c,a"]) == 0  # dependency order, whatever the order given
    assert built_lines(capsys.readouterr().out) == ["a", "c"]
    with connect(extra_models, read_only=True) as con:
        assert con.fetchone("SELECT big FROM analytics.c") == (30,)


def test_an_unknown_model_exits_2_before_connecting(extra_models: WarehouseLocation,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--select", "a,nope"]) == 2
    captured = capsys.readouterr()
    assert "unknown model 'nope'" in captured.err and captured.out == ""


def test_a_model_that_fails_exits_2_and_names_it(extra_models: WarehouseLocation, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_models(tmp_path / "models", broken="SELECT * FROM returning_raw.no_such_table")
    assert main(["models", "--select", "broken"]) == 2
    err = capsys.readouterr().err
    assert "model broken" in err and "no_such_table" in err and err.count("\n") == 1


def test_a_missing_duckdb_warehouse_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RETURNING_DESTINATION", raising=False)
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert main(["models"]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


def test_a_failed_rebuild_keeps_the_old_table(extra_models: WarehouseLocation, tmp_path: Path) -> None:
    good = discover_models(write_models(tmp_path / "good", m="SELECT 1 AS x UNION ALL SELECT 2"))[0]
    bad = discover_models(write_models(tmp_path / "bad", m="SELECT x FROM returning_raw.no_such_table"))[0]
    with connect(extra_models) as con:
        assert build_model(con, good).rows == 2
        with pytest.raises(WarehouseQueryError, match="model m"):
            build_model(con, bad)
        assert con.fetchone("SELECT count(*) FROM analytics.m") == (2,)
        assert [t for t in con.tables("analytics") if t.startswith("m")] == ["m"]  # no m__building left


def test_a_reader_during_rebuilds_sees_the_old_or_the_new_table(pg_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    sizes = (150_000, 300_000)
    versions = [discover_models(write_models(tmp_path / str(n), big=(
        f"SELECT g.i AS i, md5(CAST(g.i AS VARCHAR)) AS h FROM generate_series(1, {n}) AS g(i)")))[0]
        for n in sizes]
    location = WarehouseLocation.from_env()
    with connect(location) as writer:
        build_model(writer, versions[0])
        seen = read_through_rebuilds(location, writer, versions, "SELECT count(*) FROM analytics.big")
    assert seen.errors == []
    assert set(seen.counts) == set(sizes)  # both versions seen, nothing else (no empty or missing table)
    assert seen.during >= 6  # the reader kept reading through the rebuilds
