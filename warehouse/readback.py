"""What a running sync reads back from the warehouse it loads, through dlt's SQL client.

The same code serves every destination: SQL is written once (DuckDB's dialect, `?` placeholders,
`{table}` for the qualified table) and transpiled to the destination's. The one heavy comparison,
"stored rows whose key the complete users pass did not see" (deletions), runs inside the warehouse:
the pass's keys are staged there (DuckDB: an Arrow view; Postgres: a temporary table filled by COPY;
other engines: a temporary table filled in batches) and anti-joined, never pulled into a Python set.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from typing import Any

from warehouse.connection import expand_in, transpile
from warehouse.location import DIALECTS

STAGE = "returning_keep_keys"


def dialect_of(client: Any) -> str:
    caps = getattr(client, "capabilities", None)
    found = getattr(caps, "sqlglot_dialect", None)
    if found:
        return str(found)
    name = type(client).__module__.split(".")
    for part in name:
        if part in DIALECTS:
            return DIALECTS[part]
    return "duckdb"


def _missing(exc: BaseException) -> bool:
    from dlt.destinations.exceptions import DatabaseUndefinedRelation, DestinationUndefinedEntity

    if isinstance(exc, DatabaseUndefinedRelation | DestinationUndefinedEntity):
        return True
    text = str(exc).lower()
    return "does not exist" in text or "undefined table" in text or "not found" in text


def query(client: Any, table: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
    """Rows of `sql` (where `{table}` names the dataset's table); None when the table does not exist."""
    qualified = client.make_qualified_table_name(table)
    text, flat = expand_in(sql.format(table=qualified), params)
    try:
        with client.execute_query(transpile(text, dialect_of(client)), *flat) as cursor:
            return [tuple(r) for r in cursor.fetchall()]
    except Exception as exc:
        if _missing(exc):
            _reset(client)
            return None
        raise


def keys_not_in(client: Any, table: str, key: str, keep: Any, where: str = "") -> Any:
    """Rows of the dataset's `table` whose `key` is not among the Arrow table `keep`'s (one column
    `key`), ordered by key, as an Arrow table; None when the table does not exist."""
    dialect = dialect_of(client)
    qualified = client.make_qualified_table_name(table)
    try:
        if dialect == "duckdb":
            from warehouse import duck

            return duck.anti_join(client.native_connection, qualified, key, keep, where)
        stage = _stage_keys(client, dialect, key, keep)
        sql = (f"SELECT * FROM {qualified} AS t WHERE {where or 'TRUE'} AND NOT EXISTS "
               f'(SELECT 1 FROM {stage} AS k WHERE k."{key}" = t."{key}") ORDER BY t."{key}"')
        with client.execute_query(transpile(sql, dialect)) as cursor:
            return _arrow(cursor)
    except Exception as exc:
        if _missing(exc):
            _reset(client)
            return None
        raise


def _stage_keys(client: Any, dialect: str, key: str, keep: Any) -> str:
    """A session-temporary table holding the kept keys; returns its name."""
    values = [str(v) for v in keep.column(key).to_pylist() if v is not None]
    client.execute_sql(f"DROP TABLE IF EXISTS {STAGE}")
    client.execute_sql(transpile(f'CREATE TEMPORARY TABLE {STAGE} ("{key}" VARCHAR PRIMARY KEY)', dialect))
    if dialect in ("postgres", "redshift") and hasattr(client.native_connection, "cursor"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for v in values:
            writer.writerow([v])
        buffer.seek(0)
        with client.native_connection.cursor() as cursor:
            cursor.copy_expert(f'COPY {STAGE} ("{key}") FROM STDIN WITH (FORMAT CSV)', buffer)
    else:
        for start in range(0, len(values), 1000):
            chunk = values[start:start + 1000]
            client.execute_sql(f"INSERT INTO {STAGE} VALUES " + ", ".join(["(%s)"] * len(chunk)), *chunk)
    return STAGE


def _arrow(cursor: Any) -> Any:
    import pyarrow as pa

    arrow = getattr(cursor, "arrow", None)
    if arrow is not None:
        try:
            table = arrow()
            if table is not None:
                return table
        except Exception:  # noqa: BLE001 - a driver without Arrow: build it from rows
            pass
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def _reset(client: Any) -> None:
    """After a failed statement Postgres refuses the next one until the transaction is rolled back."""
    native = getattr(client, "native_connection", None)
    if native is not None and hasattr(native, "rollback") and not hasattr(native, "register"):
        with contextlib.suppress(Exception):
            native.rollback()
