"""The model runner: dependencies read from the SQL, a dropped-in file becomes a model, RETURNING_MODELS_DIR
adds and replaces models, selections, and every shipped model transpiles and materializes per destination."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from warehouse.models import (
    BUILDING_SUFFIX,
    MODELS_DIR,
    ModelError,
    build_all,
    discover_models,
    materialization,
    select_models,
)


def test_dependencies_are_read_from_the_sql(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- first\nWITH x AS (SELECT * FROM returning_raw.users) SELECT * FROM x")
    (tmp_path / "b.sql").write_text("SELECT * FROM analytics.a JOIN returning_raw.tiers t ON true")
    (tmp_path / "c.sql").write_text("SELECT * FROM b, returning_raw.gamification_logs")
    models = discover_models(tmp_path)
    assert [m.name for m in models] == ["a", "b", "c"]
    by = {m.name: m for m in models}
    assert by["a"].raw_deps == ("users",) and by["a"].model_deps == ()
    assert by["b"].raw_deps == ("tiers",) and by["b"].model_deps == ("a",)
    assert by["c"].raw_deps == ("gamification_logs",) and by["c"].model_deps == ("b",)
    assert by["a"].description == "first"


def test_reading_an_unknown_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("SELECT * FROM analytics.nope")
    with pytest.raises(ModelError, match="no model file nope.sql"):
        discover_models(tmp_path)


def test_a_dropped_in_file_is_built_in_dependency_order(tmp_path: Path) -> None:
    (tmp_path / "z_first.sql").write_text("SELECT 1 AS one UNION ALL SELECT 2")
    (tmp_path / "a_second.sql").write_text("SELECT sum(one) AS total FROM analytics.z_first")
    con = duckdb.connect()
    results = build_all(con, tmp_path)
    assert [(r.model, r.rows) for r in results] == [("z_first", 2), ("a_second", 1)]
    assert con.execute("SELECT total FROM analytics.a_second").fetchone() == (3,)


SHIPPED = {"dim_users", "fct_gamification_daily", "fct_gamification_events", "fct_redemptions",
           "user_field_changes", "community_daily_kpis", "cohort_retention"}


@pytest.mark.parametrize("dialect", ["postgres", "snowflake", "bigquery"])
def test_shipped_models_transpile(dialect: str) -> None:
    models = discover_models(MODELS_DIR)
    assert {m.name for m in models} >= SHIPPED
    for model in models:
        out = sqlglot.transpile(model.sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)[0]
        assert "SELECT" in out.upper(), model.name
        for statement in materialization(model, dialect).statements:  # every generated statement parses back
            sqlglot.parse_one(statement, read=dialect)


def test_snowflake_and_bigquery_replace_in_one_statement_in_utc() -> None:
    model = next(m for m in discover_models(MODELS_DIR) if m.name == "fct_gamification_events")
    snowflake = materialization(model, "snowflake")
    assert not snowflake.transaction  # Snowflake commits DDL itself; CREATE OR REPLACE is atomic there
    assert snowflake.statements[0] == "ALTER SESSION SET TIMEZONE = 'UTC'"
    assert snowflake.statements[1].startswith("CREATE OR REPLACE TABLE analytics.fct_gamification_events AS")
    assert len(snowflake.statements) == 2
    bigquery = materialization(model, "bigquery")  # BigQuery's DATE(timestamp) is a UTC day already
    assert not bigquery.transaction and len(bigquery.statements) == 1
    assert bigquery.statements[0].startswith("CREATE OR REPLACE TABLE analytics.fct_gamification_events AS")
    assert "CAST(l.created_at AS DATE) AS activity_date" in bigquery.statements[0]


def test_postgres_builds_beside_then_swaps_in_one_transaction() -> None:
    model = next(m for m in discover_models(MODELS_DIR) if m.name == "dim_users")
    plan = materialization(model, "postgres")
    building = f"analytics.dim_users{BUILDING_SUFFIX}"
    assert plan.transaction
    assert plan.statements[0] == "SET LOCAL TIME ZONE 'UTC'"
    assert "pg_advisory_xact_lock" in plan.statements[1]
    assert plan.statements[2:3] == (f"DROP TABLE IF EXISTS {building}",)
    assert plan.statements[3].startswith(f"CREATE TABLE {building} AS")
    assert plan.statements[4:] == ("DROP TABLE IF EXISTS analytics.dim_users",
                                   f"ALTER TABLE {building} RENAME TO dim_users")
    duck = materialization(model, "duckdb")
    assert duck.transaction and duck.statements[-1] == f"CREATE OR REPLACE TABLE analytics.dim_users AS\n{model.sql}"


def test_returning_models_dir_adds_models_and_replaces_shipped_ones(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dim_users.sql").write_text("-- mine\nSELECT _id AS user_id FROM returning_raw.users")
    (tmp_path / "top_spenders.sql").write_text("SELECT user_id FROM analytics.fct_gamification_events")
    monkeypatch.setenv("RETURNING_MODELS_DIR", str(tmp_path))
    by = {m.name: m for m in discover_models()}
    assert set(by) == {m.name for m in discover_models(MODELS_DIR)} | {"top_spenders"}
    assert by["dim_users"].path == tmp_path / "dim_users.sql" and by["dim_users"].description == "mine"
    assert by["top_spenders"].model_deps == ("fct_gamification_events",)
    monkeypatch.setenv("RETURNING_MODELS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="not a folder"):
        discover_models()


def test_a_model_file_name_must_be_a_plain_table_name(tmp_path: Path) -> None:
    (tmp_path / "Top-Spenders.sql").write_text("SELECT 1")
    with pytest.raises(ModelError, match="lowercase letters"):
        discover_models(tmp_path)


def test_selections_follow_the_dependencies(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("SELECT 1 AS x")
    (tmp_path / "b.sql").write_text("SELECT x FROM analytics.a")
    (tmp_path / "c.sql").write_text("SELECT x FROM analytics.b")
    (tmp_path / "d.sql").write_text("SELECT x FROM analytics.a")
    (tmp_path / "e.sql").write_text("SELECT 2 AS y")
    models = discover_models(tmp_path)

    def names(*select: str) -> set[str]:
        chosen = [m.name for m in select_models(models, select)]
        assert chosen == [m.name for m in models if m.name in chosen]  # in dependency order
        return set(chosen)

    assert names("c") == {"c"}
    assert names("+c") == {"a", "b", "c"}
    assert names("a+") == {"a", "b", "c", "d"}
    assert names("+b+") == {"a", "b", "c"}
    assert names("e", " d ", "") == {"d", "e"}
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        names("nope")
