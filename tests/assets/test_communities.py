"""Communities in Dagster: the community as a partition dimension (assets/partitions.py), the schedules
fanning out one run per community, and a run of one community's day loading into its schemas only.
With the community `default` alone, the partitions and requests of before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from assets.instance import ensure_dagster_home
from assets.partitions import COMMUNITY_TAG, CommunityPartitions, community_partitions, days
from pipelines.errors import ConfigError
from pipelines.tables import INCREMENTAL_TABLES, SNAPSHOT_TABLES
from returning_sync.simulator_process import FULL_KEY, SimulatorProcess
from tests.assets.conftest import resources_for
from tests.conftest import simulator_process
from tests.dltproject import empty_project

ACME_ID = "65a0c9e514a3e564c5c0aaaa"
ACME_USERS = 60
ONE = CommunityPartitions(("default",))
TWO = CommunityPartitions(("default", "acme"))
TICK = dt.datetime(2026, 6, 1, 13, 5, tzinfo=dt.UTC)
FIRST_TICK = dt.datetime(2026, 6, 2, 0, 5, tzinfo=dt.UTC)


def _keys(requests: list) -> list[tuple[str | None, str | None, dict[str, str]]]:  # type: ignore[type-arg]
    """Each request's run key, partition and own tags (less those Dagster adds: dagster/...)."""
    return [(r.run_key, r.partition_key, {k: v for k, v in r.tags.items() if not k.startswith("dagster/")})
            for r in requests]


def test_one_community_keeps_the_partitions_and_requests_of_before() -> None:
    from assets.ingest import build_ingest_assets, partitions
    from assets.schedules import build_schedules, incremental_requests

    for parts in (CommunityPartitions(), ONE):
        assert not parts.crossed and parts.scheduled == ("default",)
        assert parts.by_day is days is partitions and parts.whole is None
        assert parts.day_key("default", "2026-06-01") == "2026-06-01" and parts.whole_key("default") is None
    ingest = build_ingest_assets("duckdb", ONE)
    assert ingest.incremental.partitions_def is days and ingest.snapshot.partitions_def is None
    assert _keys(incremental_requests(FIRST_TICK, parts=ONE)) == [
        ("2026-06-01-closed", "2026-06-01", {COMMUNITY_TAG: "default"}),
        ("2026-06-02-0005", "2026-06-02", {COMMUNITY_TAG: "default"})]
    snapshot = next(s for s in build_schedules(ONE) if s.name == "snapshot_daily")
    [request] = snapshot.evaluate_tick(build_schedule_context(scheduled_execution_time=TICK)).run_requests or []
    assert _keys([request]) == [(None, None, {COMMUNITY_TAG: "default"})]


def test_the_community_crosses_the_day_and_the_assets_stay_as_many() -> None:
    from assets.definitions import definitions_for

    one, two = definitions_for("postgres", ONE), definitions_for("postgres", TWO)
    graph_one, graph_two = one.resolve_asset_graph(), two.resolve_asset_graph()
    assert graph_two.get_all_asset_keys() == graph_one.get_all_asset_keys()
    by_day = graph_two.get(AssetKey(["returning_raw", "gamification_logs"])).partitions_def
    assert isinstance(by_day, MultiPartitionsDefinition)
    assert [d.name for d in by_day.partitions_defs] == ["community", "day"]
    assert by_day.get_partition_key_from_str("acme|2026-06-01").keys_by_dimension == {"community": "acme",
                                                                                        "day": "2026-06-01"}
    for key in (["returning_raw", "users"], ["analytics", "dim_users"], ["reverse_etl", "loyalty_points"]):
        whole = graph_two.get(AssetKey(key)).partitions_def
        assert isinstance(whole, StaticPartitionsDefinition) and whole.get_partition_keys() == ["default", "acme"], key
        assert graph_one.get(AssetKey(key)).partitions_def is None
    assert graph_two.get(AssetKey(["seeds", "voucher_codes"])).partitions_def is None  # shared by every community
    # a pool is the asset's, the same for every partition: a server's writers take none with several
    # communities (the queue's tag limits keep each community's runs one at a time)
    assert graph_one.get(AssetKey(["analytics", "dim_users"])).pools == {"analytics.dim_users"}
    assert not graph_two.get(AssetKey(["analytics", "dim_users"])).pools
    assert graph_two.get(AssetKey(["seeds", "voucher_codes"])).pools == {"seeds"}
    assert definitions_for("duckdb", TWO).resolve_asset_graph().get(AssetKey(["analytics", "dim_users"])).pools \
        == {"duckdb_warehouse"}
    # the demo's job (raw tables by day and models in one run) exists with one community only
    assert "ingest_and_models" in {j.name for j in one.resolve_all_job_defs()}
    assert "ingest_and_models" not in {j.name for j in two.resolve_all_job_defs()}


