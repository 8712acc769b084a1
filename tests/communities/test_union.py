"""`analytics_all` (warehouse/union.py): one view per model table over every community's models,
with a `community` column; columns unioned by name, NULL where a community lacks one."""

from __future__ import annotations

import datetime as dt

import pytest

from warehouse.connection import connect
from warehouse.location import WarehouseLocation
from warehouse.union import UnionView, build_union_views, drop_union_views

DAY = dt.date(2026, 3, 1)


def models(location: WarehouseLocation) -> None:
    """Default: dim_users (2 rows) and kpis; acme: dim_users (1 row, one more column) and only_acme."""
    with connect(location) as con:
        con.execute("CREATE SCHEMA analytics")
        con.execute("CREATE TABLE analytics.dim_users (user_id VARCHAR, points BIGINT)")
        con.execute("INSERT INTO analytics.dim_users VALUES ('d1', 5), ('d2', 7)")
        con.execute("CREATE TABLE analytics.kpis (day DATE, members BIGINT)")
        con.execute("INSERT INTO analytics.kpis VALUES (?, 40)", [DAY])
        con.execute("CREATE TABLE analytics.kpis__building (day DATE)")  # a build in progress: no view
    with connect(location.for_community("acme")) as con:  # the same SQL, acme's schemas
        con.execute("CREATE SCHEMA analytics")
        con.execute("CREATE TABLE analytics.dim_users (user_id VARCHAR, joined DATE, points BIGINT)")
        con.execute("INSERT INTO analytics.dim_users VALUES ('a1', ?, 9)", [DAY])
        con.execute("CREATE TABLE analytics.only_acme (n BIGINT)")
        con.execute("INSERT INTO analytics.only_acme VALUES (3)")


def test_union_views_hold_every_community_with_its_name(location: WarehouseLocation) -> None:
    models(location)
    with connect(location) as con:
        views = build_union_views(con, ["default", "acme"])
        assert views == [
            UnionView("dim_users", ("default", "acme"), ("community", "user_id", "points", "joined")),
            UnionView("kpis", ("default",), ("community", "day", "members")),
            UnionView("only_acme", ("acme",), ("community", "n")),
        ]
        assert con.tables("analytics_all") == ["dim_users", "kpis", "only_acme"]
        assert con.fetchall("SELECT community, user_id, points, joined FROM analytics_all.dim_users "
                            "ORDER BY community, user_id") == [
            ("acme", "a1", 9, DAY), ("default", "d1", 5, None), ("default", "d2", 7, None)]
        assert con.fetchall("SELECT community, n FROM analytics_all.only_acme") == [("acme", 3)]
        assert con.fetchall("SELECT community, day, members FROM analytics_all.kpis") == [("default", DAY, 40)]
        assert [c for c, _ in con.columns("analytics_all", "dim_users")][0] == "community"

        # acme drops only_acme, and a rebuild drops its view; views follow new columns
        assert drop_union_views(con, ["only_acme", "dim_users", "absent"]) == ["dim_users", "only_acme"]
        assert con.tables("analytics_all") == ["kpis"]
        con.execute("DROP TABLE analytics__acme.only_acme")
        con.execute("ALTER TABLE analytics.dim_users ADD COLUMN email VARCHAR")
        views = build_union_views(con, ["default", "acme"])
        assert [v.table for v in views] == ["dim_users", "kpis"]
        assert con.tables("analytics_all") == ["dim_users", "kpis"]
        assert con.fetchall("SELECT community, email FROM analytics_all.dim_users ORDER BY 1, user_id") == [
            ("acme", None), ("default", None), ("default", None)]


def test_union_views_are_built_on_the_default_connection(location: WarehouseLocation) -> None:
    with connect(location.for_community("acme")) as con, pytest.raises(ValueError) as caught:
        build_union_views(con, ["default", "acme"])
    assert str(caught.value) == "analytics_all is built on the default community's connection, not on community 'acme''s"


@pytest.mark.parametrize("location", ["postgres"], indirect=True)
def test_on_postgres_a_model_rebuild_needs_its_union_views_dropped_first(location: WarehouseLocation) -> None:
    """A Postgres view binds to its table: the models' build (drop and rename) is refused while a
    union view reads the table, and goes through once `drop_union_views` released it."""
    from warehouse.errors import WarehouseQueryError

    models(location)
    with connect(location) as con:
        build_union_views(con, ["default", "acme"])
    with connect(location.for_community("acme")) as con:
        with pytest.raises(WarehouseQueryError, match="other objects depend on it"):
            con.execute("DROP TABLE analytics.dim_users")
        assert drop_union_views(con, ["dim_users"]) == ["dim_users"]  # analytics_all is never mapped
        con.execute("DROP TABLE analytics.dim_users")
    with connect(location) as con:
        assert con.tables("analytics_all") == ["kpis", "only_acme"]
