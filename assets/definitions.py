"""The one Dagster code location (`dagster dev` at the repo root, see workspace.yaml). Composes only.

Asset kinds and pools follow the destination configured when the location loads
($RETURNING_DESTINATION, see assets/resources.py); `definitions_for` builds them for another.
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions

from assets.checks import asset_checks, build_checks
from assets.ingest import build_ingest_assets, ingest_assets
from assets.models import build_model_assets, model_assets
from assets.resources import configured_destination, default_resources
from assets.schedules import jobs, schedules
from assets.seeds import build_seed_assets, seed_assets
from assets.sensors import sensors, webhook_events_job


def _reverse_etl(destination: str | None) -> tuple[list[Any], list[Any], list[Any]]:
    """Reverse-ETL push assets, when that package is present."""
    try:
        from assets import reverse_etl
    except ModuleNotFoundError as exc:
        if exc.name != "assets.reverse_etl":
            raise
        return [], [], []
    if destination is None:
        pushes, checks = reverse_etl.reverse_etl_assets, reverse_etl.reverse_etl_checks
    else:
        pushes, checks = reverse_etl.build_reverse_etl(destination)
    return list(pushes), list(checks), list(reverse_etl.reverse_etl_schedules)


def definitions_for(destination: str | None = None) -> Definitions:
    """The code location; `destination` None: the one configured now (assets built at import)."""
    if destination is None or destination == configured_destination():
        assets, checks, push = [*ingest_assets, *model_assets, *seed_assets], list(asset_checks), _reverse_etl(None)
    else:
        assets = [*build_ingest_assets(destination), *build_model_assets(destination=destination),
                  *build_seed_assets(destination)]
        checks, push = build_checks(destination), _reverse_etl(destination)
    push_assets, push_checks, push_schedules = push
    return Definitions(
        assets=[*assets, *push_assets],
        asset_checks=[*checks, *push_checks],
        jobs=[*jobs, webhook_events_job],
        schedules=[*schedules, *push_schedules],
        sensors=sensors,
        resources=default_resources(),
    )


defs = definitions_for()
