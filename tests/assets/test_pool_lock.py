"""Two overlapping runs that both write the warehouse queue on the one pool instead of failing on
DuckDB's single-writer lock: each run in its own process, as `dagster dev` launches them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from assets.instance import ensure_dagster_home, limit_warehouse_pool
from tests.assets.conftest import Loaded

PROJECT_ROOT = Path(__file__).resolve().parents[2]

RUN = textwrap.dedent("""
    import json, sys
    from dagster import DagsterInstance, materialize
    from assets.ingest import raw_snapshot
    from assets.models import model_assets
    from tests.assets.conftest import resources_for

    home, warehouse, sim_url = sys.argv[1:4]
    from pathlib import Path
    instance = DagsterInstance.from_config(home)
    # no waiting on the lock (120 s in production): the pool alone must keep the writers apart
    resources = resources_for(sim_url, Path(warehouse), lock_wait_seconds=0)
    print("ready", flush=True)
    sys.stdin.readline()  # both start together
    result = materialize([raw_snapshot, *model_assets], instance=instance, resources=resources,
                         raise_on_error=False)
    print(json.dumps({"success": result.success, "run_id": result.run_id}))
""")


BOOKKEEPING = 0.5  # seconds between a step freeing its slot and its success event being stored


def _blocked_steps(instance: DagsterInstance, run_id: str) -> int:
    """Steps Dagster held back because the other run had the warehouse slot."""
    return sum(1 for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
               if record.dagster_event and "blocked by limit for pool duckdb_warehouse" in (record.dagster_event.message or ""))


def _step_intervals(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            out[event.step_key] = (starts[event.step_key], record.timestamp)
    return out


def test_two_overlapping_runs_queue_on_the_pool(loaded: Loaded, tmp_path: Path) -> None:
    warehouse = tmp_path / "returning.duckdb"
    shutil.copy(loaded.warehouse, warehouse)  # models need every raw table; the runs reload the snapshot
    home = ensure_dagster_home(tmp_path / "dagster_home")
    setup = DagsterInstance.from_config(str(home))  # storage and the pool's one slot exist before the race
    limit_warehouse_pool(setup)
    setup.dispose()
    procs = [subprocess.Popen([sys.executable, "-c", RUN, str(home), str(warehouse), loaded.sim.base_url],
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
        a, b = (_step_intervals(instance, r["run_id"]) for r in results)
        runs = [instance.get_run_stats(r["run_id"]) for r in results]
        blocked = sum(_blocked_steps(instance, r["run_id"]) for r in results)
    finally:
        instance.dispose()
    assert len(a) == len(b) >= 8
    # the runs overlapped in time, and their warehouse steps queued on the pool ...
    assert runs[0].start_time < runs[1].end_time and runs[1].start_time < runs[0].end_time
    assert blocked > 0
    # ... so no two warehouse steps ran at once (both runs succeeded without any wait on DuckDB's lock)
    for sa, (a0, a1) in a.items():
        for sb, (b0, b1) in b.items():
            overlap = min(a1, b1) - max(a0, b0)
            assert overlap <= BOOKKEEPING, f"{sa} and {sb} wrote the warehouse at the same time ({overlap:.2f}s)"
