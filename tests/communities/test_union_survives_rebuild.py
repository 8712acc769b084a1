"""A model rebuild on any community's connection keeps `analytics_all`'s union views: on Postgres they
are saved and recreated in the swap's transaction exactly as they were (naming every community's
schema, not remapped to the rebuilding community's), on DuckDB they bind late."""

from __future__ import annotations

from pathlib import Path

from warehouse.connection import connect
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
