"""Every shipped model and push definition, run through a connection scoped to a community, reaches
that community's schemas only; after a real sync from the simulator, the models built for `acme`
over a copy of the raw data equal the default community's, on DuckDB and on Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from returning_sync.cli import main
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.location import COMMUNITY_SCHEMAS, WarehouseLocation
from warehouse.models import build_all, discover_models
from warehouse.schema_map import pairs, rewrite

ROOT = Path(__file__).resolve().parents[2]
ACME = WarehouseLocation(community="acme").schema_map
SHIPPED = sorted([*(ROOT / "warehouse" / "models").glob("*.sql"), *(ROOT / "warehouse" / "reverse_etl").glob("*.sql")])


def references(sql: str) -> set[tuple[str, str]]:
    return {(t.db, t.name) for s in sqlglot.parse(sql, read="duckdb") if s for t in s.find_all(exp.Table) if t.db}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_sql_file_is_scoped_whole(path: Path) -> None:
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    before = references(sql)
    assert before and {db for db, _ in before} <= set(COMMUNITY_SCHEMAS) | {"seeds"}
    for dialect in ("duckdb", "postgres"):
        text = sql if dialect == "duckdb" else sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
        after = references(rewrite(text, dialect, "duckdb", pairs(ACME))[0])
        assert after == {(ACME.get(db, db), name) for db, name in before}


def test_the_shipped_models_built_for_a_community_equal_the_defaults(
        destination: str, sim: SimAdmin, api_env: dict[str, str]) -> None:
    assert main(["sync"]) == 0 and main(["models"]) == 0
    location = WarehouseLocation.from_env()
    with connect(location) as con:
        raw = con.tables("returning_raw")
        con.execute("CREATE SCHEMA returning_raw__acme")
        for table in raw:
            con.execute(f'CREATE TABLE returning_raw__acme."{table}" AS SELECT * FROM returning_raw."{table}"')
    with connect(location.for_community("acme")) as con:
        results = build_all(con)
    assert [r.model for r in results] == [m.name for m in discover_models()]
    with connect(location) as con:
        assert con.tables("analytics__acme") == con.tables("analytics")
        for model in con.tables("analytics"):
            columns = ", ".join(f'"{c}"' for c, _ in con.columns("analytics", model))
            ours = con.fetchall(f'SELECT {columns} FROM analytics."{model}" ORDER BY {columns}')
            theirs = con.fetchall(f'SELECT {columns} FROM analytics__acme."{model}" ORDER BY {columns}')
            assert ours == theirs and len(ours) == {r.model: r.rows for r in results}[model], model
