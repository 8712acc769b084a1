"""Two overlapping runs that both write the warehouse queue on the one pool instead of failing on
DuckDB's single-writer lock: each run in its own process, as `dagster dev` launches them.

The pool is the first line: Dagster holds a step back while the other run has the slot. It is
not the only one. Dagster's SQLite storage (the default of `dagster dev`) claims a slot with a
SELECT and then an UPDATE that does not re-check the slot is free (`_claim_concurrency_slot`), so
two processes polling at the same instant can, rarely, both start a step; the second then waits
on DuckDB's lock (`Warehouse.lock_wait_seconds`) instead of failing. The test runs both lines as
`dagster dev` does.

On the production instance (deploy/dagster.yaml, storage in PostgreSQL) the slot is claimed with
SELECT ... FOR UPDATE SKIP LOCKED, so that race cannot happen: there the runs get no lock wait at
all, and their warehouse steps must never overlap in time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from assets.instance import limit_warehouse_pool
from tests.assets.conftest import DagsterStorage, Loaded

PROJECT_ROOT = Path(__file__).resolve().parents[2]

RUN = textwrap.dedent("""
    import json, sys
    from dagster import DagsterInstance, materialize
    from assets.ingest import build_ingest_assets
    from assets.models import build_model_assets

    raw_snapshot, model_assets = build_ingest_assets().snapshot, build_model_assets()
    from tests.assets.conftest import resources_for

    home, warehouse, sim_url, lock_wait = sys.argv[1:5]
    from pathlib import Path
    instance = DagsterInstance.from_config(home)
    resources = resources_for(sim_url, Path(warehouse), lock_wait_seconds=float(lock_wait))
    print("ready", flush=True)
    sys.stdin.readline()  # both start together
    result = materialize([raw_snapshot, *model_assets], instance=instance, resources=resources,
                         raise_on_error=False)
    print(json.dumps({"success": result.success, "run_id": result.run_id}))
""")


def _blocked_steps(instance: DagsterInstance, run_id: str) -> int:
    """Steps Dagster held back because the other run had the warehouse slot."""
    return sum(1 for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
               if record.dagster_event and "blocked by limit for pool duckdb_warehouse" in (record.dagster_event.message or ""))


def _steps(instance: DagsterInstance, run_id: str) -> set[str]:
    return {record.dagster_event.step_key for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
            if record.dagster_event and record.dagster_event.step_key}


def _step_spans(instance: DagsterInstance, run_id: str) -> list[tuple[float, float, str]]:
    """(start, end, run) of every step of the run, from its event log."""
    starts: dict[str, float] = {}
    spans = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            spans.append((starts[event.step_key], record.timestamp, run_id))
    return spans


def test_two_overlapping_runs_queue_on_the_pool(loaded: Loaded, dagster_storage: DagsterStorage,
                                               tmp_path: Path) -> None:
    warehouse = tmp_path / "returning.duckdb"
    shutil.copy(loaded.warehouse, warehouse)  # models need every raw table; the runs reload the snapshot
    home = dagster_storage.home
    # SQLite: the rare double claim waits on DuckDB's lock; Postgres: the pool alone must do
    lock_wait = "60" if dagster_storage.name == "sqlite" else "0"
    setup = DagsterInstance.from_config(str(home))  # storage and the pool's one slot exist before the race
    limit_warehouse_pool(setup)
    setup.dispose()
    procs = [subprocess.Popen([sys.executable, "-c", RUN, str(home), str(warehouse), loaded.sim.base_url, lock_wait],
                              cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:  # both have imported Dagster and the definitions ...
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # ... then go at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=240) for p in procs]
    results = []
    for out, err in outputs:
        assert out.strip(), err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["success"] for r in results] == [True, True], "a run failed: " + " | ".join(e[-2000:] for _, e in outputs)

    instance = DagsterInstance.from_config(str(home))
    try:
        a, b = (_steps(instance, r["run_id"]) for r in results)
        runs = [instance.get_run_stats(r["run_id"]) for r in results]
        blocked = sum(_blocked_steps(instance, r["run_id"]) for r in results)
        spans = sorted(span for r in results for span in _step_spans(instance, r["run_id"]))
    finally:
        instance.dispose()
    assert a == b and len(a) >= 8  # every step of both runs succeeded
    # the runs overlapped in time, and their warehouse steps queued on the pool
    assert runs[0].start_time < runs[1].end_time and runs[1].start_time < runs[0].end_time
    assert blocked > 0
    if dagster_storage.name == "postgres":  # one warehouse step at a time, across both runs
        overlapping = [(x, y) for x, y in zip(spans, spans[1:], strict=False) if x[2] != y[2] and y[0] < x[1]]
        assert len(spans) == len(a) * 2 and overlapping == []
