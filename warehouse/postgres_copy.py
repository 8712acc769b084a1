"""Postgres loads of Arrow-born tables through `COPY` (dlt's `csv` loader file format), keeping the
empty string apart from NULL.

dlt's Postgres csv job adds `FORCE_NULL(...)` for every nullable column, so a quoted empty string
("") loads as NULL as well. The files of the tables this project hands dlt as Arrow are written by
Arrow's csv writer, which leaves NULL unquoted and quotes "" — exactly the distinction Postgres' CSV
format makes by itself. So text columns are copied without FORCE_NULL; other columns keep it (an
empty unquoted field is their NULL either way). Tables handed over as Python dicts keep dlt's
`insert_values` (their csv writer cannot tell "" from NULL, and dlt 1.31 miscounts their rows).
"""

from __future__ import annotations

from typing import Any

_PATCHED = False


def keep_empty_strings() -> None:
    """Make dlt's Postgres csv COPY leave text columns out of FORCE_NULL (once per process)."""
    global _PATCHED
    if _PATCHED:
        return
    import dlt.destinations.impl.postgres.postgres as postgres_jobs

    nullable = postgres_jobs.is_nullable_column

    def force_null(column: Any) -> bool:
        return bool(nullable(column)) and column.get("data_type") != "text"

    postgres_jobs.is_nullable_column = force_null
    _PATCHED = True
