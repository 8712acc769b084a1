"""`returning-sync models [--select a,b]`: build the SQL models (schema `analytics`) on the configured
warehouse in dependency order, for schedulers other than Dagster (cron).

`--select` names models: `name` builds that model alone (its upstream models must exist already),
`+name` also builds every model it reads first, `name+` also every model that reads it.

`--community SLUG` builds one community's models (schema `analytics__<slug>`); `--all-communities`
builds every community's, each in its own process (returning_sync/communities_run.py), then the
union views of schema `analytics_all` (warehouse/union.py).
"""

from __future__ import annotations

import argparse
import sys
import time

from returning_errors import plural
from returning_sync.communities_run import (
    add_community_argument,
    chosen_location,
    run_each,
    worst_exit,
    write_summary,
)
from warehouse.connection import connect
from warehouse.errors import WarehouseError, WarehouseMissing
from warehouse.location import WarehouseLocation
from warehouse.models import ModelError, build_model, discover_models, select_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", default=None, metavar="A,B",
                        help="models to build (default all): NAME alone, +NAME with its upstream models, "
                             "NAME+ with its downstream models")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="DuckDB: seconds to wait while another process holds the warehouse lock (default 60)")
    add_community_argument(parser, fan_out=True)


def run(args: argparse.Namespace) -> int:
    selection = args.select.split(",") if args.select is not None else None
    models = select_models(discover_models(), selection)  # an unknown model: exit 2 before connecting
    if not models:
        raise ModelError("--select named no model")
    if args.all_communities:
        return all_communities(args)
    location = chosen_location(args)
    if location.embedded and not location.file.exists():
        raise WarehouseMissing(location.path)
    started = time.monotonic()
    width = max(len("model"), *(len(m.name) for m in models))
    print(f"building {plural(len(models), 'model')} on {location.describe()}")
    print(f"{'model':<{width}}  {'rows':>10}  {'seconds':>8}", flush=True)
    rows = 0
    with connect(location, wait_seconds=args.wait) as con:
        for model in models:
            try:
                result = build_model(con, model)
            except WarehouseError as exc:
                print(f"{model.name:<{width}}  {'failed':>10}", flush=True)
                print(f"error: {exc}", file=sys.stderr)
                return exc.exit_code
            rows += result.rows
            print(f"{result.model:<{width}}  {result.rows:>10,}  {result.seconds:>8.2f}", flush=True)
    print(f"{len(models)} built in {time.monotonic() - started:.1f}s")
    write_summary(args, {"models": len(models), "rows": rows})
    return 0


def all_communities(args: argparse.Namespace) -> int:
    """Every configured community's models, each in its own process, then `analytics_all`'s views
    over the communities whose build succeeded."""
    from pipelines.communities import communities
    from warehouse.union import build_union_views

    argv = [*(["--select", args.select] if args.select is not None else []), "--wait", str(args.wait)]
    outcomes = run_each("models", argv, args.parallel, ("models", "rows"), key_required=False)
    top = WarehouseLocation.from_env()
    # the union views read the communities whose models are in the top-level warehouse (one with a
    # DuckDB file or a database of its own is not in them)
    here = {c.slug for c in communities(key_required=False)
            if not c.own_database and (not top.embedded or c.location.file == top.file)}
    built = [o.slug for o in outcomes if o.exit_code == 0 and o.slug in here]
    code = worst_exit([o.exit_code for o in outcomes])
    if built:
        with connect(top, wait_seconds=args.wait) as con:
            views = build_union_views(con, built)
        print(f"analytics_all: {plural(len(views), 'union view')} over {', '.join(built)}")
    return code
