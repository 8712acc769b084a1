"""A model rebuild keeps the views that read the model. Postgres binds a view to its table, so the
swap (drop the old table, rename the new one) saves the dependent views (`analytics_share`,
`analytics_all`, an analyst's own), drops them and recreates them in the same transaction, with
their owner, grants, options and comments. A view the new columns no longer fit fails that model's
build with one line naming the view, and nothing changes. DuckDB binds views late: the same
sequence works as it is."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from returning_sync.cli import main
from tests.simadmin import SimAdmin
from tests.warehouse.rebuild_reader import read_through_rebuilds
from warehouse.connection import connect
from warehouse.errors import WarehouseError
from warehouse.location import WarehouseLocation
from warehouse.models import Model, build_model, load_model
from warehouse.union import build_union_views

PASSWORD = "analyst-pw-81d0c3"
VIEWS = ("analytics_share.dim_users", "team.tiers")
ACL = ("SELECT pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable FROM pg_class AS c "
       "JOIN pg_namespace AS n ON n.oid = c.relnamespace, aclexplode(c.relacl) AS a "
       "WHERE n.nspname || '.' || c.relname = ? ORDER BY 1, 2")
SMALL = ["sync", "--resources", "users,user_fields,gamification_logs,tiers"]


def analyst(pg_url: str) -> psycopg2.extensions.connection:
    parts = urlsplit(pg_url)
    con = psycopg2.connect(urlunsplit(parts._replace(
        netloc=f"returning_analyst:{PASSWORD}@{parts.hostname}:{parts.port}")))
    con.autocommit = True
    return con


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_models_after_share_keep_the_share_and_its_grants(destination: str, sim: SimAdmin, api_env: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__ANALYST_PASSWORD", PASSWORD)
    assert main(SMALL) == 0
    assert main(["models", "--select", "dim_users"]) == 0
    assert main(["share"]) == 0
    location = WarehouseLocation.from_env()
    with connect(location) as con:
        users = con.row_count("analytics", "dim_users")
        assert users == len(sim.truth_rows("users"))
        con.execute("CREATE SCHEMA team")  # an analyst's own view over the share's view, and over the model
        con.execute("CREATE VIEW team.tiers AS SELECT tier, count(*) AS n FROM analytics_share.dim_users GROUP BY tier")
        con.execute("CREATE VIEW team.users AS SELECT * FROM analytics.dim_users")
        con.execute("COMMENT ON VIEW analytics_share.dim_users IS 'members, without personal data'")
        con.execute("GRANT SELECT ON team.tiers TO returning_analyst")
        con.execute("GRANT USAGE ON SCHEMA team TO returning_analyst")
        con.execute("ALTER VIEW team.tiers SET (security_barrier = true)")
        before = con.fetchall("SELECT pg_get_viewdef('team.tiers'::regclass)")
        grants = [con.fetchall(ACL, [view]) for view in VIEWS]
        assert ("returning_analyst", "SELECT", False) in grants[0] and ("returning_analyst", "SELECT", False) in grants[1]
    with connect(location) as con:
        build_union_views(con, ["default"])
    capsys.readouterr()
    assert main(["models", "--select", "dim_users"]) == 0, capsys.readouterr().err
    assert main(["models", "--select", "dim_users"]) == 0, capsys.readouterr().err  # and again
    with connect(location) as con:
        assert con.row_count("analytics", "dim_users") == users
        tiers = con.fetchall("SELECT sum(n) FROM team.tiers")
        assert tiers == [(users,)]
        assert con.fetchone("SELECT count(*) FROM team.users") == (users,)
        assert con.tables("analytics_share") == ["dim_users"]
        assert con.fetchone("SELECT obj_description('analytics_share.dim_users'::regclass, 'pg_class')") == (
            "members, without personal data",)
        assert con.fetchone("SELECT reloptions FROM pg_class WHERE oid = 'team.tiers'::regclass") == (
            ["security_barrier=true"],)
        assert con.fetchall("SELECT pg_get_viewdef('team.tiers'::regclass)") == before
        assert [con.fetchall(ACL, [view]) for view in VIEWS] == grants
        assert con.fetchone("SELECT count(*) FROM analytics_all.dim_users WHERE community = 'default'") == (users,)
        # the rebuilt table is what the views read now, not a copy of the old one
        assert con.fetchone("SELECT count(DISTINCT r.ev_class) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
                            "WHERE d.refobjid = 'analytics.dim_users'::regclass "
                            "AND r.ev_class = 'analytics_share.dim_users'::regclass") == (1,)
    reader = analyst(api_env["DESTINATION__POSTGRES__CREDENTIALS"])
    try:
        cur = reader.cursor()
        cur.execute("SELECT count(*) FROM analytics_share.dim_users")
        assert cur.fetchone() == (users,)
        cur.execute("SELECT sum(n) FROM team.tiers")
        assert cur.fetchone() == (users,)
        with pytest.raises(psycopg2.Error, match="permission denied"):
            cur.execute("SELECT count(*) FROM team.users")  # never granted: still not granted
    finally:
        reader.close()


def test_duckdb_views_bind_late(api_env: dict[str, str], sim: SimAdmin) -> None:
    """DuckDB: a view over a model, and analytics_all's union view, read the rebuilt table as they are."""
    assert main(SMALL) == 0 and main(["models", "--select", "dim_users"]) == 0 and main(["share"]) == 0
    location = WarehouseLocation.from_env()
    with connect(location) as con:
        build_union_views(con, ["default"])
        con.execute("CREATE VIEW analytics.mine AS SELECT count(*) AS n FROM analytics.dim_users")
    assert main(["models", "--select", "dim_users"]) == 0
    with connect(location) as con:
        users = len(sim.truth_rows("users"))
        assert con.fetchone("SELECT n FROM analytics.mine") == (users,)
        assert con.fetchone("SELECT count(*) FROM analytics_all.dim_users WHERE community = 'default'") == (users,)


