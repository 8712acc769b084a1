"""The warehouse port: one connection type over every destination.

SQL is written once, in DuckDB's dialect with `?` placeholders, and transpiled by sqlglot to the
destination's dialect (`transpile`). DuckDB is reached through its adapter (`warehouse.duck`: the file
lock, the memory limit, Arrow registration); every other destination through dlt's own SQL client,
configured by dlt's own conventions. Errors say which warehouse and what to fix, never a password:
a setting that is wrong (unknown destination, missing credentials, refused login, a path that is not
a DuckDB file) is a `ConfigError`; what the warehouse answers is a `WarehouseError`
(`warehouse.errors`). dlt's destinations and SQL clients are made in `warehouse.destination`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from returning_errors import ConfigError, ReturningError, SyncBusy
from warehouse import duck
from warehouse.destination import sql_client
from warehouse.errors import WarehouseConflict, WarehouseQueryError, WarehouseUnreachable
from warehouse.location import RAW_SCHEMA, SQL_DIALECT, WarehouseLocation
from warehouse.schema_map import map_params, pairs, rewrite


@lru_cache(maxsize=512)
def transpile(sql: str, dialect: str) -> str:
    """`sql` (DuckDB's dialect, `?` placeholders) in `dialect`; placeholders become `%s`, dlt's
    convention for every SQL client, and a literal `%` is doubled where placeholders are used."""
    if dialect == SQL_DIALECT:
        return sql
    statements = sqlglot.transpile(sql, read=SQL_DIALECT, write=dialect)
    return dlt_placeholders(sql, ";\n".join(statements))


def dlt_placeholders(sql: str, out: str) -> str:
    """`out`, transpiled from `sql`, with dlt's `%s` placeholders (and a literal `%` doubled)."""
    if "?" in sql or "%s" in out:
        # sqlglot writes `?` or `%s` depending on the dialect; dlt's clients all take `%s`
        out = out.replace("%", "%%").replace("%%s", "%s")
        out = re.sub(r"(?<![\w'])\?(?![\w'])", "%s", out)
    return out


def expand_in(sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """Expand each `IN ?` whose parameter is a list or tuple into `IN (?, ?, ...)`, so a list of
    keys is a plain IN list on every engine (callers batch them: a page of users at most)."""
    if not any(isinstance(p, list | tuple) for p in params):
        return sql, list(params)
    parts = sql.split("?")
    if len(parts) - 1 != len(params):
        raise ValueError("placeholder count does not match the parameters")
    out, flat = [parts[0]], []
    for param, rest in zip(params, parts[1:], strict=True):
        if isinstance(param, list | tuple):
            if not param:
                out.append("(NULL)")
            else:
                out.append("(" + ", ".join("?" for _ in param) + ")")
                flat.extend(param)
        else:
            out.append("?")
            flat.append(param)
        out.append(rest)
    return "".join(out), flat


def is_read_only_statement(sql: str) -> bool:
    """True when every statement of `sql` only reads (SELECT, WITH ... SELECT, SHOW, DESCRIBE, ...)."""
    try:
        statements = sqlglot.parse(sql, read=SQL_DIALECT)
    except sqlglot.errors.ParseError:
        return False
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
              exp.Command, exp.TruncateTable, exp.Set, exp.Copy, exp.Transaction, exp.Commit)
    if len([s for s in statements if s is not None]) != 1:
        return False  # one statement: nothing can switch the session back to writing first
    for statement in statements:
        if statement is None or isinstance(statement, exp.Describe):
            continue
        if not isinstance(statement, exp.Query) or any(True for _ in statement.find_all(*writes)):
            return False
    return True


class Connection:
    """A warehouse connection. `execute` takes SQL in DuckDB's dialect with `?` placeholders.

    Scoped to its location's community: every statement it runs names the canonical schemas
    (`returning_raw`, `analytics`, ...) and reaches the community's (`analytics__acme`; rewritten in
    the syntax tree, `warehouse.schema_map`), as do the helpers that take a schema name. The default
    community's connection runs SQL exactly as before (nothing is parsed)."""

    def __init__(self, location: WarehouseLocation, native: Any, sql_client: Any = None,
                 read_only: bool = False) -> None:
        self.location = location
        self.dialect = location.dialect
        self.native = native  # a duckdb connection, or dlt's SQL client's DB-API connection
        self.sql_client = sql_client  # dlt's SQL client (None on DuckDB)
        self.read_only = read_only
        self._in_transaction = False
        self.schemas = location.schema_map  # canonical -> the community's; empty: nothing to rewrite
        self._schema_pairs = pairs(self.schemas)

    @property
    def community(self) -> str:
        return self.location.community

    def schema(self, name: str) -> str:
        """The community's name of schema `name` (`analytics` -> `analytics__acme`)."""
        return self.location.schema(name)

    # -- statements ---------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        sql, flat = expand_in(sql, params)
        if not self.schemas:
            return self._run(transpile(sql, self.dialect), flat)
        text, catalog = self._scoped(sql, SQL_DIALECT, self.dialect)
        if self.dialect != SQL_DIALECT:
            text = dlt_placeholders(sql, text)
        return self._run(text, map_params(flat, self.schemas) if catalog else flat)

    def execute_native(self, sql: str) -> Cursor:
        """One statement already in the destination's dialect, run as written (no transpiling, no
        parameters): SQL generated for this destination, such as a model's materialization."""
        if self.schemas:
            sql = self._scoped(sql, self.dialect, self.dialect)[0]
        return self._run(sql, [])

    def _scoped(self, sql: str, read: str, write: str) -> tuple[str, bool]:
        """`sql` with the community's schema names, from `read`'s dialect in `write`'s; whether it
        reads the catalog."""
        try:
            return rewrite(sql, read, write, self._schema_pairs)
        except sqlglot.errors.ParseError as exc:
            # never run it unscoped: it would read or write the default community's schemas
            raise WarehouseQueryError(f"cannot scope a statement to community {self.community!r}: "
                                      f"sqlglot cannot parse it ({str(exc).splitlines()[0]})") from None

    def _run(self, text: str, params: list[Any]) -> Cursor:
        try:
            if self.sql_client is None:
                self.native.execute(text, params)
                return Cursor(self.native)
            cursor = self.native.cursor()
            cursor.execute(text, params or None)
            return Cursor(cursor)
        except Exception as exc:
            raise self._query_error(exc) from None

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.execute(sql, params).fetchone()

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.execute(sql, params)
        columns = cursor.columns
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    # -- transactions -------------------------------------------------------------------------
    def begin(self) -> None:
        if self.sql_client is None:
            self.native.execute("BEGIN TRANSACTION")
        else:
            self.native.autocommit = False
        self._in_transaction = True

    def commit(self) -> None:
        self._end(commit=True)

    def rollback(self) -> None:
        self._end(commit=False)

    def _end(self, commit: bool) -> None:
        """Close the open transaction: DuckDB by statement, a DB-API driver by method (then autocommit again)."""
        self._in_transaction = False
        if self.sql_client is None:
            self.native.execute("COMMIT" if commit else "ROLLBACK")
        else:
            (self.native.commit if commit else self.native.rollback)()
            self.native.autocommit = True

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # -- catalog ------------------------------------------------------------------------------
    def table_exists(self, schema: str, table: str) -> bool:
        schema = self.schema(schema)
        row = self.fetchone("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = ?", [schema, table])
        return bool(row and row[0])

    def row_count(self, schema: str, table: str) -> int | None:
        """Rows in `schema.table`; None when the table does not exist."""
        if not self.table_exists(schema, table):
            return None
        row = self.fetchone(f'SELECT count(*) FROM {self.schema(schema)}."{table}"')
        return int(row[0]) if row and row[0] is not None else 0

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        schema = self.schema(schema)
        return [(str(c), str(t)) for c, t in self.fetchall(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position", [schema, table])]

    def tables(self, schema: str) -> list[str]:
        schema = self.schema(schema)
        return [str(r[0]) for r in self.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema])]

    def close(self) -> None:
        try:
            if self.sql_client is None:
                self.native.close()
            else:
                self.sql_client.close_connection()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _query_error(self, exc: Exception) -> Exception:
        if isinstance(exc, ReturningError):
            return exc
        if self.sql_client is not None and self._in_transaction is False:
            try:  # psycopg2 leaves the connection in an aborted state after an error
                self.native.rollback()
                self.native.autocommit = True
            except Exception:  # noqa: BLE001
                pass
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        lower = str(exc).lower()
        if any(s in lower for s in ("duplicate key", "unique constraint", "primary key or unique constraint",
                                    "duplicate entry", "violates primary key")):
            conflict = WarehouseConflict(f"key already taken on {self.location.describe()}: {text}")
            conflict.original = exc  # type: ignore[attr-defined]
            return conflict
        if "disabled by configuration" in lower or "disabled through configuration" in lower \
                or "configuration has been locked" in lower:
            return WarehouseQueryError(f"refused: this session reaches only {self.location.describe()} "
                                       f"(no other file, database or extension; settings locked): {text}")
        if "read-only" in text.lower() or "read only" in text.lower():
            return WarehouseQueryError(f"the warehouse refused a write: {text}")
        error = WarehouseQueryError(f"query failed on {self.location.describe()}: {text}")
        error.original = exc  # type: ignore[attr-defined]
        return error


class Cursor:
    """The result of `Connection.execute`: rows and column names."""

    def __init__(self, native: Any) -> None:
        self.native = native

    @property
    def description(self) -> Any:
        return self.native.description

    @property
    def columns(self) -> list[str]:
        return [d[0] for d in self.native.description or []]

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.native.description is None:
            return []
        return [tuple(r) for r in self.native.fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        if self.native.description is None:
            return None
        row = self.native.fetchone()
        return tuple(row) if row is not None else None


# -- opening --------------------------------------------------------------------------------------

def classify_connect_error(location: WarehouseLocation, exc: BaseException) -> ConfigError | WarehouseUnreachable:
    """A failed login or connection as one clear line: refused login exit 2, unreachable exit 4."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    lower = text.lower()
    where = location.describe()
    unreachable = ("connection refused", "could not connect", "timeout expired", "timed out",
                   "could not translate host name", "no route to host", "network is unreachable",
                   "server closed the connection", "name or service not known")
    if any(s in lower for s in unreachable):
        return WarehouseUnreachable(f"the warehouse {where} is unreachable: {first}")
    return ConfigError(f"the warehouse {where} refused the connection: {first}")


def open_client(location: WarehouseLocation, client: Any) -> Any:
    """dlt's SQL client `client`, connected: a refused login or an unreachable server as one line."""
    try:
        client.open_connection()
    except ReturningError:
        raise
    except Exception as exc:
        raise classify_connect_error(location, exc) from None
    return client


def connect(location: WarehouseLocation | None = None, *, read_only: bool = False,
            wait_seconds: float = 5.0, memory_limit: str | None = None, sandbox: bool = False) -> Connection:
    """Open the warehouse. DuckDB: the file (waiting `wait_seconds` for another process's lock;
    `sandbox`: that file and nothing else, see `warehouse.duck.SANDBOX`); elsewhere: dlt's SQL
    client, in a read-only session when `read_only`."""
    location = location or WarehouseLocation.from_env()
    if location.embedded:
        native = duck.connect(location.path, read_only=read_only, wait_seconds=wait_seconds,
                              memory_limit=memory_limit, sandbox=sandbox)
        return Connection(location, native, read_only=read_only)
    client = open_client(location, sql_client(location, location.schema(RAW_SCHEMA)))
    con = Connection(location, client.native_connection, sql_client=client, read_only=read_only)
    con.native.autocommit = True
    if location.dialect == "postgres":
        cursor = con.native.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        if read_only:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    return con


@contextmanager
def hold_for_load(location: WarehouseLocation, *, memory_limit: str | None = None,
                  wait: float = 30.0) -> Iterator[Any]:
    """What a sync holds for its whole run. DuckDB: the file opened for writing once (handed to
    dlt's destination), because DuckDB lets one process write a file and no other open it
    meanwhile: a reader that opened it between two of dlt's own connections would make the load
    fail halfway. Server destinations: nothing is held; the login is checked once up front, so a
    wrong password or a dead server ends the run with one line before any API call."""
    if location.embedded:
        con = duck.hold(location.file, memory_limit=memory_limit, wait=wait)
        try:
            yield con
        finally:
            con.close()
        return
    con = connect(location)
    key = [f"returning_sync:{location.schema(RAW_SCHEMA)}"]
    locked = False
    try:
        if location.dialect == "postgres":
            # one sync per dataset across machines: a session advisory lock the server releases
            # when this connection ends, however the process ends
            row = con.fetchone("SELECT pg_try_advisory_lock(hashtext(?))", key)
            if not (row and row[0]):
                raise SyncBusy(f"another sync is already loading into {location.describe()} "
                                    "(it holds the dataset's advisory lock); wait for it to finish")
            locked = True
        else:
            con.fetchone("SELECT 1")
        yield None
    finally:
        if locked:
            # released before the connection closes: the server frees a closed session's locks
            # while its backend exits, after the client has moved on, so the same process taking
            # the lock again at once (the seeds after a sync) could find it still held
            with suppress(Exception):  # a broken connection: its end releases the lock
                con.fetchone("SELECT pg_advisory_unlock(hashtext(?))", key)
        con.close()


def append_rows(con: Any, schema: str, table: str, columns: Sequence[tuple[str, str]],
                rows: Iterable[Sequence[Any]]) -> None:
    """Append `rows` (values in the order of `columns`, (name, SQL type) pairs) to `schema.table`,
    created on first use: the sync's own bookkeeping tables."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({', '.join(f'{n} {k}' for n, k in columns)})")
    names = ", ".join(n for n, _ in columns)
    marks = ", ".join("?" for _ in columns)
    for row in rows:
        con.execute(f"INSERT INTO {schema}.{table} ({names}) VALUES ({marks})", list(row))
