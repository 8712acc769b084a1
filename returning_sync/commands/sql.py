"""`returning-sync sql "QUERY" [--format table|csv|json]`: a read-only query of the warehouse."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import duckdb

from warehouse.duck import connect, warehouse_path

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help='SQL to run, e.g. "select * from analytics.community_daily_kpis limit 5"')
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--warehouse", default=None,
                        help="DuckDB file (default: $RETURNING_WAREHOUSE or warehouse/returning.duckdb)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="seconds to wait while another process holds the warehouse lock (default 5)")


def safe_csv_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula (leading = + - @, tab, CR)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def write_csv(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([safe_csv_cell(v) for v in row])


def write_json(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    json.dump([dict(zip(columns, row, strict=True)) for row in rows], out, default=_json_default,
              ensure_ascii=False, indent=1)
    out.write("\n")


def write_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


def run(args: argparse.Namespace) -> int:
    path = warehouse_path(args.warehouse)
    con = connect(path, read_only=True, wait_seconds=args.wait)
    try:
        cursor = con.execute(args.query)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    except duckdb.Error as exc:
        print(f"error: query failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    finally:
        con.close()
    if args.format == "csv":
        write_csv(sys.stdout, columns, rows)
    elif args.format == "json":
        write_json(sys.stdout, columns, rows)
    else:
        write_table(columns, rows)
    return 0
