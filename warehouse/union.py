"""Schema `analytics_all`: one view per model table across communities, with a `community` column.

`analytics_all.<table>` is `SELECT '<slug>' AS community, * FROM analytics__<slug>.<table> UNION ALL
...` (the default community's models are in `analytics`). A table gets a view when any community has
it: a community that lacks it adds no rows. Columns are unioned by name, a column a community lacks
is NULL in its rows (DuckDB: `UNION ALL BY NAME`; elsewhere every column listed, NULL cast to the
type the first community that has the column gives it). Views of tables no community has any more
are dropped. Run on a connection of the default community (it names every community's schemas).

On Postgres a view binds to its tables: a model's build (drop and rename) saves the views of
`analytics_all` that read it and creates them again in its transaction (`warehouse.dependent_views`).
When a model loses a column a union view lists, that build stops: drop the view first
(`drop_union_views`, on any community's connection), build, and build them again (`build_union_views`).
DuckDB's views bind late: nothing to drop there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from warehouse.connection import Connection
from warehouse.location import MODELS_SCHEMA, UNION_SCHEMA, community_schema
from warehouse.models import BUILDING_SUFFIX

COMMUNITY_COLUMN = "community"


@dataclass(frozen=True)
class UnionView:
    table: str  # analytics_all.<table>
    communities: tuple[str, ...]  # the communities whose rows it holds
    columns: tuple[str, ...]  # `community` first, then every column by name


def build_union_views(con: Connection, communities: Sequence[str]) -> list[UnionView]:
    """(Re)create `analytics_all`'s views over the models of `communities` (slugs; `default` for the
    schema `analytics`), in one transaction; return them by table name."""
    if con.schemas:
        raise ValueError(f"analytics_all is built on the default community's connection, "
                         f"not on community {con.community!r}'s")
    if not communities:
        raise ValueError("analytics_all needs at least one community")
    tables: dict[str, dict[str, list[tuple[str, str]]]] = {}  # table -> community -> columns
    for slug in communities:
        schema = community_schema(MODELS_SCHEMA, slug)
        for table in con.tables(schema):
            if not table.endswith(BUILDING_SUFFIX):
                tables.setdefault(table, {})[slug] = _columns(con, schema, table)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {UNION_SCHEMA}")
    views = [_view(table, per_community, con.dialect) for table, per_community in sorted(tables.items())]
    stale = sorted(set(con.tables(UNION_SCHEMA)) - set(tables))
    with con.transaction():
        for table in stale:
            con.execute(f"DROP VIEW IF EXISTS {UNION_SCHEMA}.{_q(table)}")
        for view, sql in views:
            con.execute(f"DROP VIEW IF EXISTS {UNION_SCHEMA}.{_q(view.table)}")
            (con.execute if con.dialect == "duckdb" else con.execute_native)(sql)
    return [view for view, _ in views]


def drop_union_views(con: Connection, tables: Iterable[str] | None = None) -> list[str]:
    """Drop `analytics_all`'s views over `tables` (None: every one), so their model tables can be
    rebuilt; return the views dropped."""
    present = con.tables(UNION_SCHEMA)
    dropped = [t for t in present if tables is None or t in set(tables)]
    for table in dropped:
        con.execute(f"DROP VIEW IF EXISTS {UNION_SCHEMA}.{_q(table)}")
    return dropped


def _view(table: str, per_community: dict[str, list[tuple[str, str]]], dialect: str) -> tuple[UnionView, str]:
    names: list[str] = []
    types: dict[str, str] = {}
    for columns in per_community.values():
        for name, kind in columns:
            if name not in types:
                names.append(name)
                types[name] = kind
    if COMMUNITY_COLUMN in types:
        raise ValueError(f"model {table} has a column named {COMMUNITY_COLUMN!r}: analytics_all adds its own")
    target = f"{UNION_SCHEMA}.{_q(table)}"
    branches = []
    for slug, columns in per_community.items():
        source = f"{community_schema(MODELS_SCHEMA, slug)}.{_q(table)}"
        if dialect == "duckdb":
            branches.append(f"SELECT {_literal(slug)} AS {COMMUNITY_COLUMN}, * FROM {source}")
            continue
        has = {name for name, _ in columns}
        select = ", ".join(_q(n) if n in has else f"CAST(NULL AS {types[n]}) AS {_q(n)}" for n in names)
        branches.append(f"SELECT {_literal(slug)} AS {COMMUNITY_COLUMN}, {select} FROM {source}")
    joint = " UNION ALL BY NAME " if dialect == "duckdb" else " UNION ALL "
    view = UnionView(table, tuple(per_community), (COMMUNITY_COLUMN, *names))
    return view, f"CREATE VIEW {target} AS {joint.join(branches)}"


def _columns(con: Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """Columns and their types as the warehouse writes them in a CAST (Postgres: `format_type`)."""
    if con.dialect != "postgres":
        return con.columns(schema, table)
    return [(str(n), str(t)) for n, t in con.fetchall(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute AS a "
        "JOIN pg_catalog.pg_class AS c ON a.attrelid = c.oid "
        "JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid "
        "WHERE n.nspname = ? AND c.relname = ? AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [schema, table])]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
