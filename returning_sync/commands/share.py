"""`returning-sync share [--print-sql DIALECT] [--community SLUG]`: build schema `analytics_share` for
analysts, members' personal data dropped (or kept hashed, when the PII policy hashes it before it
lands). On Postgres and other servers: views, and the role `returning_analyst` that can read them and
nothing else; on DuckDB: a second DuckDB file beside the warehouse holding only the share's tables.
`--community acme`: that community's share (`analytics_share__acme` over its models, role
`returning_analyst__acme`, file `returning_share__acme.duckdb`). See warehouse/share.py."""

from __future__ import annotations

import argparse

from pipelines.privacy import Policy
from returning_errors import plural
from returning_sync.communities_run import add_community_argument, chosen_location
from warehouse.connection import connect
from warehouse.errors import WarehouseMissing
from warehouse.share import PII_COLUMNS, build_share, model_columns, shared_columns, statements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--print-sql", metavar="DIALECT", choices=["postgres", "snowflake", "bigquery"],
                        help="print the share's SQL for that warehouse (from the models this warehouse holds) "
                             "instead of running it; the role's password is never printed")
    add_community_argument(parser)


def run(args: argparse.Namespace) -> int:
    policy = Policy.from_env()
    location = chosen_location(args)
    if location.embedded and not location.file.exists():
        raise WarehouseMissing(location.path)
    hashed, personal = policy.share_hashed, policy.personal_fields
    if args.print_sql:
        with connect(location, read_only=True) as con:
            models = {m: shared_columns(c, (*PII_COLUMNS, *personal), hashed) for m, c in model_columns(con).items()}
        for statement in statements(models, args.print_sql, password=None, community=location.community):
            print(statement + ";")
        return 0
    with connect(location) as con:
        built = build_share(con, hashed, personal, password=policy.analyst_password or None)
    if built.file is not None:
        print(f"share: {plural(len(built.tables), 'table')} in {built.file} (schema {built.schema}); "
              f"read it with: returning-sync sql --warehouse {built.file} \"...\"")
    else:
        login = "can log in" if policy.analyst_password else "cannot log in (grant it to your analysts' logins)"
        print(f"share: {plural(len(built.views), 'view')} in {built.schema} on {location.describe()}; "
              f"role {built.role} reads only them and {login}")
    return 0
