"""A model rebuild on any community's connection keeps `analytics_all`'s union views: on Postgres they
are saved and recreated in the swap's transaction exactly as they were (naming every community's
schema, not remapped to the rebuilding community's), on DuckDB they bind late."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.connection import connect
from warehouse.errors import WarehouseError
from warehouse.location import WarehouseLocation
from warehouse.models import Model, build_model, load_model
from warehouse.union import build_union_views


def model(folder: Path, sql: str) -> Model:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.sql").write_text(sql)
    return load_model(folder / "pairs.sql", ["pairs"])


def rows(location: WarehouseLocation) -> list[tuple[object, ...]]:
    with connect(location) as con:
        return con.fetchall("SELECT community, a FROM analytics_all.pairs ORDER BY community, a")


def test_union_views_survive_a_rebuild_on_each_community(location: WarehouseLocation, tmp_path: Path) -> None:
    first = model(tmp_path / "v1", "SELECT 1 AS a UNION ALL SELECT 2")
    second = model(tmp_path / "v2", "SELECT 10 AS a UNION ALL SELECT 20 UNION ALL SELECT 30")
    acme = location.for_community("acme")
    for where in (location, acme):
        with connect(where) as con:
            build_model(con, first)
    with connect(location) as con:
        build_union_views(con, ["default", "acme"])
    assert rows(location) == [("acme", 1), ("acme", 2), ("default", 1), ("default", 2)]
    with connect(acme) as con:
        assert build_model(con, second).rows == 3
    assert rows(location) == [("acme", 10), ("acme", 20), ("acme", 30), ("default", 1), ("default", 2)]
    with connect(location) as con:
        assert build_model(con, second).rows == 3
    assert rows(location) == [("acme", 10), ("acme", 20), ("acme", 30), ("default", 10), ("default", 20),
                              ("default", 30)]


def test_a_union_view_the_new_columns_no_longer_fit(location: WarehouseLocation, tmp_path: Path) -> None:
    """Postgres lists every column in the union view: a column gone from one community's model stops
    that build with one line naming the view, and nothing changes. DuckDB unions by name, late: the
    column is NULL in that community's rows."""
    both = model(tmp_path / "v1", "SELECT 1 AS a, 'x' AS b")
    one = model(tmp_path / "v2", "SELECT 2 AS a")
    acme = location.for_community("acme")
    for where in (location, acme):
        with connect(where) as con:
            build_model(con, both)
    with connect(location) as con:
        build_union_views(con, ["default", "acme"])
    with connect(acme) as con:
        if location.dialect == "duckdb":
            build_model(con, one)
        else:
            with pytest.raises(WarehouseError) as caught:
                build_model(con, one)
            assert str(caught.value) == (f"model pairs ({one.path}): view analytics_all.pairs cannot be recreated over the "
                               "new analytics__acme.pairs (column pairs.b does not exist); nothing was changed: "
                               "drop it (warehouse.union.drop_union_views), build the model, then build the union views "
                               "again (warehouse.union.build_union_views)")
    with connect(location) as con:
        got = con.fetchall("SELECT community, a, b FROM analytics_all.pairs ORDER BY community")
    assert got == ([("acme", 2, None), ("default", 1, "x")] if location.dialect == "duckdb"
                   else [("acme", 1, "x"), ("default", 1, "x")])
