"""The dlt pipeline and source of a run: `make_pipeline`, `make_source`.

The pipeline writes to the configured warehouse (its working directory beside the warehouse file),
the source is `returning_ai` over the selected datasets (`select_resources`), its big tables handed to
dlt as Arrow in the destination's file format (`ARROW_FILE_FORMATS`, measured in bench/).

Test hook: `RETURNING_SYNC_TEST_KILL_AT=<step>:<n>` (step `extract`, `normalize` or `load`) SIGKILLs
the process at the n-th progress update dlt reports in that step, `<step>:<table>` at the first
update for that table (`extract:_dlt_pipeline_state`: the state is extracted, not yet committed).
Inert unless set.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from datetime import date
from typing import Any

import dlt
from dlt.common.runtime.collector import NullCollector
from dlt.sources import DltSource

from pipelines.client import ReturningClient
from pipelines.communities import Community
from pipelines.config import Settings
from pipelines.context import Tracker
from pipelines.errors import ConfigError
from pipelines.skips import plan
from pipelines.source import returning_ai
from pipelines.tables import ARROW_TABLES, select_resources
from warehouse import dlt_patches
from warehouse.destination import dlt_destination
from warehouse.location import RAW_SCHEMA

__all__ = ["ARROW_FILE_FORMATS", "KILL_ENV", "LOADER_FILE_FORMATS", "loader_file_format", "make_pipeline",
           "make_source", "select_resources"]
PIPELINE_NAME = "returning_ai"
# destination -> dlt loader file format (None: dlt's default); chosen by measurement in bench/
# DuckDB: parquet for every table. dlt's default there, insert_values, has DuckDB parse one INSERT ...
# VALUES statement per table: 0.5 MB of it (6,000 rows of `user_game_stats__games` at 2,000 members)
# took 110 MB, and a sync's peak RSS 520-630 MB against 390 MB with parquet (bench/README.md, issue 22)
LOADER_FILE_FORMATS: dict[str, Any] = {"duckdb": "parquet"}  # dlt's default for the rest: insert_values on Postgres
# destination -> the file format of the tables the resources hand dlt as Arrow (the big ones): on
# Postgres a COPY (`warehouse/dlt_patches.py` keeps '' apart from NULL), measured in bench/
ARROW_FILE_FORMATS: dict[str, str] = {"postgres": "csv"}
KILL_ENV = "RETURNING_SYNC_TEST_KILL_AT"


def make_pipeline(settings: Settings, connection: Any = None) -> dlt.Pipeline:
    """The dlt pipeline writing to the configured warehouse (DuckDB: through `connection`, the file
    the sync holds, when given). Its working directory sits beside the warehouse file; the state
    also lives in the warehouse, so a fresh machine resumes from it."""
    location = settings.location
    location.pipelines_dir.mkdir(parents=True, exist_ok=True)
    # dlt's LoadInfo shows the destination's location: with its own URL class, not SQLAlchemy's
    dlt_patches.apply("credentials_display_without_sqlalchemy")
    kill_at = os.environ.get(KILL_ENV)
    return dlt.pipeline(
        # a community's own pipeline and dataset (`returning_ai__acme` into `returning_raw__acme`,
        # staging `returning_raw__acme_staging`): never shared, so no two communities race on state
        pipeline_name=Community(settings.community, settings).pipeline_name,
        destination=dlt_destination(location, connection),
        dataset_name=location.schema(RAW_SCHEMA),
        pipelines_dir=str(location.pipelines_dir),
        **({"progress": KillAt(kill_at)} if kill_at else {}),
    )


def loader_file_format(settings: Settings) -> Any:
    """dlt's load file format for the destination (bench/: measured, `LOADER_FILE_FORMATS`)."""
    return LOADER_FILE_FORMATS.get(settings.destination)


class KillAt(NullCollector):
    """Crash-test hook (see the module docstring): dlt reports progress to its collector; at the
    n-th update in the named step this process kills itself, as a power cut or OOM kill would."""

    def __init__(self, spec: str) -> None:
        step, _, at = spec.partition(":")
        if step not in ("extract", "normalize", "load") or not at:
            raise ConfigError(f"{KILL_ENV} must look like extract:3, load:2 or extract:<table>, got {spec!r}")
        self.target, self.at, self.current, self.count = step, at, "", 0

    def _start(self, step: str) -> None:
        self.current, self.count = step.split()[0].lower(), 0

    def update(self, name: str, inc: int = 1, *args: Any, **kwargs: Any) -> None:
        if self.current == self.target:
            self.count += 1
            if (self.at.isdigit() and self.count >= int(self.at)) or name == self.at:
                os.kill(os.getpid(), signal.SIGKILL)


def make_source(
    settings: Settings, resources: Iterable[str] | None = None, *, start_date: date | None = None,
    end_date: date | None = None, backfill: bool = False, refresh: bool = False,
    client: ReturningClient | None = None, tracker: Tracker | None = None, strict: bool = False,
) -> DltSource:
    """The source over the selected resources. The disabled ones (`settings.disabled`) and those
    that need a disabled one (recorded as skipped in `tracker`) read nothing: on a first sync they
    only create their declared empty tables, so every table exists (pipelines/isolation.py)."""
    selected = select_resources(resources)
    names, blocked = plan(selected, settings.disabled)
    if tracker is not None:
        for skip in blocked:
            tracker.skips.add(skip)
    off = tuple(n for n in selected if n not in names)
    source = returning_ai(settings=settings, start_date=start_date, end_date=end_date, backfill=backfill,
                          refresh=refresh, client=client, tracker=tracker, strict=strict,
                          off=off).with_resources(*selected)
    if tracker is not None:  # what the rows carry, for the drift record (pipelines/drift.py)
        for name in source.selected_resources:
            source.resources[name].add_map(tracker.seen.observer(name))
    arrow_format = ARROW_FILE_FORMATS.get(settings.destination)
    if arrow_format:
        if settings.destination == "postgres":
            dlt_patches.apply("postgres_csv_keeps_empty_strings")
        for name in ARROW_TABLES:
            if name in source.selected_resources:
                source.resources[name].apply_hints(file_format=arrow_format)
    return source
