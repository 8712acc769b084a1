"""`returning-sync sql "QUERY" [--format table|csv|json]`: a read-only query of the warehouse.

The query is written in DuckDB's dialect and transpiled to the warehouse's. Writes are refused on
every destination: DuckDB opens its file read-only and sandboxed (no other file read, written or
attached, no extension installed: `warehouse.duck.SANDBOX`); a server destination runs only a single read
statement (anything else is refused before it is sent), in a read-only session, inside a transaction
that is rolled back. `--community SLUG`: the query names the canonical schemas (`returning_raw`,
`analytics`, ...) and reads that community's (`analytics__<slug>`, ...).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import sqlglot

from returning_errors import plural
from returning_sync.communities_run import add_community_argument, chosen
from warehouse.connection import connect, is_read_only_statement
from warehouse.errors import WarehouseQueryError
from warehouse.location import DEFAULT_COMMUNITY, WarehouseLocation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help='SQL to run, e.g. "select * from analytics.community_daily_kpis limit 5"')
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--warehouse", default=None,
                        help="DuckDB file (default: $RETURNING_WAREHOUSE or warehouse/returning.duckdb)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="DuckDB: seconds to wait while another process holds the warehouse lock (default 5)")
    add_community_argument(parser)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def write_csv(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Text a spreadsheet would run as a formula is neutralised, as in the reverse-ETL preview."""
    from reverse_etl.csvfile import neutralise  # only here: the other formats need none of reverse_etl

    writer = csv.writer(out, lineterminator="\n")
    for cells in (columns, *rows):
        writer.writerow([neutralise(c) if isinstance(c, str) else c for c in cells])


def write_json(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    json.dump([dict(zip(columns, row, strict=True)) for row in rows], out, default=_json_default,
              ensure_ascii=False, indent=1)
    out.write("\n")


def write_table(out: TextIO, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A boxed table. On a terminal it fits the window (at least 120 columns; rich wraps long cells);
    anywhere else (a file, a pipe) it is as wide as its widest cells, so nothing is cut or wrapped."""
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    cells = [[str(c) for c in columns], *(["" if v is None else str(v) for v in row] for row in rows)]
    table = Table(*cells[0], show_lines=False)
    for row in cells[1:]:
        table.add_row(*row)
    if out.isatty():
        width = max(120, Console(file=out).width)
    else:  # each column: its widest line plus one space either side and a border
        widest = [max(cell_len(line) for cell in column for line in cell.splitlines() or [""])
                  for column in zip(*cells, strict=True)]
        width = sum(widest) + 3 * len(widest) + 1
    console = Console(file=out, width=width)
    console.print(table)
    console.print(plural(len(rows), "row"))


def refuse_unless_read(query: str, location: WarehouseLocation) -> None:
    """One read statement only (SELECT, WITH ... SELECT, DESCRIBE): anything else is refused unsent."""
    try:
        sqlglot.parse(query, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise WarehouseQueryError(f"the query does not parse as DuckDB SQL (it is transpiled to "
                                  f"{location.dialect}): {str(exc).splitlines()[0]}") from None
    if not is_read_only_statement(query):
        raise WarehouseQueryError(f"refused: `sql` is read-only and runs one SELECT (or WITH ... SELECT) on "
                                  f"{location.describe()}; this query is not a single read statement")


def query(location: WarehouseLocation, sql: str, wait_seconds: float) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a read-only query (a ReturningError, with one line, when it cannot run)."""
    if not location.embedded:
        refuse_unless_read(sql, location)
    with connect(location, read_only=True, wait_seconds=wait_seconds, sandbox=True) as con:
        con.begin()  # a read-only transaction on servers; rolled back, so nothing it did can stay
        try:
            cursor = con.execute(sql)
            return cursor.columns, cursor.fetchall()
        finally:
            con.rollback()


def run(args: argparse.Namespace) -> int:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" noise
    location = WarehouseLocation.from_env(path=args.warehouse)
    if args.community != DEFAULT_COMMUNITY:
        scoped = chosen(args, key_required=False).location
        location = scoped if args.warehouse is None else replace(scoped, path=Path(args.warehouse))
    columns, rows = query(location, args.query, args.wait)  # an error: one line and its exit code (cli)
    if args.format == "csv":
        write_csv(sys.stdout, columns, rows)
    elif args.format == "json":
        write_json(sys.stdout, columns, rows)
    else:
        write_table(sys.stdout, columns, rows)
    return 0
