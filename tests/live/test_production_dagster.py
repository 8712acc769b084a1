"""The production Dagster shape, live: the code location's gRPC server, `dagster-daemon` and
`dagster-webserver` as real processes on the instance of deploy/dagster.yaml (Postgres run, event-log
and schedule storage, QueuedRunCoordinator, DefaultRunLauncher) and a Postgres warehouse, for two
communities: the default one (the top-level settings) and `acme`, a second simulator configured by one
block and one secret in the code location's environment.

The test turns on both ingest schedules, set to fire each minute by configuration only
(`RETURNING_SCHEDULE_<NAME>_CRON`, assets/automation.toml), through the webserver's GraphQL API, as the
UI's toggle does. It then watches the daemon enqueue, at the tick, one run of each schedule per
community (each tagged `returning/community=<slug>`, its partition the community's), the queue's limit of
one run per community hold (a community's second run leaves the queue when its first has ended) while
the two communities run side by side, each run execute in a process the code location started (not the
daemon, not the webserver), every run succeed, and the warehouse hold each simulator's truth in its
community's schemas. Headless Chromium sees each community's runs, each showing its community tag, in
the webserver's run list filtered by that tag. Every process is stopped at the end, also on failure."""

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
from returning_sync.simulator_process import SimulatorProcess
from tests.conftest import simulator_process
from tests.live.deployment import LOCATION, REPOSITORY, Deployment, make_deployment, running, wait_for
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCHEDULES = {"incremental_hourly": "ingest_incremental", "snapshot_daily": "ingest_snapshot"}
EVERY_MINUTE = "* * * * *"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
ACME = "acme"  # the second community: its own simulator, small, with its own seed and id
ACME_ID = "65a0c9e514a3e564c5c0aaaa"
ACME_USERS = 60
COMMUNITIES = (DEFAULT_COMMUNITY, ACME)

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


def _community_runs(deployment: Deployment, community: str = DEFAULT_COMMUNITY) -> list[dict[str, Any]]:
    data = deployment.graphql(RUNS, filter={"tags": [{"key": COMMUNITY_TAG, "value": community}]})
    return data["runsOrError"]["results"]


