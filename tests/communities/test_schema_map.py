"""The warehouse port scoped to a community (warehouse/schema_map.py, warehouse/connection.py): SQL
names the canonical schemas; a connection of community `acme` reads and writes `*__acme` only; the
default community's connection runs SQL as written, without parsing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from returning_errors import SyncBusy
from warehouse.connection import connect, hold_for_load
from warehouse.location import WarehouseLocation
from warehouse.models import build_model, load_model
from warehouse.schema_map import pairs, rewrite

ACME = pairs(WarehouseLocation(community="acme").schema_map)
MODELS = Path(__file__).resolve().parents[2] / "warehouse" / "models"


def scoped(sql: str, dialect: str = "duckdb") -> str:
    return rewrite(sql, dialect, dialect, ACME)[0]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM analytics.dim_users", "SELECT * FROM analytics__acme.dim_users"),
    ('SELECT * FROM "analytics"."dim_users"', 'SELECT * FROM "analytics__acme"."dim_users"'),
    ("SELECT analytics.dim_users.email FROM analytics.dim_users",
     "SELECT analytics__acme.dim_users.email FROM analytics__acme.dim_users"),
    ("SELECT u._id FROM returning_raw.users AS u JOIN reverse_etl.pushes AS p ON p.id = u._id",
     "SELECT u._id FROM returning_raw__acme.users AS u JOIN reverse_etl__acme.pushes AS p ON p.id = u._id"),
    ("CREATE SCHEMA IF NOT EXISTS returning_private", "CREATE SCHEMA IF NOT EXISTS returning_private__acme"),
    ("DROP SCHEMA IF EXISTS analytics_share CASCADE", "DROP SCHEMA IF EXISTS analytics_share__acme CASCADE"),
    ("INSERT INTO reverse_etl.push_rows (a) VALUES (?)", "INSERT INTO reverse_etl__acme.push_rows (a) VALUES (?)"),
    # names that only look like schemas stay: a CTE, an alias, a column, a quoted alias, a string
    ("WITH analytics AS (SELECT 1 AS x) SELECT analytics.x FROM analytics",
     "WITH analytics AS (SELECT 1 AS x) SELECT analytics.x FROM analytics"),
    ('SELECT a.analytics, a.returning_raw AS "analytics" FROM seeds.t AS a',
     'SELECT a.analytics, a.returning_raw AS "analytics" FROM seeds.t AS a'),
    ("SELECT 'analytics.dim_users' AS label FROM analytics_other.t",
     "SELECT 'analytics.dim_users' AS label FROM analytics_other.t"),
    ("SELECT * FROM returning_raw__acme.users", "SELECT * FROM returning_raw__acme.users"),  # mapped once
    # the catalog: a schema named as a value
    ("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'",
     "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'analytics__acme'"),
    ("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'reverse_etl'",
     "SELECT COUNT(*) FROM DUCKDB_TABLES() WHERE schema_name = 'reverse_etl__acme'"),
    ("SELECT 1 FROM pg_namespace WHERE nspname = 'returning_private'",
     "SELECT 1 FROM pg_namespace WHERE nspname = 'returning_private__acme'"),
])
def test_rewrite_maps_schema_references_only(sql: str, expected: str) -> None:
    assert scoped(sql) == expected


def test_rewrite_on_postgres_statements() -> None:
    assert scoped("REVOKE ALL ON SCHEMA returning_private FROM PUBLIC", "postgres") == \
        "REVOKE ALL ON SCHEMA returning_private__acme FROM PUBLIC"
    assert scoped("GRANT USAGE ON SCHEMA analytics_share TO returning_analyst", "postgres") == \
        "GRANT USAGE ON SCHEMA analytics_share TO returning_analyst".replace("analytics_share", "analytics_share__acme")
    # sqlglot keeps this one as an opaque command: rewritten token by token
    assert scoped("GRANT SELECT ON ALL TABLES IN SCHEMA analytics_share TO analytics", "postgres") == \
        "GRANT SELECT ON ALL TABLES IN SCHEMA analytics_share__acme TO analytics"
    assert scoped("ALTER TABLE analytics.x__building RENAME TO x", "postgres") == \
        "ALTER TABLE analytics__acme.x__building RENAME TO x"
    assert rewrite("SELECT * FROM information_schema.columns WHERE table_schema = ?", "duckdb", "postgres",
                   ACME) == ("SELECT * FROM information_schema.columns WHERE table_schema = %s", True)
    assert rewrite("SELECT * FROM analytics.t WHERE k = ?", "duckdb", "postgres", ACME) == \
        ("SELECT * FROM analytics__acme.t WHERE k = %s", False)


def raw_tables(con, suffix: str, users: list[tuple[str, str]]) -> None:
    """The raw tables dim_users reads, in `returning_raw` (as the connection maps it)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS returning_raw")
    con.execute("CREATE TABLE returning_raw.tiers (name VARCHAR, _dlt_id VARCHAR)")
    con.execute("CREATE TABLE returning_raw.tiers__levels (xp BIGINT, _dlt_parent_id VARCHAR)")
    con.execute("CREATE TABLE returning_raw.users (_id VARCHAR, email VARCHAR, tier VARCHAR, is_deleted BOOLEAN)")
    con.execute("INSERT INTO returning_raw.tiers VALUES (?, 't1'), (?, 't2')", [f"gold{suffix}", f"silver{suffix}"])
    con.execute("INSERT INTO returning_raw.tiers__levels VALUES (100, 't1'), (10, 't2')")
    for user_id, tier in users:
        con.execute("INSERT INTO returning_raw.users VALUES (?, ?, ?, NULL)", [user_id, f"{user_id}@x.test", tier])


