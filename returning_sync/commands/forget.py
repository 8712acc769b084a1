"""`returning-sync forget (--email E | --user-id ID) [--dry-run]`: erase one member from every place this
tool writes (tables, models, push ledger and files, webhook landing, dlt's working folder) and record
a PII-free audit row in `returning_private.erasures`; later syncs leave them out. See pipelines/forget.py.
`--community SLUG`: the member of that community (its schemas, `returning_private__<slug>`)."""

from __future__ import annotations

import argparse

from pipelines.forget import forget
from returning_sync.communities_run import add_community_argument, chosen_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the member's email address")
    who.add_argument("--user-id", help="the member's id (users._id)")
    parser.add_argument("--dry-run", action="store_true", help="list what would change, table by table; change nothing")
    add_community_argument(parser)


def run(args: argparse.Namespace) -> int:
    settings = chosen_settings(args)
    report = forget(settings, email=args.email, user_id=args.user_id, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    if not args.dry_run:
        print("recorded in returning_private.erasures; later syncs leave this member out")
    return 0
