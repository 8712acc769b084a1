"""`returning-sync share`: analysts get the models without members' personal data, and nothing else.
Postgres: logged in as `returning_analyst`, the share reads and nothing private does, no write works.
DuckDB: a second file holding only the share's tables, read sandboxed. Snowflake and BigQuery: the
generated SQL, tested as text only."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from returning_sync.cli import main
from tests.privacy.scan import scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation
from warehouse.share import share_path, statements

PASSWORD = "analyst-pw-5f2c9a"
KEY = "share-test-hmac-key-0123456789"


def models_counts(location: WarehouseLocation, schema: str) -> dict[str, int]:
    with connect(location, read_only=True) as con:
        return {t: con.row_count(schema, t) or 0 for t in con.tables(schema)}


def test_duckdb_share_is_a_file_with_the_share_alone(sim: SimAdmin, api_env: dict[str, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync"]) == 0 and main(["models"]) == 0
    location = WarehouseLocation.from_env()
    assert main(["share"]) == 0
    target = share_path(location.file)
    assert target.exists() and str(target) in capsys.readouterr().out
    share = WarehouseLocation(destination="duckdb", path=target)
    assert models_counts(share, "analytics_share") == models_counts(location, "analytics")
    person = sim.truth_rows("users")[0]
    with connect(share, read_only=True) as con:
        schemas = {r[0] for r in con.fetchall("SELECT DISTINCT table_schema FROM information_schema.tables")}
        assert schemas == {"analytics_share"}
        columns = {r[0] for r in con.fetchall("SELECT column_name FROM information_schema.columns")}
        assert not columns & {"email", "first_name", "last_name", "username", "display_name", "identifier"}
        assert "user_id" in columns
        assert scan_tables(con, person["email"]) == {} and scan_tables(con, person["last_name"]) == {}
    capsys.readouterr()
    assert main(["sql", "--warehouse", str(target), f"ATTACH '{location.file}' AS raw"]) == 2
    assert "refused" in capsys.readouterr().err
    assert main(["sql", "--warehouse", str(target), "SELECT count(*) AS n FROM analytics_share.dim_users",
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == f"n\n{models_counts(location, 'analytics')['dim_users']}\n"


def analyst_url(pg_url: str) -> str:
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(netloc=f"returning_analyst:{PASSWORD}@{parts.hostname}:{parts.port}"))


def test_postgres_analyst_reads_the_share_and_nothing_else(destination: str, sim: SimAdmin, api_env: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    if destination != "postgres":
        pytest.skip("a server role")
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PII", "hash")
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY", KEY)
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__ANALYST_PASSWORD", PASSWORD)
    assert main(["sync"]) == 0 and main(["models"]) == 0 and main(["push", "weekly_tier_bonus"]) == 0
    capsys.readouterr()
    assert main(["share"]) == 0
    out = capsys.readouterr().out
    assert "role returning_analyst reads only them and can log in" in out and PASSWORD not in out
    location = WarehouseLocation.from_env()
    expected = models_counts(location, "analytics")
    con = psycopg2.connect(analyst_url(api_env["DESTINATION__POSTGRES__CREDENTIALS"]))
    con.autocommit = True
    try:
        cur = con.cursor()
        for model, rows in expected.items():
            cur.execute(f'SELECT count(*) FROM analytics_share."{model}"')
            assert cur.fetchone() == (rows,), model
        cur.execute("SELECT email FROM analytics_share.dim_users LIMIT 1")
        assert len(cur.fetchone()[0]) == 64  # hashed before it landed: the share keeps the hash
        refused = ["SELECT * FROM returning_raw.users", "SELECT * FROM returning_private.member_keys",
                   "SELECT * FROM reverse_etl.push_rows", "SELECT * FROM reverse_etl.push_ledger",
                   "SELECT * FROM analytics.dim_users",
                   "INSERT INTO analytics_share.dim_users (user_id) VALUES ('x')",
                   "UPDATE analytics_share.dim_users SET user_id = 'x'",
                   "DELETE FROM analytics_share.dim_users",
                   "CREATE TABLE public.mine (x int)", "CREATE TABLE analytics_share.mine (x int)"]
        for statement in refused:
            with pytest.raises(psycopg2.Error) as caught:
                cur.execute(statement)
            assert "permission denied" in str(caught.value) or "read-only transaction" in str(caught.value), statement
    finally:
        con.close()


def test_generated_sql_for_snowflake_and_bigquery_as_text() -> None:
    models = {"dim_users": ["user_id", "tier"]}
    assert statements(models, "snowflake") == [
        "CREATE SCHEMA IF NOT EXISTS analytics_share",
        'CREATE OR REPLACE VIEW analytics_share."dim_users" AS SELECT "user_id", "tier" FROM analytics."dim_users"',
        "CREATE ROLE IF NOT EXISTS returning_analyst",
        "GRANT USAGE ON DATABASE IDENTIFIER(CURRENT_DATABASE()) TO ROLE returning_analyst",
        "GRANT USAGE ON SCHEMA analytics_share TO ROLE returning_analyst",
        "GRANT SELECT ON ALL VIEWS IN SCHEMA analytics_share TO ROLE returning_analyst",
        "GRANT SELECT ON FUTURE VIEWS IN SCHEMA analytics_share TO ROLE returning_analyst",
    ]
    assert statements(models, "bigquery", bigquery_principal="group:data@example.com") == [
        "CREATE SCHEMA IF NOT EXISTS `analytics_share`",
        "CREATE OR REPLACE VIEW `analytics_share.dim_users` AS SELECT `user_id`, `tier` FROM `analytics.dim_users`",
        'GRANT `roles/bigquery.dataViewer` ON SCHEMA `analytics_share` TO "group:data@example.com"',
    ]


def test_print_sql_never_prints_the_password(sim: SimAdmin, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__ANALYST_PASSWORD", PASSWORD)
    assert main(["sync", "--resources", "users,user_fields,gamification_logs,tiers"]) == 0
    assert main(["models", "--select", "dim_users"]) == 0
    capsys.readouterr()
    assert main(["share", "--print-sql", "postgres"]) == 0
    out = capsys.readouterr().out
    assert "CREATE OR REPLACE VIEW analytics_share.\"dim_users\"" in out and '"email"' not in out
    assert "NOLOGIN" in out and PASSWORD not in out
