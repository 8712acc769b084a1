"""A community's SQL: the canonical schema names rewritten to the community's (`analytics` ->
`analytics__acme`), in the syntax tree, never in the text.

What is rewritten: the schema part of a qualified table (`analytics.dim_users`, `"analytics".t`,
`db.analytics.t`), of a fully qualified column (`analytics.dim_users.email`), the schema of
CREATE/DROP SCHEMA and of GRANT/REVOKE ... ON SCHEMA. In a catalog query (one that reads
`information_schema`, `pg_catalog`, `duckdb_tables()`) a schema named as a value is mapped too: the string literal
`'analytics'` and a `?` parameter whose value is a canonical name (`table_schema = ?`). What is left
alone: a table, CTE or alias that merely bears a schema's name (`WITH analytics AS (...)`,
`FROM t AS analytics`), a column named like one (`a.analytics`), string literals outside catalog
queries. A statement sqlglot keeps as an opaque command (`GRANT ... IN SCHEMA x`) is rewritten token
by token: an unquoted name followed by a dot or preceded by SCHEMA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

CATALOG_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
CATALOG_PREFIXES = ("pg_", "duckdb_")  # Postgres's catalog tables, DuckDB's catalog functions

Pairs = tuple[tuple[str, str], ...]


def pairs(schemas: Mapping[str, str]) -> Pairs:
    """A schema map as a hashable key (for the caches)."""
    return tuple(sorted(schemas.items()))


@lru_cache(maxsize=1024)
def rewrite(sql: str, read: str, write: str, schemas: Pairs) -> tuple[str, bool]:
    """`sql` (in `read`'s dialect) in `write`'s, its schemas mapped; and whether it is a catalog
    query (its schema-valued parameters must be mapped as well: `map_params`)."""
    mapping = dict(schemas)
    out: list[str] = []
    catalog = False
    for statement in sqlglot.parse(sql, read=read):
        if statement is None:
            continue
        if isinstance(statement, exp.Command):
            out.append(_command(statement.sql(dialect=read), read, mapping))
            continue
        is_catalog = _reads_catalog(statement)
        catalog = catalog or is_catalog
        out.append(_tree(statement, mapping, is_catalog).sql(dialect=write))
    return ";\n".join(out), catalog


def map_params(params: Sequence[Any], schemas: Mapping[str, str]) -> list[Any]:
    """A catalog query's parameters: a canonical schema name becomes the community's."""
    return [schemas.get(p, p) if isinstance(p, str) else p for p in params]


def _reads_catalog(statement: exp.Expression) -> bool:
    """Reads `information_schema.*`, `pg_catalog.*`, a bare `pg_namespace`, or `duckdb_tables()`."""
    for table in statement.find_all(exp.Table):
        name = table.this.name if isinstance(table.this, exp.Func) else table.name  # duckdb_tables()
        if table.db.lower() in CATALOG_SCHEMAS or (not table.db and name.lower().startswith(CATALOG_PREFIXES)):
            return True
    return False


def _tree(statement: exp.Expression, mapping: Mapping[str, str], catalog: bool) -> exp.Expression:
    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table | exp.Column):
            _map_part(node, "db", mapping)
        elif isinstance(node, exp.Grant | exp.Revoke) and str(node.args.get("kind") or "").upper() == "SCHEMA":
            securable = node.args.get("securable")
            if isinstance(securable, exp.Table) and not securable.args.get("db"):
                _map_part(securable, "this", mapping)
        elif catalog and isinstance(node, exp.Literal) and node.is_string and node.this in mapping:
            return exp.Literal.string(mapping[node.this])
        return node

    return statement.copy().transform(visit)


def _map_part(node: exp.Expression, part: str, mapping: Mapping[str, str]) -> None:
    identifier = node.args.get(part)
    if isinstance(identifier, exp.Identifier) and identifier.this in mapping:
        node.set(part, exp.Identifier(this=mapping[identifier.this], quoted=identifier.quoted))


def _command(text: str, dialect: str, mapping: Mapping[str, str]) -> str:
    """An opaque statement: each unquoted canonical name that qualifies something (`analytics.x`) or
    follows SCHEMA (`IN SCHEMA analytics`) replaced at its place in the text."""
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        if token.token_type != TokenType.VAR or token.text not in mapping:
            continue
        qualifies = i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.DOT
        after_schema = i > 0 and tokens[i - 1].text.upper() == "SCHEMA"
        if qualifies or after_schema:
            edits.append((token.start, token.end + 1, mapping[token.text]))
    for start, end, name in reversed(edits):
        text = text[:start] + name + text[end:]
    return text
