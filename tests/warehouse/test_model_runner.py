"""The model runner: dependencies read from the SQL, a dropped-in file becomes a model, SQL transpiles."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from warehouse.models import build_all, discover_models


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
    with pytest.raises(ValueError, match="no model file nope.sql"):
        discover_models(tmp_path)


def test_a_dropped_in_file_is_built_in_dependency_order(tmp_path: Path) -> None:
    (tmp_path / "z_first.sql").write_text("SELECT 1 AS one UNION ALL SELECT 2")
    (tmp_path / "a_second.sql").write_text("SELECT sum(one) AS total FROM analytics.z_first")
    con = duckdb.connect()
    results = build_all(con, tmp_path)
    assert [(r.model, r.rows) for r in results] == [("z_first", 2), ("a_second", 1)]
    assert con.execute("SELECT total FROM analytics.a_second").fetchone() == (3,)


@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])
def test_shipped_models_transpile(dialect: str) -> None:
    models = discover_models()
    assert {"dim_users", "fct_gamification_daily", "fct_gamification_events", "fct_redemptions",
            "user_field_changes", "community_daily_kpis", "cohort_retention"} <= {m.name for m in models}
    for model in models:
        out = sqlglot.transpile(model.sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)[0]
        assert "SELECT" in out.upper(), model.name
