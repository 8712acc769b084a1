"""The push ledger's tables in the warehouse (schema `reverse_etl`), with their keys.

- `pushes`      one row per run that was not a dry run (normally one upload); job id, state, counts.
- `push_rows`   one row per data row of the upload (plus rows rejected before sending or given up).
- `push_ledger` one row per push key: a delta key (definition|email|period) is applied at most once,
                ever; an overwrite key (definition|email) holds the last values the server confirmed.
- `push_claims` one row per definition while one of its pushes is open: the run's claim.

The keys are what keep pushes exact on every destination (see `ledger`). The DDL is DuckDB's dialect,
transpiled by the warehouse port for other destinations.
"""

from __future__ import annotations

import time

from warehouse.connection import Connection, WarehouseQueryError
from warehouse.location import PUSH_SCHEMA

SCHEMA = PUSH_SCHEMA

# table -> (columns, constraint)
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "pushes": ((
        ("push_id", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("target", "VARCHAR"),
        ("file_name", "VARCHAR"), ("csv_path", "VARCHAR"), ("state", "VARCHAR"), ("job_id", "VARCHAR"),
        ("job_status", "VARCHAR"), ("total_rows", "INTEGER"), ("invalid_rows", "INTEGER"),
        ("changed_rows", "INTEGER"), ("sent_rows", "INTEGER"), ("success_rows", "INTEGER"),
        ("failed_rows", "INTEGER"), ("skipped_rows", "INTEGER"), ("given_up_rows", "INTEGER"),
        ("warnings", "INTEGER"), ("error", "VARCHAR"), ("created_at", "TIMESTAMP"),
        ("uploaded_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("updated_at", "TIMESTAMP"),
        ("owner", "VARCHAR"),  # host:pid of the process that sends it
    ), "PRIMARY KEY (push_id)"),
    "push_rows": ((
        ("push_id", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("row_number", "INTEGER"),
        ("email", "VARCHAR"), ("period", "VARCHAR"), ("push_keys", "VARCHAR"), ("values_json", "VARCHAR"),
        ("result", "VARCHAR"), ("error", "VARCHAR"), ("warning", "VARCHAR"), ("attempt", "INTEGER"),
        ("updated_at", "TIMESTAMP"),
    ), "UNIQUE (push_id, row_number)"),  # sent rows are unique per push; unsent rows have no number
    "push_ledger": ((
        ("push_key", "VARCHAR NOT NULL"), ("definition", "VARCHAR"), ("email", "VARCHAR"),
        ("period", "VARCHAR"), ("kind", "VARCHAR"), ("status", "VARCHAR"), ("applied_values", "VARCHAR"),
        ("attempt_values", "VARCHAR"), ("attempts", "INTEGER"), ("last_push_id", "VARCHAR"),
        ("last_error", "VARCHAR"), ("updated_at", "TIMESTAMP"),
    ), "PRIMARY KEY (push_key)"),
    "push_claims": ((
        ("definition", "VARCHAR NOT NULL"), ("push_id", "VARCHAR NOT NULL"), ("owner", "VARCHAR"),
        ("claimed_at", "TIMESTAMP"),
    ), "PRIMARY KEY (definition)"),
}


def columns(table: str) -> list[str]:
    """The column names of a ledger table, in order."""
    return [c for c, _ in TABLES[table][0]]


def create_sql(table: str) -> str:
    table_columns, constraint = TABLES[table]
    body = ", ".join(f"{c} {t}" for c, t in table_columns)
    return f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({body}, {constraint})"


def ensure_schema(con: Connection, attempts: int = 5) -> None:
    """Create the ledger's schema and tables when missing. Two processes creating them at once may
    collide on the server's catalog: retried."""
    for attempt in range(attempts):
        try:
            if set(con.tables(SCHEMA)) >= set(TABLES):
                return
            with con.transaction():
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                for table in TABLES:
                    con.execute(create_sql(table))
            return
        except WarehouseQueryError:
            if attempt + 1 >= attempts:
                raise
            time.sleep(0.1 * (attempt + 1))


def has_schema(con: Connection) -> bool:
    """Whether the ledger exists (a warehouse no push ran on has none: nothing to read)."""
    return con.table_exists(SCHEMA, "push_ledger")
