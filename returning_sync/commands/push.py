"""`returning-sync push --list` · `returning-sync push NAME [--dry-run]`: reverse ETL."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the push definition to run (see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list definitions (shipped and RETURNING_PUSH_DIR): target, schedule, last run, file")
    parser.add_argument("--dry-run", action="store_true",
                        help="query, validate, diff and write the CSV; send nothing")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for the bulk job before leaving it to the next run (default 120)")


def _last_runs() -> dict[str, dict]:
    """Each definition's latest push, from the ledger on the configured warehouse (any destination)."""
    from reverse_etl.runner import last_runs
    from warehouse.location import WarehouseLocation

    return last_runs(WarehouseLocation.from_env())


def _list() -> int:
    from reverse_etl import list_definitions
    from reverse_etl.definitions import DEFINITIONS_DIR

    runs = _last_runs()
    rows = [("name", "target", "columns", "schedule", "last run", "from")]
    for d in list_definitions():
        last = runs.get(d.name)
        when = "never"
        if last:
            when = f"{last['created_at']:%Y-%m-%d %H:%M} {last['state']} (sent {last['sent_rows'] or 0})"
        cols = ", ".join(c if d.per_row else f"{c}={op}" for c, op in d.columns.items())
        where = "shipped" if d.path.parent.resolve() == DEFINITIONS_DIR.resolve() else str(d.path.parent)
        rows.append((d.name, d.target, cols, d.schedule or "-", when, where))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    if not args.name:
        print("usage: returning-sync push --list | push NAME [--dry-run]", file=sys.stderr)
        return 2
    from pipelines.config import Settings
    from pipelines.errors import ApiFailure
    from reverse_etl import run_push
    from reverse_etl.jobs import Waiting

    # a dry run reads the warehouse only: no key needed (the client refuses to call without one)
    settings = Settings.from_env(key_required=not args.dry_run)
    waiting = Waiting(timeout=args.wait) if args.wait is not None else None
    result = run_push(args.name, settings, dry_run=args.dry_run, waiting=waiting)
    for line in result.lines():
        print(line)
    if result.exit_code is not None:
        return result.exit_code
    if result.state in ("not_received", "failed"):
        return ApiFailure.exit_code
    return 0
