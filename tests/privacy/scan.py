"""The erasure scan: where a string occurs in the warehouse (every text column of every table) and in
files (the warehouse folder, dlt's working folder, the webhook landing folder), whatever they are."""

from __future__ import annotations

import contextlib
import gzip
import json
from pathlib import Path
from typing import Any

from warehouse.connection import Connection

SKIP_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


def text_columns(con: Connection) -> list[tuple[str, str, str]]:
    rows = con.fetchall("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns")
    out = []
    for schema, table, column, kind in rows:
        if str(schema) in SKIP_SCHEMAS or str(schema).startswith("pg_"):
            continue
        if any(k in str(kind).lower() for k in ("char", "text", "json", "string")):
            out.append((str(schema), str(table), str(column)))
    return sorted(out)


def scan_tables(con: Connection, needle: str) -> dict[str, int]:
    """`schema.table.column` -> rows holding `needle` (case-insensitive), for every text column."""
    found: dict[str, int] = {}
    for schema, table, column in text_columns(con):
        row = con.fetchone(f'SELECT count(*) FROM "{schema}"."{table}" WHERE lower(CAST("{column}" AS VARCHAR)) '
                           f"LIKE ?", [f"%{needle.lower()}%"])
        if row and row[0]:
            found[f"{schema}.{table}.{column}"] = int(row[0])
    return found


def _texts(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [json.dumps(pq.read_table(path).to_pylist(), default=str)]
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError):
            data = gzip.decompress(data)
    return [data.decode("utf-8", "replace")]


def scan_files(folders: list[Path], needle: str, skip_suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files under `folders` holding `needle` (case-insensitive; gzip and parquet read as their content)."""
    hits: list[str] = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix in skip_suffixes:
                continue
            if any(needle.lower() in text.lower() for text in _texts(path)):
                hits.append(str(path))
    return hits


def rows(con: Connection, sql: str) -> list[dict[str, Any]]:
    return con.dicts(sql)
