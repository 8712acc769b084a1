"""returning-sync: the Returning.AI warehouse sync. Its command line is `returning_sync.cli`; for Python
(a notebook), `returning_sync.query(sql)` reads the configured warehouse (`returning_sync.analysis`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from returning_sync.analysis import Query

__all__ = ["query"]


def query(sql: str, **options: Any) -> Query:
    """A read query of the warehouse in DuckDB's SQL dialect; `.arrow()`, `.df()` (the `pandas` extra)
    or `.fetchall()` runs it. See `returning_sync.analysis` for the options."""
    from returning_sync.analysis import query as run

    return run(sql, **options)
