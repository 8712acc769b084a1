"""Two independent daily-partitioned `@dlt_assets`, each with its own dlt pipeline and DuckDB file,
reading the simulator: the case of dagster-io/dagster#33942 (from dagster 1.13.8 such assets
reportedly run one after another in one run). Module-level so the multiprocess executor's step
processes can import the job (`reconstructable(both_job)`). Test code only.

A step records that it started and then waits (bounded) for the other step to start too: when Dagster
runs them side by side both find each other at once; when it runs them one after another the first
waits out `RENDEZVOUS_SECONDS` alone. The steps' start and end times in the event log say which.
Where they run and what they read comes from the environment (`RS_PARALLEL_DIR`, `RS_PARALLEL_SIM`,
`RS_PARALLEL_WAIT`).
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import httpx
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    JobDefinition,
    define_asset_job,
)
from dagster_dlt import DagsterDltResource, dlt_assets

from tests.simadmin import FULL_KEY

NAMES = ("alpha", "beta")
RENDEZVOUS_SECONDS = 90.0  # RS_PARALLEL_WAIT overrides (the control case, whose steps cannot meet)
partitions = DailyPartitionsDefinition(start_date="2026-05-01", fmt="%Y-%m-%d")


def _folder() -> Path:
    return Path(os.environ["RS_PARALLEL_DIR"])


def _source(name: str) -> Any:
    @dlt.source(name=f"parallel_{name}")
    def source() -> Any:
        @dlt.resource(name=f"{name}_tiers", write_disposition="replace")
        def tiers() -> Iterator[dict[str, Any]]:
            base = os.environ.get("RS_PARALLEL_SIM", "http://127.0.0.1:9")
            r = httpx.get(f"{base}/apis/v1/tiers", headers={"Authorization": f"Bearer {FULL_KEY}"}, timeout=60)
            r.raise_for_status()
            yield {"source": name, "body": r.text}

        return tiers

    return source()


def _pipeline(name: str, folder: Path | None) -> Any:
    """The asset's own pipeline: its name, working folder and DuckDB file (None: a placeholder for
    naming the assets at import, never run)."""
    root = folder or Path("/nonexistent-rs-parallel")
    return dlt.pipeline(pipeline_name=f"parallel_{name}", pipelines_dir=str(root / "dlt" / name),
                        destination=dlt.destinations.duckdb(str(root / f"{name}.duckdb")), dataset_name=f"raw_{name}")


def _rendezvous(name: str) -> float:
    """Say this step started; wait until every step has. Returns the seconds waited."""
    folder = _folder()
    (folder / f"{name}.started").write_text(str(os.getpid()))
    began = time.monotonic()
    patience = float(os.environ.get("RS_PARALLEL_WAIT", RENDEZVOUS_SECONDS))
    while time.monotonic() - began < patience:
        if all((folder / f"{other}.started").exists() for other in NAMES):
            break
        time.sleep(0.05)
    return time.monotonic() - began


def _assets(name: str) -> Any:
    @dlt_assets(dlt_source=_source(name), dlt_pipeline=_pipeline(name, None), name=f"parallel_{name}",
                group_name="parallel", partitions_def=partitions, backfill_policy=BackfillPolicy.single_run())
    def load(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        waited = _rendezvous(name)
        window = context.partition_key_range
        context.log.info(f"{name}: waited {waited:.2f}s for the other step (partitions {window.start}..{window.end})")
        yield from dlt.run(context=context, dlt_source=_source(name), dlt_pipeline=_pipeline(name, _folder()))

    return load


ASSETS = [_assets(name) for name in NAMES]


def both_job() -> JobDefinition:
    """Both assets in one job; Definitions' default executor is the multiprocess one."""
    defs = Definitions(assets=ASSETS, jobs=[define_asset_job("both_parallel")],
                       resources={"dlt": DagsterDltResource()})
    return defs.resolve_job_def("both_parallel")