def _all_runs(deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
    """Each community's runs, as the run list filtered by its tag shows them."""
    return {c: _community_runs(deployment, c) for c in COMMUNITIES}


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


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
def acme() -> Any:  # the second community's simulator
    with simulator_process(ACME_USERS, 11, "--community-id", ACME_ID) as process:
        yield process


@pytest.fixture()
def deployment(sim: SimAdmin, acme: SimulatorProcess, pg_cluster: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    warehouse_url = pg_cluster.create_database()
    location_env = {
        # the code location's environment in deploy/docker-compose.yaml: the API, the warehouse
        "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim.base_url,
        "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_DESTINATION": "postgres",
        "DESTINATION__POSTGRES__CREDENTIALS": warehouse_url,
        "RETURNING_WAREHOUSE": str(tmp_path / "state" / "returning.duckdb"),
        # the second community: one block (its API, its id) and one secret (docs/communities.md)
        "SOURCES__RETURNING_AI__COMMUNITIES__ACME__BASE_URL": acme.url,
        "SOURCES__RETURNING_AI__COMMUNITIES__ACME__COMMUNITY_ID": ACME_ID,
        "SOURCES__RETURNING_AI__COMMUNITIES__ACME__API_KEY": FULL_KEY,
        # this test only: both schedules fire each minute (configuration, assets/automation.toml)
        **{f"RETURNING_SCHEDULE_{name.upper()}_CRON": EVERY_MINUTE for name in SCHEDULES},
    }
    with running(make_deployment(tmp_path, pg_cluster.create_database(), location_env, warehouse_url)) as live:
        yield live


@pytest.mark.sim_users(100)  # the assertions hold at any size; a run's CPU grows with the community
def test_the_daemon_runs_the_schedules_for_every_community_on_the_production_instance(
        deployment: Deployment, sim: SimAdmin, acme: SimulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in deployment.storage_env.items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.from_config(str(deployment.home))  # the same shipped dagster.yaml
    try:
        _run_the_schedules(deployment, sim, acme, instance)
    finally:
        instance.dispose()


def _run_the_schedules(deployment: Deployment, sim: SimAdmin, acme: SimulatorProcess,
                       instance: DagsterInstance) -> None:
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
    assert _all_runs(deployment) == {c: [] for c in COMMUNITIES}
    # the services' own processes (the code location is its server and the gRPC process it runs),
    # before any run exists
    service_pids = deployment.service_pids()
    code_location = deployment.services["code-location"].pids()
    for name in SCHEDULES:
        started = deployment.graphql(START, selector=_selector(name))["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        states[name] = started["scheduleState"]["id"]
    turned_on = time.time()

    # the daemon's tick enqueues one run of each job per community
    wait_for("one run per schedule and community", lambda: all(
        len(r) >= len(SCHEDULES) for r in _all_runs(deployment).values()) or None, 240, every=1.0)
    # one tick is enough: stop both once the daemon has recorded its tick (stopping a schedule while
    # its tick is being evaluated is undone when the daemon stores the tick's state)
    wait_for("both ticks recorded", lambda: all(_state(deployment, n)["ticks"][:1] == [{"status": "SUCCESS"}]
                                                for n in SCHEDULES), 60, every=0.5)
    for state_id in states.values():
        stopped = deployment.graphql(STOP, id=state_id)["stopRunningSchedule"]
        assert stopped["__typename"] == "ScheduleStateResult", stopped
    assert {_state(deployment, n)["status"] for n in SCHEDULES} == {"STOPPED"}
    for community, runs in _all_runs(deployment).items():
        assert len(runs) == len(SCHEDULES), (community, runs)
        assert sorted(r["jobName"] for r in runs) == sorted(SCHEDULES.values())

    # watch them: the queue holds one of a community's runs while the other runs; each runs in a
    # process of its own
    seen_statuses: dict[str, list[tuple[str, ...]]] = {c: [] for c in COMMUNITIES}
    lineages: dict[str, list[int]] = {}

    def finished() -> dict[str, list[dict[str, Any]]] | None:
        current = _all_runs(deployment)
        for community, runs in current.items():
            seen_statuses[community].append(tuple(sorted(r["status"] for r in runs)))
            for run in runs:
                if run["status"] == "STARTED" and run["runId"] not in lineages:
                    starts = instance.all_logs(run["runId"], of_type=DagsterEventType.RUN_START)
                    if starts and (lineage := _lineage(starts[0].dagster_event.pid)):
                        lineages[run["runId"]] = lineage
        done = all(r["status"] in TERMINAL for runs in current.values() for r in runs)
        return current if done else None

    by_community = wait_for("every run finished", finished, 1200, every=1.0)
    runs = [r for community_runs in by_community.values() for r in community_runs]
    assert {r["status"] for r in runs} == {"SUCCESS"}, [(r["jobName"], _tags(r)[COMMUNITY_TAG], r["status"]) for r in runs]
    events = {r["runId"]: _events(instance, r["runId"]) for r in runs}
    queued: dict[str, float] = {}
    for community, community_runs in by_community.items():
        for run in community_runs:
            tags = _tags(run)
            assert tags[COMMUNITY_TAG] == community
            assert tags["dagster/schedule_name"] in SCHEDULES and SCHEDULES[tags["dagster/schedule_name"]] == run["jobName"]
            # the run's partition is its community's (with the community dimension: `acme|<day>`, `acme`)
            assert (tags.get("dagster/partition/community") or tags["dagster/partition"]) == community, tags
        statuses = seen_statuses[community]
        assert ("QUEUED", "STARTED") in statuses or ("QUEUED", "STARTING") in statuses, (community, statuses)
        # the community's limit (deploy/dagster.yaml): its second run left the queue only when its first ended
        first, second = sorted(community_runs, key=lambda r: r["startTime"])
        first_end = _first(events[first["runId"]], DagsterEventType.RUN_SUCCESS).timestamp
        enqueued = _first(events[second["runId"]], DagsterEventType.RUN_ENQUEUED).timestamp
        launched = _first(events[second["runId"]], DagsterEventType.RUN_STARTING).timestamp  # the daemon launched it
        assert enqueued < first_end <= launched, (community, enqueued, first_end, launched)
        assert first["endTime"] <= second["startTime"]
        queued[community] = round(launched - enqueued, 1)
    # different communities are not held by each other: runs of the two overlap in time
    spans = {c: [(r["startTime"], r["endTime"]) for r in rs] for c, rs in by_community.items()}
    assert any(a0 < b1 and b0 < a1 for a0, a1 in spans[DEFAULT_COMMUNITY] for b0, b1 in spans[ACME]), spans

    # separate processes: each run's worker (and its steps) is neither the daemon, nor the webserver,
    # nor the code server itself, but a process the code location started
    run_pids = {r["runId"]: _first(events[r["runId"]], DagsterEventType.RUN_START).dagster_event.pid for r in runs}
    assert len(set(run_pids.values())) == len(runs)
    step_pids = {e.dagster_event.pid for r in runs for e in events[r["runId"]].get(DagsterEventType.STEP_START, [])}
    assert step_pids and not (set(run_pids.values()) | step_pids) & service_pids
    assert lineages, "no run was seen alive"
    for run_id, lineage in lineages.items():
        assert lineage[0] == run_pids[run_id]
        assert set(lineage[1:]) & code_location, (lineage, code_location)
        assert not set(lineage) & (deployment.services["daemon"].pids() | deployment.services["webserver"].pids())

    timings = {f"{_tags(r)[COMMUNITY_TAG]}/{r['jobName']}": (round(r["startTime"] - turned_on, 1),
                                                             round(r["endTime"] - r["startTime"], 1)) for r in runs}
    print(f"\nservices (pids): { {n: s.pid for n, s in deployment.services.items()} }; run workers: {run_pids}; "
          f"run (start after the schedules were turned on, duration) in s: {timings}; "
          f"each community's second run queued for (s): {queued}")

    _warehouse_holds_the_truth(deployment.warehouse_url, {DEFAULT_COMMUNITY: sim.truth(),
                                                          ACME: acme.admin_get("/__sim/truth")})
    _browser_shows_the_runs(deployment, by_community)


def _warehouse_holds_the_truth(url: str, truths: dict[str, dict[str, Any]]) -> None:
    """Each community's raw schema (`returning_raw`, `returning_raw__acme`) holds its simulator's truth."""
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            for community, truth in truths.items():
                schema = "returning_raw" if community == DEFAULT_COMMUNITY else f"returning_raw__{community}"
                for table in (*INCREMENTAL_TABLES, *SNAPSHOT_TABLES):
                    cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                                "AND table_name = %s", (schema, table))
                    if not cur.fetchone()[0]:
                        assert truth[table]["count"] == 0, (community, table)
                        continue
                    if table == "users":  # deleted members stay, flagged
                        cur.execute(f"SELECT count(*) FROM {schema}.users WHERE NOT coalesce(is_deleted, false)")
                    else:
                        cur.execute(f'SELECT count(*) FROM {schema}."{table}"')
                    assert cur.fetchone()[0] == truth[table]["count"], (community, table)
    finally:
        con.close()


def _browser_shows_the_runs(deployment: Deployment, by_community: dict[str, list[dict[str, Any]]]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            for community, runs in by_community.items():
                # the run list filtered by the community's tag, as a user filters it
                page.goto(f"{deployment.url}/runs?q[]=tag:{COMMUNITY_TAG}={community}",
                          wait_until="domcontentloaded", timeout=90_000)
                for run in runs:  # the run list shows a run by the first 8 characters of its id
                    page.get_by_text(run["runId"][:8], exact=True).first.wait_for(timeout=90_000)
                    page.get_by_text(run["jobName"], exact=True).first.wait_for(timeout=30_000)
                # each row shows the run's tags, the community among them ("key: value"), and no other
                # community's run is listed
                shown = page.get_by_text(f"{COMMUNITY_TAG}: {community}", exact=True)
                shown.first.wait_for(timeout=30_000)
                assert shown.count() == len(runs), community
                for other in by_community:
                    if other != community:
                        assert page.get_by_text(f"{COMMUNITY_TAG}: {other}", exact=True).count() == 0
                        for run in by_community[other]:
                            assert page.get_by_text(run["runId"][:8], exact=True).count() == 0
                page.screenshot(path=str(deployment.home / f"runs-{community}.png"), full_page=True)
        finally:
            browser.close()