def test_schedules_and_sensors_ask_one_run_per_community(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.reverse_etl import build_push_schedules
    from assets.schedules import build_schedules
    from assets.sensors import build_sensors
    from reverse_etl import list_definitions

    by_name = {s.name: s for s in build_schedules(TWO)}
    hourly = by_name["incremental_hourly"](build_schedule_context(scheduled_execution_time=TICK))
    assert _keys(hourly) == [
        ("default-2026-06-01-1305", "default|2026-06-01", {COMMUNITY_TAG: "default"}),
        ("acme-2026-06-01-1305", "acme|2026-06-01", {COMMUNITY_TAG: "acme"})]
    first = by_name["incremental_hourly"](build_schedule_context(scheduled_execution_time=FIRST_TICK))
    assert _keys(first) == [
        ("default-2026-06-01-closed", "default|2026-06-01", {COMMUNITY_TAG: "default"}),
        ("default-2026-06-02-0005", "default|2026-06-02", {COMMUNITY_TAG: "default"}),
        ("acme-2026-06-01-closed", "acme|2026-06-01", {COMMUNITY_TAG: "acme"}),
        ("acme-2026-06-02-0005", "acme|2026-06-02", {COMMUNITY_TAG: "acme"})]
    daily = by_name["snapshot_daily"](build_schedule_context(scheduled_execution_time=TICK))
    assert _keys(daily) == [("default-2026-06-01T1305", "default", {COMMUNITY_TAG: "default"}),
                                               ("acme-2026-06-01T1305", "acme", {COMMUNITY_TAG: "acme"})]
    monkeypatch.setenv("RETURNING_SCHEDULE_PUSH_LOYALTY_POINTS_CRON", "0 * * * *")
    [push] = build_push_schedules([d for d in list_definitions() if d.name == "loyalty_points"], TWO)
    pushes = push(build_schedule_context(scheduled_execution_time=TICK))
    assert [(r.partition_key, r.tags[COMMUNITY_TAG]) for r in pushes] == [("default", "default"), ("acme", "acme")]
    assert all(r.run_key.startswith(f"{r.partition_key}-") for r in pushes)
    # the webhook receiver lands the default community's events: its runs are that community's
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "seg-000001.jsonl").write_text("")
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    webhook = next(s for s in build_sensors(TWO) if s.name == "webhook_events_waiting")
    request = webhook(build_sensor_context())
    assert (request.partition_key, request.tags) == ("default", {COMMUNITY_TAG: "default"})
    only_acme = next(s for s in build_sensors(CommunityPartitions(("acme",))) if s.name == "webhook_events_waiting")
    assert "default community" in only_acme(build_sensor_context()).skip_message


def test_a_run_s_community_is_its_partition_s() -> None:
    assert TWO.of_tags({"dagster/partition": "acme|2026-06-01", "dagster/partition/community": "acme"}) == "acme"
    assert TWO.of_tags({"dagster/partition": "acme", COMMUNITY_TAG: "acme"}) == "acme"
    assert TWO.of_tags({"dagster/asset_partition_range_start": "acme|2026-06-01",
                        "dagster/asset_partition_range_end": "acme|2026-06-09"}) == "acme"
    assert TWO.of_tags({}) == "default" and ONE.of_tags({"dagster/partition": "2026-06-01"}) == "default"
    with pytest.raises(ConfigError, match="span communities"):
        TWO.of_tags({"dagster/asset_partition_range_start": "acme|2026-06-01",
                     "dagster/asset_partition_range_end": "default|2026-06-01"})
    with pytest.raises(ConfigError, match="tag returning/community says 'default'"):
        TWO.of_tags({"dagster/partition": "acme", COMMUNITY_TAG: "default"})
    with pytest.raises(ConfigError, match="not a partition"):
        TWO.day_key("beta", "2026-06-01")