def test_a_model_built_for_a_community_reads_and_writes_its_schemas_only(location: WarehouseLocation) -> None:
    model = load_model(MODELS / "dim_users.sql", ["dim_users"])
    acme = location.for_community("acme")
    with connect(acme) as con:
        assert con.community == "acme" and con.schema("analytics") == "analytics__acme"
        raw_tables(con, "_acme", [("a1", "gold_acme"), ("a2", "silver_acme")])
        assert con.table_exists("returning_raw", "users") and con.tables("returning_raw") == [
            "tiers", "tiers__levels", "users"]
        result = build_model(con, model)
        assert (result.model, result.rows) == ("dim_users", 2)
        assert [c for c, _ in result.columns][:3] == ["user_id", "tier_rank", "deleted"]
        assert con.fetchall("SELECT user_id, tier_rank FROM analytics.dim_users ORDER BY 1") == [("a1", 2), ("a2", 1)]
        assert con.row_count("analytics", "dim_users") == 2
    with connect(location) as con:  # the default community: nothing of acme's in its schemas
        schemas = {r[0] for r in con.fetchall("SELECT schema_name FROM information_schema.schemata")}
        assert {"returning_raw__acme", "analytics__acme"} <= schemas
        assert not {"returning_raw", "analytics"} & schemas
        assert not con.table_exists("analytics", "dim_users")
        assert con.fetchall("SELECT user_id FROM analytics__acme.dim_users ORDER BY 1") == [("a1",), ("a2",)]
        raw_tables(con, "", [("d1", "gold")])
        assert build_model(con, model).rows == 1
        assert con.fetchall("SELECT user_id, tier FROM analytics.dim_users") == [("d1", "gold")]
    with connect(acme) as con:  # the default build left acme's table alone
        assert con.fetchall("SELECT user_id FROM analytics.dim_users ORDER BY 1") == [("a1",), ("a2",)]


