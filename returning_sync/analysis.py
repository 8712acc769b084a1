"""`returning_sync.query(sql)` (this module's `query`): SQL analysis of the warehouse from Python (a notebook, a script).

    import returning_sync
    members = returning_sync.query("select tier, count(*) as members from analytics.dim_users group by 1")
    members.arrow()   # a pyarrow Table
    members.df()      # a pandas DataFrame: pip install 'returning-sync[pandas]'

The warehouse is the configured one (`RETURNING_DESTINATION`, `RETURNING_WAREHOUSE`, dlt's
`sources.returning_ai.destination` / `.warehouse`: `warehouse.location`), or the `destination` and
`warehouse` arguments. It is read through dlt's dataset API: `dlt.dataset(destination, "returning_raw")`
and the SQL client that dataset opens, with the credentials dlt resolves for the destination, as the
sync's own pipeline (`pipelines.sync.make_pipeline`) writes them. The SQL is written in DuckDB's
dialect, as every query of the project (`returning-sync sql`, the models), and transpiled by sqlglot for
the destination; name tables with their schema (`returning_raw.users`, `analytics.dim_users`).

Like `returning-sync sql`, it only reads: one read statement, a DuckDB file opened read-only (waiting
`wait_seconds` while a sync holds it), a read-only session on a server. Each `arrow()` / `df()` runs the
query again, on a connection of its own, closed before it returns, so a notebook never holds the file.

pandas is not a dependency: the sync never imports it (pyarrow imports pandas on its first array when
it is installed, which slows the users pass). `df()` needs the extra and says so when it is missing.

Why not dlt's `Relation.arrow()` itself: with the pinned versions (constraints.txt) it fails: dlt 1.31
qualifies a query with a sqlglot argument sqlglot 30 removed (`qualify(infer_schema=...)`), and its
DuckDB cursor asks for duckdb's removed `fetch_arrow_table`. The dataset's SQL client and its chunked
`iter_arrow` work on every destination; the SQL is transpiled by the project's own
`warehouse.connection.transpile`.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from returning_errors import ConfigError, ReturningError
from warehouse.connection import is_read_only_statement, open_client, transpile
from warehouse.destination import SCHEMA_NAME, dlt_destination, missing_credentials
from warehouse.errors import WarehouseQueryError
from warehouse.location import RAW_SCHEMA, WarehouseLocation

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["PandasMissing", "Query", "query"]
CHUNK_ROWS = 100_000  # rows per Arrow batch read from the warehouse


class PandasMissing(ReturningError):
    """`Query.df()` without pandas installed."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__("DataFrames need pandas, which returning-sync does not install by default: "
                         "pip install 'returning-sync[pandas]' (or use .arrow() for a pyarrow Table)")


@dataclass(frozen=True)
class Query:
    """One read query of the warehouse; `arrow()`, `df()` and `fetchall()` run it."""

    sql: str  # as given: DuckDB's dialect
    location: WarehouseLocation
    wait_seconds: float = 5.0

    @property
    def destination_sql(self) -> str:
        """The query as the destination runs it."""
        return transpile(self.sql, self.location.dialect)

    def arrow(self) -> pyarrow.Table:
        """The result as a pyarrow Table (an empty result: its columns, of Arrow's null type)."""
        import pyarrow as pa

        with self._cursor() as cursor, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DuckDB: "Arrow output on a DB-API result makes an extra copy"
            chunks = [chunk for chunk in cursor.iter_arrow(chunk_size=CHUNK_ROWS) if chunk is not None]
            columns = [d[0] for d in cursor.description or []]
        if not chunks:
            return pa.table({name: pa.array([], type=pa.null()) for name in columns})
        return pa.concat_tables(chunks, promote_options="permissive") if len(chunks) > 1 else chunks[0]

    def df(self) -> pandas.DataFrame:
        """The result as a pandas DataFrame (needs `returning-sync[pandas]`)."""
        if importlib.util.find_spec("pandas") is None:
            raise PandasMissing()
        return self.arrow().to_pandas()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The result as rows of Python values."""
        with self._cursor() as cursor:
            return [tuple(row) for row in cursor.fetchall()]

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        dataset, held = _dataset(self.location, self.wait_seconds)
        try:
            client = _open(dataset, self.location)
            try:
                if self.location.dialect == "postgres":
                    client.execute_sql("SET TIME ZONE 'UTC'")
                    client.execute_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                try:
                    with client.execute_query(self.destination_sql) as cursor:
                        yield cursor
                except ReturningError:
                    raise
                except Exception as exc:
                    raise _query_error(self.location, exc) from None
            finally:
                client.close_connection()
        finally:
            if held is not None:
                held.close()


def query(sql: str, *, destination: str | None = None, warehouse: str | os.PathLike[str] | None = None,
          wait_seconds: float = 5.0) -> Query:
    """A read query of the warehouse, in DuckDB's SQL dialect: `.arrow()`, `.df()` or `.fetchall()`
    runs it. `destination` / `warehouse` override the configured warehouse (as the `RETURNING_DESTINATION`
    and `RETURNING_WAREHOUSE` settings). Anything but one read statement is refused here, before the
    warehouse is opened."""
    if not is_read_only_statement(sql):
        raise WarehouseQueryError("returning_sync.query runs one read statement (SELECT, WITH ... SELECT, "
                                  "DESCRIBE, SHOW); it refuses anything that writes, and several statements")
    location = WarehouseLocation.from_env(destination=destination, path=warehouse)
    return Query(sql=sql, location=location, wait_seconds=wait_seconds)


def _dataset(location: WarehouseLocation, wait_seconds: float) -> tuple[Any, Any]:
    """dlt's dataset `returning_raw` on the warehouse (given the sync's schema, so nothing is read to
    find it), and the DuckDB connection it reads through (None elsewhere): the file opened read-only
    by `warehouse.duck`, which waits for a sync's lock."""
    import dlt

    held = None
    if location.embedded:
        from warehouse import duck

        held = duck.connect(location.path, read_only=True, wait_seconds=wait_seconds)
    return dlt.dataset(dlt_destination(location, held), RAW_SCHEMA, schema=dlt.Schema(SCHEMA_NAME)), held


def _open(dataset: Any, location: WarehouseLocation) -> Any:
    """The dataset's SQL client, connected; a missing credential or a refused login as one line."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    try:
        client = dataset.sql_client
    except ConfigFieldMissingException:
        raise ConfigError(missing_credentials(location)) from None
    return open_client(location, client)


def _query_error(location: WarehouseLocation, exc: BaseException) -> WarehouseQueryError:
    cause = getattr(exc, "__cause__", None) or exc  # dlt wraps the driver's error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return WarehouseQueryError(f"query failed on {location.describe()}: {text}")
