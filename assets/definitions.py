"""The one Dagster code location (`dg dev -w workspace.yaml` at the repo root). Composes only.

Every asset, check and push schedule is built here, when the location loads, by the builders of
their modules (none runs on import). Asset kinds and pools follow the destination configured then
($RETURNING_DESTINATION, see assets/resources.py); `definitions_for` builds them for another.
"""

from __future__ import annotations

from dagster import Definitions

from assets.checks import build_checks
from assets.ingest import build_ingest_assets
from assets.models import build_model_assets
from assets.privacy import build_forget_job, build_share_asset
from assets.resources import configured_destination, default_resources
from assets.reverse_etl import build_push_schedules, build_reverse_etl
from assets.schedules import jobs, schedules
from assets.seeds import build_seed_assets
from assets.sensors import sensors, webhook_events_job
from reverse_etl import list_definitions


def definitions_for(destination: str | None = None) -> Definitions:
    """The code location for `destination` (None: the one configured now)."""
    destination = destination or configured_destination()
    definitions = list_definitions()  # read once: the push assets, their checks and their schedules
    push_assets, push_checks = build_reverse_etl(destination, definitions)
    return Definitions(
        assets=[*build_ingest_assets(destination), *build_model_assets(destination=destination),
                *build_seed_assets(destination), *push_assets, build_share_asset(destination)],
        asset_checks=[*build_checks(destination), *push_checks],
        jobs=[*jobs, webhook_events_job, build_forget_job(destination)],
        schedules=[*schedules, *build_push_schedules(definitions)],
        sensors=sensors,
        resources=default_resources(),
    )


defs = definitions_for()
