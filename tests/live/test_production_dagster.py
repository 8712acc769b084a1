"""The production Dagster shape, live: the code location's gRPC server, `dagster-daemon` and
`dagster-webserver` as real processes on the instance of deploy/dagster.yaml (Postgres run, event-log
and schedule storage, QueuedRunCoordinator, DefaultRunLauncher) and a Postgres warehouse.

The test turns on both ingest schedules, set to fire each minute by configuration only
(`RETURNING_SCHEDULE_<NAME>_CRON`, assets/automation.toml), through the webserver's GraphQL API, as the
UI's toggle does. It then watches the daemon enqueue one run of each at the tick, the queue's limit of
one run per community hold (both carry `returning/community=default`), each run execute in a process
the code location started (not the daemon, not the webserver), both succeed, and the warehouse hold
the simulator's truth. Headless Chromium sees both runs, each showing its community tag, in the
webserver's run list filtered by that tag. Every process is stopped at the end, also on failure."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance

from assets.schedules import COMMUNITY_TAG, DEFAULT_COMMUNITY
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES
from tests.live.deployment import LOCATION, REPOSITORY, Deployment, make_deployment, running, wait_for
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCHEDULES = {"incremental_hourly": "ingest_incremental", "snapshot_daily": "ingest_snapshot"}
EVERY_MINUTE = "* * * * *"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
  ... on Runs { results { runId jobName status startTime endTime tags { key value } } } } }"""
SCHEDULE = """query Schedule($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
  __typename ... on Schedule { name cronSchedule scheduleState { id status ticks(limit: 1) { status } } } } }"""
START = """mutation Start($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on ScheduleStateResult { scheduleState { id status } } ... on PythonError { message } } }"""
STOP = """mutation Stop($id: String) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""


def _selector(name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": name}


def _state(deployment: Deployment, name: str) -> dict[str, Any]:
    return deployment.graphql(SCHEDULE, selector=_selector(name))["scheduleOrError"]["scheduleState"]


def _community_runs(deployment: Deployment) -> list[dict[str, Any]]:
    data = deployment.graphql(RUNS, filter={"tags": [{"key": COMMUNITY_TAG, "value": DEFAULT_COMMUNITY}]})
    return data["runsOrError"]["results"]


def _events(instance: DagsterInstance, run_id: str) -> dict[DagsterEventType, list[Any]]:
    out: dict[DagsterEventType, list[Any]] = {}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None:
            out.setdefault(entry.dagster_event.event_type, []).append(entry)
    return out


def _first(events: dict[DagsterEventType, list[Any]], kind: DagsterEventType) -> Any:
    assert events.get(kind), f"no {kind.value} event"
    return events[kind][0]


def _lineage(pid: int) -> list[int] | None:
    """The pid and its ancestors' pids, None when it is gone."""
    try:
        process = psutil.Process(pid)
        return [pid, *(p.pid for p in process.parents())]
    except psutil.NoSuchProcess:
        return None


