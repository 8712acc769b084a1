"""`returning-sync push --list` · `returning-sync push NAME [--dry-run]` ·
`returning-sync push NAME --confirm|--release PUSH_ID`: reverse ETL.

`--community SLUG`: the community's data, key and ledger (schema `reverse_etl__<slug>`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from returning_sync.communities_run import add_community_argument, chosen, chosen_location


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the push definition to run (see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list definitions (shipped and RETURNING_PUSH_DIR): target, schedule, last run, file")
    parser.add_argument("--dry-run", action="store_true",
                        help="query, validate, diff and write the CSV; send nothing")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for the bulk job before leaving it to the next run (default 120)")
    settle = parser.add_mutually_exclusive_group()
    settle.add_argument("--confirm", metavar="PUSH_ID",
                        help="an upload left 'unknown' (its answer lost, and the API serves no bulk-jobs list) "
                             "that the community's Api Log shows: record its rows as applied")
    settle.add_argument("--release", metavar="PUSH_ID",
                        help="an upload left 'unknown' that the Api Log does not show: release its rows, "
                             "so that the next run sends them")
    add_community_argument(parser)


def _settings(args: argparse.Namespace, *, key_required: bool) -> Any:
    """The chosen community's settings (the default community: the top-level settings, as before)."""
    return chosen(args, key_required=key_required).settings


def _last_runs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each definition's latest push, from the community's ledger on the configured warehouse."""
    from reverse_etl.runner import last_runs

    return last_runs(chosen_location(args))


def _list(args: argparse.Namespace) -> int:
    from reverse_etl import list_definitions
    from reverse_etl.definitions import DEFINITIONS_DIR

    runs = _last_runs(args)
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
        return _list(args)
    if not args.name:
        print("usage: returning-sync push --list | push NAME [--dry-run]", file=sys.stderr)
        return 2
    if args.confirm or args.release:
        return _settle_by_hand(args, args.name, args.confirm or args.release, landed=bool(args.confirm))
    from pipelines.errors import ApiFailure
    from reverse_etl import run_push
    from reverse_etl.jobs import Waiting
    from reverse_etl.states import FAILED_RUN_STATES

    # a dry run reads the warehouse only: no key needed (the client refuses to call without one)
    settings = _settings(args, key_required=not args.dry_run)
    waiting = Waiting(timeout=args.wait) if args.wait is not None else None
    result = run_push(args.name, settings, dry_run=args.dry_run, waiting=waiting)
    for line in result.lines():
        print(line)
    if result.exit_code is not None:
        return result.exit_code
    if result.state in FAILED_RUN_STATES:
        return ApiFailure.exit_code
    return 0


def _settle_by_hand(args: argparse.Namespace, name: str, push_id: str, landed: bool) -> int:
    """`--confirm` / `--release`: a person settles an upload whose outcome the API cannot tell."""
    from reverse_etl import ledger
    from reverse_etl.pushrun import open_ledger

    with open_ledger(_settings(args, key_required=False)) as con:
        changed = ledger.settle_by_hand(con, push_id, landed)
        unknown = [] if changed else ledger.unknown_pushes(con, name)
        if not changed and push_id not in unknown:
            print(f"error: push {push_id} of {name} is not an upload left unknown; "
                  f"unknown ones: {', '.join(unknown) or 'none'}", file=sys.stderr)
            return 2
    print(f"{name}: push {push_id} {'confirmed' if landed else 'released'}: {changed} key(s) "
          + ("recorded as applied" if landed else "will be sent by the next run"))
    return 0
