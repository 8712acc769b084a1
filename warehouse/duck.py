"""The DuckDB adapter: the only module that imports duckdb. Opening the file (with a short wait
when another process holds its lock), the memory limit, Arrow registration for key comparisons.

DuckDB allows one writing process per file, and while it writes no other process may open the
file at all, not even read-only. Dagster queues its own writers in one pool; everything else
(the `sql` command, checks run from a shell) waits briefly here and then says so plainly.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb

from returning_errors import Busy, ConfigError
from warehouse.errors import WarehouseMissing
from warehouse.location import WarehouseLocation

Error = duckdb.Error  # for callers that must tell DuckDB's errors apart without importing duckdb


SANDBOX = """A sandboxed connection (`connect(sandbox=True)`) reaches its own file only. It opens
with `enable_external_access = false` (no file read or written outside the database, no other
database attached, no extension installed or loaded, no secret stored) and then locks the
configuration (`lock_configuration = true`), so no statement can switch either back."""


class WarehouseLocked(Busy):
    """Another process (a sync, a Dagster run, a query) holds the DuckDB file longer than this one waits."""


def warehouse_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the argument, else as configured (`WarehouseLocation.from_env`)."""
    return Path(path) if path else WarehouseLocation.from_env().path


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect(path: str | os.PathLike[str] | None = None, *, read_only: bool = False,
            wait_seconds: float = 5.0, poll_seconds: float = 0.25,
            memory_limit: str | None = None, utc: bool = True,
            sandbox: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; retry while another process holds the lock, then raise WarehouseLocked.
    A file that is not a DuckDB database (or cannot be opened) is a ConfigError. `utc`: the
    session's time zone is UTC (timestamptz -> date casts are UTC days, as the API's).
    `sandbox`: the file and nothing else (`SANDBOX`), for queries a person types."""
    target = warehouse_path(path)
    if read_only and not target.exists():
        raise WarehouseMissing(target)
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        try:
            config = {"enable_external_access": False} if sandbox else {}
            con = duckdb.connect(str(target), read_only=read_only, config=config)
            if utc:
                con.execute("SET TimeZone = 'UTC'")
            if memory_limit:  # DuckDB spills to disk beyond it (big merges, 1M users)
                con.execute(f"SET memory_limit = '{memory_limit}'")
            if sandbox:  # after our own settings, before any statement of the caller's
                con.execute("SET lock_configuration = true")
            return con
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                if isinstance(exc, duckdb.IOException):
                    raise ConfigError(f"RETURNING_WAREHOUSE {target} cannot be opened: "
                                      f"{str(exc).splitlines()[0]}") from None
                raise
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                holder = str(exc).split("Conflicting lock is held in", 1)[-1].split(". See also")[0].strip()
                raise WarehouseLocked(
                    f"the warehouse {target} is locked by another process ({holder}), still after waiting "
                    f"{waited:.0f}s; a sync or materialization is probably writing to it. Try again when it ends."
                ) from exc
            time.sleep(poll_seconds)


def anti_join(native: duckdb.DuckDBPyConnection, qualified: str, key: str, keep: Any, where: str) -> Any:
    """Rows of `qualified` whose `key` is not among the Arrow table `keep`'s, as Arrow: the keys are
    registered as a view, so the comparison runs inside DuckDB and costs no Python set."""
    view = "__returning_keep_keys"
    native.register(view, keep)
    try:
        sql = (f"SELECT * FROM {qualified} AS t WHERE {where or 'TRUE'} AND NOT EXISTS "
               f'(SELECT 1 FROM {view} AS k WHERE k."{key}" = t."{key}") ORDER BY t."{key}"')
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return native.sql(sql).to_arrow_table()
    finally:
        native.unregister(view)


def hold(path: Path, *, memory_limit: str | None, wait: float) -> duckdb.DuckDBPyConnection:
    """The file opened for writing, waiting `wait` seconds for readers already in (`connect`'s wait,
    with the sync's own message when it runs out)."""
    try:
        return connect(path, wait_seconds=wait, poll_seconds=0.2, memory_limit=memory_limit, utc=False)
    except WarehouseLocked:
        raise WarehouseLocked(f"the warehouse {path} is held by another process (a query or a Dagster run?) "
                              f"after waiting {wait:.0f}s; try again when it ends") from None


def _compacted(path: Path) -> Path:
    return path.with_name(path.name + ".compacted")


def compact_into(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A fresh copy of the open database `path` beside it (`swap_compacted` puts it in place): DuckDB
    keeps deleted values in free blocks of the file until they are reused; a copy holds none."""
    target = _compacted(path)
    target.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    con.execute("CHECKPOINT")
    con.execute(f"ATTACH '{target}' AS returning_compacted")
    try:
        con.execute(f'COPY FROM DATABASE "{source}" TO returning_compacted')
    finally:
        con.execute("DETACH returning_compacted")


def swap_compacted(path: Path) -> None:
    """Replace `path` by its compacted copy (after its last connection closed), the old WAL with it."""
    target = _compacted(path)
    if target.exists():
        os.replace(target, path)
        Path(str(path) + ".wal").unlink(missing_ok=True)