@pytest.fixture()
def deployment(sim: SimAdmin, pg_cluster: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    warehouse_url = pg_cluster.create_database()
    location_env = {
        # the code location's environment in deploy/docker-compose.yaml: the API, the warehouse
        "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim.base_url,
        "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_DESTINATION": "postgres",
        "DESTINATION__POSTGRES__CREDENTIALS": warehouse_url,
        "RETURNING_WAREHOUSE": str(tmp_path / "state" / "returning.duckdb"),
        # this test only: both schedules fire each minute (configuration, assets/automation.toml)
        **{f"RETURNING_SCHEDULE_{name.upper()}_CRON": EVERY_MINUTE for name in SCHEDULES},
    }
    with running(make_deployment(tmp_path, pg_cluster.create_database(), location_env, warehouse_url)) as live:
        yield live


def test_the_daemon_runs_the_schedules_on_the_production_instance(deployment: Deployment, sim: SimAdmin,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in deployment.storage_env.items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.from_config(str(deployment.home))  # the same shipped dagster.yaml
    try:
        _run_the_schedules(deployment, sim, instance)
    finally:
        instance.dispose()


def _run_the_schedules(deployment: Deployment, sim: SimAdmin, instance: DagsterInstance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresRunStorage

    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert (deployment.home / "dagster.yaml").resolve() == (Path(__file__).parents[2] / "deploy" / "dagster.yaml")

    # both schedules: per minute by configuration, stopped until turned on
    states = {}
    for name in SCHEDULES:
        schedule = deployment.graphql(SCHEDULE, selector=_selector(name))["scheduleOrError"]
        assert (schedule["cronSchedule"], schedule["scheduleState"]["status"]) == (EVERY_MINUTE, "STOPPED")
    assert _community_runs(deployment) == []
    # the services' own processes (the code location is its server and the gRPC process it runs),
    # before any run exists
    service_pids = deployment.service_pids()
    code_location = deployment.services["code-location"].pids()
    for name in SCHEDULES:
        started = deployment.graphql(START, selector=_selector(name))["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        states[name] = started["scheduleState"]["id"]
    turned_on = time.time()

    # the daemon's tick enqueues one run of each job
    runs = wait_for("one run per schedule", lambda: (lambda r: r if len(r) >= 2 else None)(
        _community_runs(deployment)), 240, every=1.0)
    # one tick is enough: stop both once the daemon has recorded its tick (stopping a schedule while
    # its tick is being evaluated is undone when the daemon stores the tick's state)
    wait_for("both ticks recorded", lambda: all(_state(deployment, n)["ticks"][:1] == [{"status": "SUCCESS"}]
                                                for n in SCHEDULES), 60, every=0.5)
    for state_id in states.values():
        stopped = deployment.graphql(STOP, id=state_id)["stopRunningSchedule"]
        assert stopped["__typename"] == "ScheduleStateResult", stopped
    assert {_state(deployment, n)["status"] for n in SCHEDULES} == {"STOPPED"}
    runs = _community_runs(deployment)
    assert len(runs) == 2, runs
    assert sorted(r["jobName"] for r in runs) == sorted(SCHEDULES.values())

    # watch them: the queue holds one while the other runs; each runs in a process of its own
    seen_statuses: list[tuple[str, ...]] = []
    lineages: dict[str, list[int]] = {}

    def finished() -> list[dict[str, Any]] | None:
        current = _community_runs(deployment)
        seen_statuses.append(tuple(sorted(r["status"] for r in current)))
        for run in current:
            if run["status"] == "STARTED" and run["runId"] not in lineages:
                starts = instance.all_logs(run["runId"], of_type=DagsterEventType.RUN_START)
                if starts and (lineage := _lineage(starts[0].dagster_event.pid)):
                    lineages[run["runId"]] = lineage
        return current if all(r["status"] in TERMINAL for r in current) else None

    runs = wait_for("both runs finished", finished, 1200, every=1.0)
    assert {r["status"] for r in runs} == {"SUCCESS"}, [(r["jobName"], r["status"]) for r in runs]
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags[COMMUNITY_TAG] == DEFAULT_COMMUNITY
        assert tags["dagster/schedule_name"] in SCHEDULES and SCHEDULES[tags["dagster/schedule_name"]] == run["jobName"]
    assert ("QUEUED", "STARTED") in seen_statuses or ("QUEUED", "STARTING") in seen_statuses, seen_statuses

    # the community's limit (deploy/dagster.yaml): the second run left the queue only when the first ended
    events = {r["runId"]: _events(instance, r["runId"]) for r in runs}
    first, second = sorted(runs, key=lambda r: r["startTime"])
    first_end = _first(events[first["runId"]], DagsterEventType.RUN_SUCCESS).timestamp
    enqueued = _first(events[second["runId"]], DagsterEventType.RUN_ENQUEUED).timestamp
    launched = _first(events[second["runId"]], DagsterEventType.RUN_STARTING).timestamp  # the daemon launched it
    assert enqueued < first_end <= launched, (enqueued, first_end, launched)
    assert first["endTime"] <= second["startTime"]

    # separate processes: each run's worker (and its steps) is neither the daemon, nor the webserver,
    # nor the code server itself, but a process the code location started
    run_pids = {r["runId"]: _first(events[r["runId"]], DagsterEventType.RUN_START).dagster_event.pid for r in runs}
    assert len(set(run_pids.values())) == 2
    step_pids = {e.dagster_event.pid for r in runs for e in events[r["runId"]].get(DagsterEventType.STEP_START, [])}
    assert step_pids and not (set(run_pids.values()) | step_pids) & service_pids
    assert lineages, "no run was seen alive"
    for run_id, lineage in lineages.items():
        assert lineage[0] == run_pids[run_id]
        assert set(lineage[1:]) & code_location, (lineage, code_location)
        assert not set(lineage) & (deployment.services["daemon"].pids() | deployment.services["webserver"].pids())

    timings = {r["jobName"]: (round(r["startTime"] - turned_on, 1), round(r["endTime"] - r["startTime"], 1))
               for r in runs}
    print(f"\nservices (pids): { {n: s.pid for n, s in deployment.services.items()} }; run workers: {run_pids}; "
          f"run (start after the schedules were turned on, duration) in s: {timings}; "
          f"second run queued for {launched - enqueued:.1f}s")

    _warehouse_holds_the_truth(deployment.warehouse_url, sim)
    _browser_shows_the_runs(deployment, runs)


def _warehouse_holds_the_truth(url: str, sim: SimAdmin) -> None:
    truth = sim.truth()
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            for table in (*INCREMENTAL_TABLES, *SNAPSHOT_TABLES):
                cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'returning_raw' "
                            "AND table_name = %s", (table,))
                if not cur.fetchone()[0]:
                    assert truth[table]["count"] == 0, table
                    continue
                if table == "users":  # deleted members stay, flagged
                    cur.execute("SELECT count(*) FROM returning_raw.users WHERE NOT coalesce(is_deleted, false)")
                else:
                    cur.execute(f'SELECT count(*) FROM returning_raw."{table}"')
                assert cur.fetchone()[0] == truth[table]["count"], table
    finally:
        con.close()


def _browser_shows_the_runs(deployment: Deployment, runs: list[dict[str, Any]]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            # the run list filtered by the community's tag, as a user filters it
            page.goto(f"{deployment.url}/runs?q[]=tag:{COMMUNITY_TAG}={DEFAULT_COMMUNITY}",
                      wait_until="domcontentloaded", timeout=90_000)
            for run in runs:  # the run list shows a run by the first 8 characters of its id
                page.get_by_text(run["runId"][:8], exact=True).first.wait_for(timeout=90_000)
                page.get_by_text(run["jobName"], exact=True).first.wait_for(timeout=30_000)
            # each row shows the run's tags, the community among them ("key: value")
            shown = page.get_by_text(f"{COMMUNITY_TAG}: {DEFAULT_COMMUNITY}", exact=True)
            shown.first.wait_for(timeout=30_000)
            assert shown.count() == len(runs)
            page.screenshot(path=str(deployment.home / "runs.png"), full_page=True)
        finally:
            browser.close()
