"""`returning_sync.query(sql)`: the configured warehouse read through dlt's dataset API, on DuckDB and
Postgres: every schema, DuckDB's SQL transpiled, Arrow and (with the `pandas` extra) DataFrames, only
reads; and the sync itself never imports pandas, even where it is installed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import returning_sync
from pipelines.config import Settings
from pipelines.sync import run_sync
from returning_sync.analysis import PandasMissing, Query
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.errors import WarehouseMissing, WarehouseQueryError
from warehouse.location import WarehouseLocation

HAVE_PANDAS = importlib.util.find_spec("pandas") is not None
ROOT = Path(__file__).resolve().parent.parent
# the members with their tier's name: a raw table joined with a table of another schema
MEMBERS = ("select u._id as member, m.tier_name from returning_raw.users u "
           "join analytics.member_tiers m on m.member = u._id order by 1")


@pytest.fixture()
def synced(destination: str, sim: SimAdmin, api_env: dict[str, str]) -> WarehouseLocation:
    """users and tiers synced from the simulator, and `analytics.member_tiers` built from them
    through the warehouse port, on each destination."""
    run_sync(Settings.from_env(), resources=["users", "tiers"])
    location = WarehouseLocation.from_env()
    with connect(location) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute("CREATE TABLE analytics.member_tiers AS SELECT u._id AS member, t.name AS tier_name "
                    "FROM returning_raw.users u LEFT JOIN returning_raw.tiers t ON t.name = u.tier")
    return location


def held(location: WarehouseLocation, sql: str) -> list[tuple]:
    """What the warehouse port (`returning-sync sql`'s connection) reads for `sql`."""
    with connect(location, read_only=True) as con:
        return con.fetchall(sql)


def test_query_reads_every_schema_of_the_configured_warehouse(synced: WarehouseLocation, sim: SimAdmin) -> None:
    expected = held(synced, MEMBERS)
    members = sim.truth()["users"]["count"]
    assert len(expected) == members > 0
    query = returning_sync.query(MEMBERS)
    assert isinstance(query, Query) and query.location == synced
    table = query.arrow()
    assert table.column_names == ["member", "tier_name"]
    assert [tuple(r.values()) for r in table.to_pylist()] == expected
    assert query.fetchall() == expected
    count = returning_sync.query("select count(*) as n from returning_raw.users").arrow()
    assert count.to_pylist() == [{"n": members}]


def test_query_takes_duckdb_sql_on_every_destination(synced: WarehouseLocation) -> None:
    sql = ("select strftime(CAST('2024-03-01' AS DATE), '%Y') as y, "
           "date_diff('day', DATE '2024-01-01', DATE '2024-03-01') as d")
    query = returning_sync.query(sql)
    assert query.arrow().to_pylist() == [{"y": "2024", "d": 60}]
    if synced.destination == "postgres":
        assert "TO_CHAR" in query.destination_sql
    else:
        assert query.destination_sql == sql


def test_an_empty_result_keeps_its_columns(synced: WarehouseLocation) -> None:
    table = returning_sync.query("select member, tier_name from analytics.member_tiers where false").arrow()
    assert (table.num_rows, table.column_names) == (0, ["member", "tier_name"])


@pytest.mark.parametrize("statement", [
    "delete from analytics.member_tiers",
    "drop table analytics.member_tiers",
    "insert into analytics.member_tiers values ('x', 'y')",
    "select 1; delete from analytics.member_tiers",
])
def test_query_refuses_anything_but_one_read(synced: WarehouseLocation, statement: str) -> None:
    before = held(synced, "select count(*) from analytics.member_tiers")
    with pytest.raises(WarehouseQueryError, match="runs one read statement"):
        returning_sync.query(statement)
    assert held(synced, "select count(*) from analytics.member_tiers") == before


def test_past_the_statement_check_the_session_refuses_writes(synced: WarehouseLocation) -> None:
    """A read that writes (a sequence moved) is refused by the session itself: DuckDB's file is opened
    read-only, a Postgres session is read-only."""
    with connect(synced) as con:
        con.execute("CREATE SEQUENCE analytics.s")
    with pytest.raises(WarehouseQueryError, match="(?i)read-only|read only"):
        returning_sync.query("select nextval('analytics.s') as v").arrow()
    with connect(synced) as con:  # the sequence never moved
        assert con.fetchone("select nextval('analytics.s')") == (1,)
    if synced.destination == "postgres":
        assert returning_sync.query("select current_setting('transaction_read_only') as ro").fetchall() == [("on",)]


def test_a_query_error_is_one_line_naming_the_warehouse(synced: WarehouseLocation) -> None:
    with pytest.raises(WarehouseQueryError) as caught:
        returning_sync.query("select * from analytics.no_such_table").arrow()
    message = str(caught.value)
    assert message.startswith(f"query failed on {synced.describe()}: ") and "no_such_table" in message
    assert "\n" not in message


def test_query_on_a_warehouse_not_built_yet_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.duckdb"
    with pytest.raises(WarehouseMissing, match="no warehouse at"):
        returning_sync.query("select 1", destination="duckdb", warehouse=missing).arrow()
    assert not missing.exists()


@pytest.mark.skipif(HAVE_PANDAS, reason="pandas is installed: the message for its absence cannot show")
def test_df_without_pandas_names_the_extra(synced: WarehouseLocation) -> None:
    with pytest.raises(PandasMissing) as caught:
        returning_sync.query(MEMBERS).df()
    assert "pip install 'returning-sync[pandas]'" in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.skipif(not HAVE_PANDAS, reason="needs the pandas extra: pip install -c constraints.txt -e '.[pandas]'")
def test_df_holds_what_arrow_holds(synced: WarehouseLocation) -> None:
    query = returning_sync.query(MEMBERS)
    frame = query.df()
    assert list(frame.columns) == ["member", "tier_name"]
    assert [tuple(r) for r in frame.itertuples(index=False)] == held(synced, MEMBERS)


# A stand-in `pandas` first on the path: importing it records where from, then fails as an absent
# pandas would. pyarrow tries to import pandas on its first array; the sync must never try.
TRIPWIRE = """import os, traceback
with open(os.environ["PANDAS_TRIPWIRE"], "a") as f:
    f.write("".join(traceback.format_stack()))
raise ImportError("pandas tripwire")
"""


def test_the_sync_never_imports_pandas(api_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "tripwire" / "pandas").mkdir(parents=True)
    (tmp_path / "tripwire" / "pandas" / "__init__.py").write_text(TRIPWIRE, encoding="utf-8")
    marker = tmp_path / "pandas-imported.txt"
    env = {**os.environ, **api_env, "PYTHONPATH": f"{tmp_path / 'tripwire'}{os.pathsep}{ROOT}",
           "PANDAS_TRIPWIRE": str(marker)}
    # the tripwire works: pyarrow alone imports pandas on its first array
    control = subprocess.run([sys.executable, "-c", "import pyarrow as pa; pa.array([1])"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert control.returncode == 0, control.stderr
    assert marker.exists(), "the stand-in pandas was not imported: the check below would prove nothing"
    marker.unlink()
    # a sync of the datasets converted to Arrow (users, daily history, logs): no attempt at all
    done = subprocess.run([str(Path(sys.executable).parent / "returning-sync"), "sync", "--resources",
                           "users,gamification_daily,gamification_logs"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), marker.read_text(encoding="utf-8")
