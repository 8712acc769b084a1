"""The one Dagster code location (`dagster dev` at the repo root, see workspace.yaml). Composes only."""

from __future__ import annotations

from typing import Any

from dagster import Definitions

from assets.checks import asset_checks
from assets.ingest import ingest_assets
from assets.models import model_assets
from assets.resources import default_resources
from assets.schedules import jobs, schedules
from assets.sensors import sensors


def _reverse_etl() -> tuple[list[Any], list[Any], list[Any]]:
    """Reverse-ETL push assets, when that package is present."""
    try:
        from assets.reverse_etl import reverse_etl_assets, reverse_etl_checks, reverse_etl_schedules
    except ModuleNotFoundError as exc:
        if exc.name != "assets.reverse_etl":
            raise
        return [], [], []
    return list(reverse_etl_assets), list(reverse_etl_checks), list(reverse_etl_schedules)


push_assets, push_checks, push_schedules = _reverse_etl()

defs = Definitions(
    assets=[*ingest_assets, *model_assets, *push_assets],
    asset_checks=[*asset_checks, *push_checks],
    jobs=jobs,
    schedules=[*schedules, *push_schedules],
    sensors=sensors,
    resources=default_resources(),
)