def test_the_default_connection_parses_nothing(location: WarehouseLocation) -> None:
    with connect(location) as con:
        assert con.schemas == {} and con.community == "default"
        before = rewrite.cache_info()
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute("CREATE TABLE analytics.t AS SELECT 1 AS analytics")
        assert con.fetchall("SELECT analytics FROM analytics.t") == [(1,)]
        assert con.table_exists("analytics", "t") and con.columns("analytics", "t")[0][0] == "analytics"
        after = rewrite.cache_info()
        assert (after.hits, after.misses) == (before.hits, before.misses)


def test_a_scoped_connection_refuses_sql_it_cannot_scope(location: WarehouseLocation) -> None:
    from warehouse.errors import WarehouseQueryError

    with connect(location.for_community("acme")) as con, pytest.raises(WarehouseQueryError) as caught:
        con.execute("SELECT * FROM analytics.t WHERE (")
    assert str(caught.value).startswith("cannot scope a statement to community 'acme': sqlglot cannot parse it")


@pytest.mark.parametrize("location", ["postgres"], indirect=True)  # DuckDB: the file is held whole
def test_each_community_has_its_own_advisory_lock_on_a_server(location: WarehouseLocation) -> None:
    with hold_for_load(location), hold_for_load(location.for_community("acme")):
        with pytest.raises(SyncBusy), hold_for_load(location.for_community("acme")):
            pass
        with pytest.raises(SyncBusy), hold_for_load(location):
            pass


@pytest.mark.parametrize("location", ["postgres"], indirect=True)
def test_the_advisory_lock_is_free_as_soon_as_a_load_ends(location: WarehouseLocation) -> None:
    """A closed session's locks are freed while its server process exits, after the client has moved
    on: a sync that then took the lock again at once (its seeds) found it still held (exit 6). The
    load releases it before it closes."""
    held = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    with connect(location) as watcher:
        for community in ("default", "acme", "default"):
            with hold_for_load(location.for_community(community)):
                assert watcher.fetchone(held) == (1,)
            assert watcher.fetchone(held) == (0,)


def test_dlt_keeps_a_community_dataset_name_as_given(location: WarehouseLocation) -> None:
    """dlt's snake_case would fold `returning_raw__acme` into `returning_raw_acme`; the destination
    keeps dataset names as given (the default community's are unchanged by either)."""
    import dlt

    from warehouse.destination import dlt_destination

    pipeline = dlt.pipeline("returning_ai__acme", destination=dlt_destination(location),
                            dataset_name="returning_raw__acme", pipelines_dir=str(location.workdir / "p"))
    pipeline.run([{"id": 1}], table_name="probe")
    with connect(location.for_community("acme")) as con:
        assert con.fetchall("SELECT id FROM returning_raw.probe") == [(1,)]
    with connect(location) as con:
        assert con.fetchall("SELECT id FROM returning_raw__acme.probe") == [(1,)]
        assert not con.tables("returning_raw_acme")


def test_names_that_only_look_like_schemas_run_as_written(location: WarehouseLocation) -> None:
    """On the warehouse: a CTE named `analytics`, a column `analytics`, a quoted alias and a string
    literal keep their names on a scoped connection, while the schema reference is acme's."""
    with connect(location.for_community("acme")) as con:
        con.execute("CREATE SCHEMA analytics")
        con.execute("CREATE TABLE analytics.t (analytics VARCHAR, returning_raw BIGINT)")
        con.execute("INSERT INTO analytics.t VALUES (?, 1)", ["analytics"])
        rows = con.dicts('WITH analytics AS (SELECT t.analytics, t.returning_raw AS "reverse_etl" FROM analytics.t AS t) '
                         "SELECT analytics.analytics, analytics.reverse_etl, 'returning_raw.users' AS label "
                         "FROM analytics WHERE analytics.analytics = 'analytics'")
        assert rows == [{"analytics": "analytics", "reverse_etl": 1, "label": "returning_raw.users"}]
    with connect(location) as con:
        assert con.fetchall("SELECT analytics, returning_raw FROM analytics__acme.t") == [("analytics", 1)]
        assert not con.table_exists("analytics", "t")
