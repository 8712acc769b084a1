"""The warehouse's errors, in a module of their own: the port (`warehouse.connection`) and the DuckDB
adapter (`warehouse.duck`) both raise them, and neither imports the other for it.

A setting that is wrong (no file yet, missing credentials, refused login) is a `ConfigError`; what
the warehouse answers is a `WarehouseError`.
"""

from __future__ import annotations

from os import PathLike

from returning_errors import ConfigError, ReturningError


class WarehouseError(ReturningError):
    """The warehouse failed or refused a statement; the message names the warehouse."""


class WarehouseMissing(ConfigError):
    """The embedded warehouse file does not exist yet: nothing has been loaded."""

    def __init__(self, path: str | PathLike[str]) -> None:
        super().__init__(f"no warehouse at {path}; run `returning-sync sync` or `returning-sync demo` first "
                         "(or set RETURNING_WAREHOUSE)")


class WarehouseUnreachable(WarehouseError):
    """The warehouse server did not answer."""

    exit_code = 4


class WarehouseQueryError(WarehouseError):
    """The warehouse refused a statement (syntax, missing table, a write in a read-only session)."""

    exit_code = 2


class WarehouseConflict(WarehouseQueryError):
    """An insert hit a primary key or unique constraint: the key is taken (claiming it failed)."""
