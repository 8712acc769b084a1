"""The one Dagster code location (`dg dev -w workspace.yaml` at the repo root). Composes only.

Every asset, check and push schedule is built here, when the location loads, by the builders of
their modules (none runs on import). Asset kinds and pools follow the destination configured then
($RETURNING_DESTINATION, see assets/resources.py); `definitions_for` builds them for another.
"""

from __future__ import annotations

import sys

from dagster import Definitions, ExecutorDefinition, multiprocess_executor

import assets.sensors
from assets.checks import build_checks
from assets.ingest import build_ingest_assets
from assets.models import build_model_assets
from assets.partitions import CommunityPartitions, community_partitions
from assets.privacy import build_forget_job, build_share_asset
from assets.resources import configured_destination, default_resources
from assets.reverse_etl import build_push_schedules, build_reverse_etl
from assets.schedules import build_schedules, jobs_for
from assets.seeds import build_seed_assets
from reverse_etl import list_definitions


def definitions_for(destination: str | None = None, parts: CommunityPartitions | None = None) -> Definitions:
    """The code location for `destination` (None: the one configured now) and the communities `parts`
    (None: as configured now; assets/partitions.py decides the partitions from them)."""
    destination = destination or configured_destination()
    parts = parts or community_partitions()  # read once: every builder partitions by the same communities
    definitions = list_definitions()  # read once: the push assets, their checks and their schedules
    push_assets, push_checks = build_reverse_etl(destination, definitions, parts)
    return Definitions(
        assets=[*build_ingest_assets(destination, parts), *build_model_assets(destination=destination, parts=parts),
                *build_seed_assets(destination), *push_assets, build_share_asset(destination, parts)],
        asset_checks=[*build_checks(destination, parts), *push_checks],
        # the webhook sensor's job as its module holds it now (the one the sensor targets)
        jobs=[*jobs_for(parts), assets.sensors.webhook_events_job, build_forget_job(destination)],
        schedules=[*build_schedules(parts), *build_push_schedules(definitions, parts)],
        sensors=assets.sensors.build_sensors(parts),
        resources=default_resources(),
        executor=step_executor(),
    )


def step_executor() -> ExecutorDefinition:
    """How a run's steps start: each in a process of its own (Dagster's multiprocess executor, the
    default), forked on Linux from one forkserver per run that has imported this code location once
    (`start_method: forkserver`, Dagster's own option). A run of the ingest job is its ingest step
    and some ten check steps: started with `spawn`, each imports Dagster, dlt and the definitions
    again, seconds of CPU apiece. Pools, retries and parallelism are the multiprocess executor's as
    before."""
    if sys.platform != "linux":
        return multiprocess_executor
    return multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": [__name__]}}})


defs = definitions_for()
