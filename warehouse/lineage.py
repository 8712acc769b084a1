"""Which tables a SELECT reads: the one sqlglot walk that models (their dependencies) and push
definitions (their upstream assets) both use."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from warehouse.location import SQL_DIALECT


def tables_read(sql: str) -> set[tuple[str, str]]:
    """(schema, table) pairs a SELECT in DuckDB's dialect reads, lowercased as DuckDB matches them,
    without its CTE names; schema '' when unqualified. Raises sqlglot's ParseError when it does not parse."""
    tree = sqlglot.parse_one(sql, read=SQL_DIALECT)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    out: set[tuple[str, str]] = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        schema = (table.db or "").lower()
        if not name or (not schema and name in ctes):
            continue
        out.add((schema, name))
    return out
