"""`returning-sync models [--select a,b]`: build the SQL models (schema `analytics`) on the configured
warehouse in dependency order, for schedulers other than Dagster (cron).

`--select` names models: `name` builds that model alone (its upstream models must exist already),
`+name` also builds every model it reads first, `name+` also every model that reads it.
"""

from __future__ import annotations

import argparse
import sys
import time

from returning_errors import plural
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


def run(args: argparse.Namespace) -> int:
    selection = args.select.split(",") if args.select is not None else None
    models = select_models(discover_models(), selection)  # an unknown model: exit 2 before connecting
    if not models:
        raise ModelError("--select named no model")
    location = WarehouseLocation.from_env()
    if location.embedded and not location.file.exists():
        raise WarehouseMissing(location.path)
    started = time.monotonic()
    width = max(len("model"), *(len(m.name) for m in models))
    print(f"building {plural(len(models), 'model')} on {location.describe()}")
    print(f"{'model':<{width}}  {'rows':>10}  {'seconds':>8}", flush=True)
    with connect(location, wait_seconds=args.wait) as con:
        for model in models:
            try:
                result = build_model(con, model)
            except WarehouseError as exc:
                print(f"{model.name:<{width}}  {'failed':>10}", flush=True)
                print(f"error: {exc}", file=sys.stderr)
                return exc.exit_code
            print(f"{result.model:<{width}}  {result.rows:>10,}  {result.seconds:>8.2f}", flush=True)
    print(f"{len(models)} built in {time.monotonic() - started:.1f}s")
    return 0