def model(folder: Path, name: str, sql: str) -> Model:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(sql)
    return load_model(path, [name])


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_a_view_the_new_columns_no_longer_fit_fails_the_build_and_keeps_all(destination: str, tmp_path: Path) -> None:
    location = WarehouseLocation.from_env()
    two = model(tmp_path / "v1", "pairs", "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'")
    one = model(tmp_path / "v2", "pairs", "SELECT 3 AS a")
    with connect(location) as con:
        build_model(con, two)
        con.execute("CREATE SCHEMA analytics_share")
        con.execute("CREATE VIEW analytics_share.pairs AS SELECT a, b FROM analytics.pairs")
        con.execute("CREATE ROLE pairs_reader NOLOGIN")
        con.execute("GRANT SELECT ON analytics_share.pairs TO pairs_reader")
        with pytest.raises(WarehouseError) as caught:
            build_model(con, one)
        message = str(caught.value)
        assert "\n" not in message
        assert message == (f"model pairs ({one.path}): view analytics_share.pairs cannot be recreated over the "
                           "new analytics.pairs (column pairs.b does not exist); nothing was changed: run "
                           "`returning-sync share` again to rebuild the share's views from the models, or drop "
                           "or fix the view, then build again")
        assert con.fetchall("SELECT a, b FROM analytics_share.pairs ORDER BY a") == [(1, "x"), (2, "y")]
        assert con.fetchone("SELECT has_table_privilege('pairs_reader', 'analytics_share.pairs', 'SELECT')") == (True,)
        assert con.tables("analytics") == ["pairs"]  # no building table left behind
        con.execute("DROP VIEW analytics_share.pairs")
        assert build_model(con, one).rows == 1


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_a_reader_of_a_view_during_rebuilds_sees_the_old_or_the_new_rows(destination: str, tmp_path: Path) -> None:
    sizes = (40_000, 80_000)
    versions = [model(tmp_path / str(n), "big", f"SELECT g.i AS i, md5(CAST(g.i AS VARCHAR)) AS h "
                                                f"FROM generate_series(1, {n}) AS g(i)") for n in sizes]
    location = WarehouseLocation.from_env()
    with connect(location) as writer:
        build_model(writer, versions[0])
        writer.execute("CREATE SCHEMA analytics_share")
        writer.execute("CREATE VIEW analytics_share.big AS SELECT i FROM analytics.big")
        seen = read_through_rebuilds(location, writer, versions, "SELECT count(*) FROM analytics_share.big")
    assert seen.errors == []
    assert set(seen.counts) == set(sizes)  # both versions seen through the view, never a missing view
    assert seen.during >= 6


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_owner_grants_and_comments_come_back_exactly(destination: str, tmp_path: Path) -> None:
    """Another owner, PUBLIC's and a column's grant, a column comment; and a schema whose default
    privileges would grant more to a new view: the recreated view has the saved rights, no more. The
    model table's own grants and comment carry over to the rebuilt table."""
    pairs = model(tmp_path / "v1", "pairs", "SELECT 1 AS a, 'x' AS b")
    location = WarehouseLocation.from_env()
    acl = ("SELECT c.relowner::regrole::text, c.relacl::text, obj_description(c.oid, 'pg_class'), "
           "col_description(c.oid, 2), (SELECT attacl::text FROM pg_attribute WHERE attrelid = c.oid AND attname = 'a'), "
           "c.reloptions FROM pg_class AS c WHERE c.oid = 'lens.pairs'::regclass")
    with connect(location) as con:
        build_model(con, pairs)
        for statement in ("CREATE ROLE lens_owner NOLOGIN", "CREATE ROLE lens_reader NOLOGIN",
                          "CREATE ROLE lens_snoop NOLOGIN", "CREATE SCHEMA lens",
                          "GRANT USAGE, CREATE ON SCHEMA lens TO lens_owner",
                          "GRANT USAGE ON SCHEMA analytics TO lens_owner",
                          "GRANT SELECT ON analytics.pairs TO lens_owner",
                          "CREATE VIEW lens.pairs WITH (check_option = local) AS SELECT a, b FROM analytics.pairs WHERE a > 0",
                          "ALTER VIEW lens.pairs OWNER TO lens_owner",
                          "GRANT SELECT ON lens.pairs TO PUBLIC",
                          "GRANT SELECT ON lens.pairs TO lens_reader WITH GRANT OPTION",
                          "GRANT UPDATE (a) ON lens.pairs TO lens_reader",
                          "COMMENT ON VIEW lens.pairs IS 'it''s the lens'",
                          "COMMENT ON COLUMN lens.pairs.b IS 'the letter'",
                          "ALTER DEFAULT PRIVILEGES IN SCHEMA lens GRANT SELECT ON TABLES TO lens_snoop",
                          "COMMENT ON TABLE analytics.pairs IS 'a model'"):
            con.execute_native(statement)
        before = con.fetchone(acl)
        assert before is not None and before[0] == "lens_owner" and "lens_snoop" not in before[1]
        build_model(con, pairs)
        assert con.fetchone(acl) == before  # lens_snoop's default grant on the new view revoked again
        # the model table's own grant and comment went to the new table (the view reads it as lens_owner)
        assert con.fetchone("SELECT has_table_privilege('lens_owner', 'analytics.pairs', 'SELECT'), "
                            "obj_description('analytics.pairs'::regclass, 'pg_class')") == (True, "a model")
        assert con.fetchall("SELECT a, b FROM lens.pairs") == [(1, "x")]


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_a_materialized_view_over_a_model_is_refused_by_name(destination: str, tmp_path: Path) -> None:
    pairs = model(tmp_path / "v1", "pairs", "SELECT 1 AS a")
    with connect(WarehouseLocation.from_env()) as con:
        build_model(con, pairs)
        con.execute_native("CREATE MATERIALIZED VIEW public.snapshot AS SELECT a FROM analytics.pairs")
        with pytest.raises(WarehouseError) as caught:
            build_model(con, pairs)
        assert str(caught.value) == (
            f"model pairs ({pairs.path}): materialized view public.snapshot reads analytics.pairs: a rebuild "
            "would not bring it back as it is; drop it (and create it again after the build)")
        assert con.fetchall("SELECT a FROM public.snapshot") == [(1,)]
        assert con.tables("analytics") == ["pairs"]
