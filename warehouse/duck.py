"""Opening the DuckDB warehouse file, with a short wait when another process holds its lock.

DuckDB allows one writing process per file, and while it writes no other process may open the
file at all, not even read-only. Dagster queues its own writers in one pool; everything else
(the `sql` command, checks run from a shell) waits briefly here and then says so plainly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

DEFAULT_WAREHOUSE = "warehouse/returning.duckdb"


class WarehouseBusyError(Exception):
    """Another process (typically a Dagster run) holds the warehouse's write lock."""

    exit_code = 1

    def __init__(self, path: Path, waited: float, detail: str) -> None:
        holder = detail.split("Conflicting lock is held in", 1)[-1].split(". See also")[0].strip()
        super().__init__(
            f"the warehouse {path} is locked by another process ({holder}), still after waiting "
            f"{waited:.0f}s; a sync or materialization is probably writing to it. Try again when it ends."
        )


class WarehouseMissingError(Exception):
    exit_code = 2

    def __init__(self, path: Path) -> None:
        super().__init__(f"no warehouse at {path}; run `returning-sync sync` or `returning-sync demo` first "
                         "(or set RETURNING_WAREHOUSE)")


def warehouse_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the argument, else $RETURNING_WAREHOUSE, else the project default."""
    return Path(path or os.environ.get("RETURNING_WAREHOUSE") or DEFAULT_WAREHOUSE)


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect(path: str | os.PathLike[str] | None = None, *, read_only: bool = False,
            wait_seconds: float = 5.0, poll_seconds: float = 0.25) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; retry while another process holds the lock, then raise WarehouseBusyError."""
    target = warehouse_path(path)
    if read_only and not target.exists():
        raise WarehouseMissingError(target)
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        try:
            return duckdb.connect(str(target), read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise WarehouseBusyError(target, waited, str(exc)) from exc
            time.sleep(poll_seconds)
