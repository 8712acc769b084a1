"""dagster-io/dagster#33942: from dagster 1.13.8, independent partitioned `@dlt_assets` reportedly run
one after another within a run. Measured here on the installed dagster: two such assets (their own
pipelines and DuckDB files, reading the simulator) in one run with the multiprocess executor, for one
partition on the project's SQLite instance and for a partition range (a single-run backfill, as the
incremental ingest asset's) on the production deploy/dagster.yaml (Postgres). The verdict comes from
the steps' start and end events in the event log, not from wall time. A control case runs the same
job with the executor limited to one process at a time and must see no overlap: the measurement
can tell the two apart.

Finding (recorded in deploy/README.md): on the installed dagster the steps overlap; #33942 does not
hit this project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, execute_job, reconstructable
from dagster._core.instance.ref import InstanceRef

from assets.instance import ensure_dagster_home
from tests.assets.conftest import postgres_instance_env, production_home
from tests.live import dlt_parallel
from tests.simadmin import SimAdmin

pytestmark = pytest.mark.timeout(600)


CASES = {"partition": {"dagster/partition": "2026-05-31"},
         "range": {"dagster/asset_partition_range_start": "2026-05-25",
                   "dagster/asset_partition_range_end": "2026-05-31"}}


@pytest.mark.parametrize(("storage", "window"), [("sqlite", "partition"), ("postgres", "range")])
def test_independent_partitioned_dlt_assets_run_side_by_side(storage: str, window: str, sim: SimAdmin,
                                                              tmp_path: Path, request: pytest.FixtureRequest,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    spans, pids = _measure(storage, window, {}, sim, tmp_path, request, monkeypatch)
    overlap = _overlap(spans)
    print(f"\n{storage}, {window}: {_shown(spans)}; overlap {overlap:.2f}s; step pids {pids}")
    assert len(set(pids.values())) == 2  # a process per step
    # side by side: each step started before the other ended (one after another: no overlap, and the
    # first would have waited RENDEZVOUS_SECONDS for the second)
    assert overlap > 0, f"the steps ran one after another (dagster-io/dagster#33942): {_shown(spans)}"


def test_control_one_step_at_a_time_shows_no_overlap(sim: SimAdmin, tmp_path: Path, request: pytest.FixtureRequest,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RS_PARALLEL_WAIT", "3")  # the steps cannot meet: do not wait long for it
    one_at_a_time = {"execution": {"config": {"multiprocess": {"max_concurrent": 1}}}}
    spans, pids = _measure("sqlite", "partition", one_at_a_time, sim, tmp_path, request, monkeypatch)
    print(f"\ncontrol, max_concurrent 1: {_shown(spans)}; overlap {_overlap(spans):.2f}s")
    assert len(set(pids.values())) == 2
    assert _overlap(spans) <= 0


def _measure(storage: str, window: str, run_config: dict[str, Any], sim: SimAdmin, tmp_path: Path,
             request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
             ) -> tuple[dict[str, list[float]], dict[str, int | None]]:
    """Run both assets in one run; each step's [start, end] (event timestamps) and process id."""
    home = tmp_path / "dagster_home"
    if storage == "sqlite":  # the project's instance (`returning-sync ui`)
        ensure_dagster_home(home)
    else:  # the production deploy/dagster.yaml, its storage in a fresh database of the test Postgres
        for name, value in postgres_instance_env(request.getfixturevalue("pg_cluster").create_database()).items():
            monkeypatch.setenv(name, value)
        production_home(home)
    folder = tmp_path / "parallel"
    folder.mkdir()
    monkeypatch.setenv("RS_PARALLEL_DIR", str(folder))
    monkeypatch.setenv("RS_PARALLEL_SIM", sim.base_url)
    sim.knobs(latency_ms=200)

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance, execute_job(
            reconstructable(dlt_parallel.both_job), instance=instance, tags=CASES[window], run_config=run_config,
            raise_on_error=False) as result:
        assert result.success, "\n".join(e.event_specific_data.error.to_string() for e in result.all_events
                                          if e.event_type == DagsterEventType.STEP_FAILURE)
        spans: dict[str, list[float]] = {}
        pids: dict[str, int | None] = {}
        for entry in instance.all_logs(result.run_id, of_type={DagsterEventType.STEP_START,
                                                                DagsterEventType.STEP_SUCCESS}):
            event = entry.dagster_event
            assert event is not None and event.step_key is not None
            spans.setdefault(event.step_key, []).append(entry.timestamp)
            if event.event_type == DagsterEventType.STEP_START:
                pids[event.step_key] = event.pid
        executor = [e.message for e in result.all_events if e.event_type == DagsterEventType.ENGINE_EVENT
                    and "multiprocess executor" in (e.message or "")]
    assert executor, "the run did not use the multiprocess executor"
    assert sorted(spans) == [f"parallel_{n}" for n in dlt_parallel.NAMES]
    assert all(len(s) == 2 for s in spans.values()), spans
    for name in dlt_parallel.NAMES:  # both steps loaded their own DuckDB file
        assert (folder / f"{name}.duckdb").exists()
    return spans, pids


def _overlap(spans: dict[str, list[float]]) -> float:
    """Seconds both steps were running at once (negative: the gap between them)."""
    (start_a, end_a), (start_b, end_b) = (sorted(s) for s in spans.values())
    return min(end_a, end_b) - max(start_a, start_b)


def _shown(spans: dict[str, list[float]]) -> str:
    zero = min(min(s) for s in spans.values())
    return "steps (start, end) " + str({step: (round(min(s) - zero, 2), round(max(s) - zero, 2))
                                        for step, s in spans.items()}) + " s from the first start"