@pytest.fixture(scope="module")
def acme_sim() -> Iterator[SimulatorProcess]:
    with simulator_process(ACME_USERS, 11, "--community-id", ACME_ID) as sim:
        yield sim


@pytest.fixture()
def acme_configured(acme_sim: SimulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with no top-level community and `acme` configured by one block (its URL and id) and
    one secret, in the environment."""
    (tmp_path / "project").mkdir()
    for project in empty_project(tmp_path / "project", monkeypatch):
        for name, value in (("API_KEY", FULL_KEY), ("BASE_URL", acme_sim.url), ("COMMUNITY_ID", ACME_ID)):
            monkeypatch.setenv(f"SOURCES__RETURNING_AI__COMMUNITIES__ACME__{name}", value)
        yield project


def test_a_community_s_day_loads_into_its_own_schemas_only(acme_configured: Path, acme_sim: SimulatorProcess,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.ingest import build_ingest_assets
    from assets.models import build_model_assets
    from assets.privacy import SHARE_KEY, build_share_asset

    parts = community_partitions()
    assert parts.slugs == ("acme",) and parts.crossed  # as configured: one block, one secret
    ingest, models = build_ingest_assets("duckdb", parts), build_model_assets(destination="duckdb", parts=parts)
    share = build_share_asset("duckdb", parts)
    warehouse = acme_configured / "w" / "returning.duckdb"
    # the resources' API fields are the default community's (here a port nothing listens on): acme's
    # settings and key are its own block's
    resources = resources_for("http://127.0.0.1:9", warehouse)
    instance = DagsterInstance.from_config(str(ensure_dagster_home(acme_configured / "home")))
    try:
        today = days.get_last_partition_key()
        raw = [AssetKey(["returning_raw", t]) for t in ("gamification_logs", "redemption_orders")]
        loaded = materialize([ingest.incremental], instance=instance, resources=resources,
                             partition_key=f"acme|{today}", selection=raw)
        assert loaded.success
        assert instance.get_run_by_id(loaded.run_id).tags[COMMUNITY_TAG] == "acme"  # given at run start
        # a segment the webhook receiver landed: the default community's, left alone by acme's run
        landing = acme_configured / "landing"
        landing.mkdir()
        segment = landing / "seg-000001.jsonl"
        segment.write_text("", encoding="utf-8")
        monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
        picked = [AssetKey(["returning_raw", t]) for t in ("users", "user_fields", "tiers", "webhook_events")] + [
            AssetKey(["analytics", "dim_users"]), SHARE_KEY]
        whole = materialize([ingest.snapshot, *models, share], instance=instance, resources=resources, partition_key="acme",
                            tags={COMMUNITY_TAG: "acme"}, selection=picked)
        assert whole.success
        done = instance.get_materialized_partitions(AssetKey(["returning_raw", "gamification_logs"]))
        assert done == {f"acme|{today}"}
        assert instance.get_materialized_partitions(AssetKey(["analytics", "dim_users"])) == {"acme"}
        assert instance.get_materialized_partitions(SHARE_KEY) == {"acme"}  # acme's share, as `share --community`
    finally:
        instance.dispose()
    truth = acme_sim.admin_get("/__sim/truth")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        schemas = {r[0] for r in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
        assert {"returning_raw__acme", "analytics__acme"} <= schemas
        assert not schemas & {"returning_raw", "analytics", "reverse_etl"}, schemas  # nothing of the default's
        for table in ("gamification_logs", "redemption_orders", "user_fields"):
            assert table in (*INCREMENTAL_TABLES, *SNAPSHOT_TABLES)
            held = con.execute(f'SELECT count(*) FROM returning_raw__acme."{table}"').fetchone()[0]
            assert held == truth[table]["count"], table
        assert con.execute("SELECT count(*) FROM analytics__acme.dim_users").fetchone()[0] >= ACME_USERS // 2
    finally:
        con.close()
    assert segment.exists()
    assert not (warehouse.parent / "returning_share.duckdb").exists()
    shared = duckdb.connect(str(warehouse.parent / "returning_share__acme.duckdb"), read_only=True)
    try:
        assert shared.execute("SELECT count(*) FROM analytics_share__acme.dim_users").fetchone()[0] >= ACME_USERS // 2
    finally:
        shared.close()
    pipelines = warehouse.parent / ".dlt" / "pipelines"  # acme's own dlt pipeline, no default one
    assert (pipelines / "returning_ai__acme").is_dir() and not (pipelines / "returning_ai").exists()


def test_the_demo_keeps_its_one_community_when_a_project_configures_blocks(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import assets.definitions  # noqa: F401 - the code location other tests read, built before the block is set
    from returning_sync.commands.demo import demo_definitions

    for _ in empty_project(tmp_path, monkeypatch):
        monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__ACME__API_KEY", FULL_KEY)
        assert community_partitions().crossed
        demo_definitions.cache_clear()
        try:
            defs = demo_definitions()
            job = defs.resolve_job_def("ingest_and_models")
            assert job.partitions_def is days
        finally:
            demo_definitions.cache_clear()


def test_a_community_s_run_gets_its_own_key_and_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.resources import ReturningApiSettings, Warehouse

    acme_key, beta_key = "a" * 64, "b" * 64
    for _ in empty_project(tmp_path, monkeypatch):
        monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__ACME__API_KEY", acme_key)
        monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__BETA__API_KEY", beta_key)
        monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__BETA__WAREHOUSE", str(tmp_path / "beta.duckdb"))
        warehouse = Warehouse(destination="duckdb", path=str(tmp_path / "shared.duckdb"))
        returning = ReturningApiSettings(api_key=FULL_KEY, community_id="6502c9e514a3e564c5c09c0a")
        default = returning.settings(warehouse)
        assert (default.api_key, default.location.community, default.location.path) == (
            FULL_KEY, "default", tmp_path / "shared.duckdb")
        # acme: the deployment's warehouse in its schemas, its own key (the resource's is the default's)
        acme = returning.settings(warehouse, "acme")
        assert (acme.api_key, acme.community_id, acme.location.path) == (acme_key, None, tmp_path / "shared.duckdb")
        assert acme.location.schema("returning_raw") == "returning_raw__acme"
        # beta: the DuckDB file its block names
        beta = returning.settings(warehouse, "beta")
        assert (beta.api_key, beta.location.path, beta.location.community) == (beta_key, tmp_path / "beta.duckdb", "beta")
        with pytest.raises(ConfigError, match="no community 'gamma'"):
            warehouse.location("gamma")


def test_the_row_count_check_compares_a_community_with_its_own_loads() -> None:
    from types import SimpleNamespace

    from dagster import AssetMaterialization

    from assets.checks import recorded_counts

    key = AssetKey(["returning_raw", "users"])
    instance = DagsterInstance.ephemeral()
    try:
        for rows, community in ((400, None), (60, "acme"), (410, "default"), (61, "acme"), (420, "default")):
            metadata = {"dagster/row_count": rows, **({"community": community} if community else {})}
            instance.report_runless_asset_event(AssetMaterialization(key, metadata=metadata))
        context = SimpleNamespace(instance=instance)
        assert recorded_counts(context, key) == [420, 61]  # one community: the latest loads, whoever's
        assert recorded_counts(context, key, community="acme") == [61, 60]
        assert recorded_counts(context, key, limit=3, community="default") == [420, 410, 400]  # none named: default
    finally:
        instance.dispose()


def test_a_community_s_days_are_read_as_the_day_partitions_are() -> None:
    """`load_window` reads Dagster's time window of the run's partitions: with the community crossed
    with the day, a past day (or a range of one community's days, a single-run backfill) is read
    exactly, today's from the stored marks, as without the dimension."""
    from dagster import asset

    from assets.ingest import load_window
    from pipelines.session import Window

    seen: list[tuple[str, Window]] = []

    @asset(partitions_def=TWO.by_day)
    def window_probe(context) -> None:  # type: ignore[no-untyped-def]
        seen.append((TWO.of_run(context), load_window(context)))

    today = days.get_last_partition_key()
    start, end = dt.datetime(2026, 6, 1, tzinfo=dt.UTC), dt.datetime(2026, 6, 4, tzinfo=dt.UTC)
    assert materialize([window_probe], partition_key="acme|2026-06-01").success
    assert materialize([window_probe], tags={"dagster/asset_partition_range_start": "acme|2026-06-01",
                                             "dagster/asset_partition_range_end": "acme|2026-06-03"}).success
    assert materialize([window_probe], partition_key=f"default|{today}").success
    assert seen == [("acme", Window(start=start, end=start + dt.timedelta(days=1), backfill=True)),
                    ("acme", Window(start=start, end=end, backfill=True)),
                    ("default", Window())]


def test_the_queue_keeps_one_run_per_community_whoever_launches_it(tmp_path: Path) -> None:
    """Every way a community's run reaches the queue: a schedule's request (COMMUNITY_TAG), the UI on a
    community x day partition, and the models sensor or the UI on a community-only partition (Dagster's
    own partition tags only). Against the limits of the project's instance, by Dagster's own counter:
    a second run of the same community waits; another community's does not."""
    import yaml
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from assets.schedules import build_schedules

    limits = yaml.safe_load((ensure_dagster_home(tmp_path / "home") / "dagster.yaml").read_text())
    limits = limits["concurrency"]["runs"]["tag_concurrency_limits"]
    deployed = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml").read_text())
    assert {lim["key"] for lim in limits} <= {lim["key"] for lim in deployed["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert TWO.by_day is not None and TWO.whole is not None
    hourly = next(s for s in build_schedules(TWO) if s.name == "incremental_hourly")
    scheduled = {r.tags[COMMUNITY_TAG]: {**TWO.by_day.get_tags_for_partition_key(r.partition_key), **r.tags}
                 for r in hourly(build_schedule_context(scheduled_execution_time=TICK))}

    def launched(kind: str, community: str) -> dict[str, str]:
        if kind == "schedule":
            return scheduled[community]
        if kind == "ui, community x day":  # the UI's launch: the partition's tags and nothing else
            return TWO.by_day.get_tags_for_partition_key(TWO.day_key(community, "2026-06-03"))
        return TWO.whole.get_tags_for_partition_key(community)  # models sensor or UI, community only

    kinds = ("schedule", "ui, community x day", "sensor or ui, community only")
    for kind in kinds:
        running = DagsterRun(job_name="j", run_id="running", tags=launched(kind, "acme"))
        counter = TagConcurrencyLimitsCounter(limits, [running])
        same = DagsterRun(job_name="j", run_id="same", tags=launched(kind, "acme"))
        other = DagsterRun(job_name="j", run_id="other", tags=launched(kind, "default"))
        assert counter.is_blocked(same), f"{kind}: a second run of acme was not held back ({same.tags})"
        assert not counter.is_blocked(other), f"{kind}: default waited for acme ({other.tags})"


def test_freshness_is_judged_per_community() -> None:
    """With the community dimension, each community's newest load of a table is its own: a community
    whose partitions were not loaded lately is stale even when another's were."""
    from dagster import AssetMaterialization

    from assets.checks import last_loads

    key = AssetKey(["returning_raw", "gamification_logs"])
    snapshot_key = AssetKey(["returning_raw", "users"])
    now = dt.datetime.now(dt.UTC)
    today, old = now.date().isoformat(), (now.date() - dt.timedelta(days=9)).isoformat()
    with DagsterInstance.ephemeral() as instance:
        assert last_loads(instance, key, TWO, True, now) == {"default": None, "acme": None}
        instance.report_runless_asset_event(AssetMaterialization(key, partition=TWO.day_key("acme", today)))
        instance.report_runless_asset_event(AssetMaterialization(key, partition=TWO.day_key("default", old)))
        instance.report_runless_asset_event(AssetMaterialization(snapshot_key, partition="default"))
        loads = last_loads(instance, key, TWO, True, now)
        assert loads["default"] is None  # only a day long past was loaded (a backfill): not fresh
        assert loads["acme"] is not None and now - loads["acme"] < dt.timedelta(minutes=5)
        snapshots = last_loads(instance, snapshot_key, TWO, False, now)
        assert snapshots["acme"] is None and snapshots["default"] is not None
        # one community: the newest materialization, as before
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["returning_raw", "tiers"])))
        assert last_loads(instance, AssetKey(["returning_raw", "tiers"]), ONE, False, now)["default"] is not None
