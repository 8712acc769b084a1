"""Every ingest and model asset materializes through Dagster against the simulator; checks pass on the
good load and fail on data broken on purpose."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
from dagster import AssetSelection, DagsterInstance, materialize

from assets.instance import ensure_dagster_home
from pipelines.sync import run_sync
from pipelines.tables import RESOURCES as RAW_TABLES
from tests.assets.conftest import Loaded, at_sim_clock, resources_for


def check_results(result) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            out[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = ev.passed
    return out


def test_everything_materializes_and_every_check_passes(loaded: Loaded) -> None:
    assert loaded.result.success
    checks = check_results(loaded.result)
    assert len(checks) >= 3 * len(RAW_TABLES)
    assert [k for k, ok in checks.items() if not ok] == []
    print(f"full materialization: {loaded.seconds:.1f}s")


def test_raw_tables_hold_exactly_the_truth(loaded: Loaded) -> None:
    truth = loaded.sim.truth()
    con = duckdb.connect(str(loaded.warehouse), read_only=True)
    try:
        for table in RAW_TABLES:
            exists = con.execute("select count(*) from information_schema.tables where table_schema = "
                                 "'returning_raw' and table_name = ?", [table]).fetchone()[0]
            n = con.execute(f"select count(*) from returning_raw.{table}").fetchone()[0] if exists else 0
            expected = truth[table]["count"]
            if table == "users":  # deleted users stay, flagged
                live = con.execute("select count(*) from returning_raw.users where not coalesce(is_deleted, false)"
                                   ).fetchone()[0]
                assert live == expected, table
            else:
                assert n == expected, table
    finally:
        con.close()


def test_materializations_carry_row_counts_and_schema(loaded: Loaded) -> None:
    from dagster import AssetKey

    event = loaded.instance.get_latest_materialization_event(AssetKey(["returning_raw", "gamification_logs"]))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == loaded.sim.truth()["gamification_logs"]["count"]
    assert "dagster/column_schema" in metadata
    model = loaded.instance.get_latest_materialization_event(AssetKey(["analytics", "dim_users"]))
    assert model is not None and model.asset_materialization is not None
    assert "dagster/column_schema" in model.asset_materialization.metadata


def _run_checks(warehouse: Path, loaded: Loaded, instance: DagsterInstance | None = None,
                selection: AssetSelection | None = None) -> dict[str, bool]:
    from assets.checks import build_checks
    from assets.ingest import build_ingest_assets
    from assets.models import build_model_assets

    ingest_assets, model_assets, asset_checks = build_ingest_assets(), build_model_assets(), build_checks()

    result = materialize([*ingest_assets, *model_assets, *asset_checks], instance=instance or loaded.instance,
                         resources=resources_for(loaded.sim.base_url, warehouse),
                         selection=selection or AssetSelection.all_asset_checks(), raise_on_error=False)
    return check_results(result)


def test_checks_fail_on_broken_data(loaded: Loaded, tmp_path: Path) -> None:
    broken = tmp_path / "broken.duckdb"
    shutil.copy(loaded.warehouse, broken)
    con = duckdb.connect(str(broken))
    con.execute("insert into returning_raw.users select * from returning_raw.users limit 3")  # duplicate keys
    con.execute("delete from returning_raw.gamification_logs where random() < 0.9")  # collapse
    con.execute("update returning_raw.redemption_orders set user_id = 'ffffffffffffffffffffffff' "
                "where random() < 0.2")  # unknown users, well over the tolerated share
    con.close()
    results = _run_checks(broken, loaded)
    assert results["returning_raw/users:primary_key_unique"] is False
    assert results["returning_raw/gamification_logs:row_count_not_collapsing"] is False
    assert results["returning_raw/redemption_orders:user_id_references_known_users"] is False
    untouched = {k: v for k, v in results.items() if not k.startswith(("returning_raw/users:primary",
                 "returning_raw/gamification_logs:row_count", "returning_raw/redemption_orders:user_id"))}
    assert all(untouched.values()), [k for k, v in untouched.items() if not v]


def test_completeness_and_drift_checks_warn_on_what_the_sync_recorded(loaded: Loaded, tmp_path: Path) -> None:
    """A shortfall the newest sync recorded for messages and a field the newest load saw retyped:
    each raw asset's check says so (a warning), with the numbers; the other assets' pass."""
    recorded = tmp_path / "recorded.duckdb"
    shutil.copy(loaded.warehouse, recorded)
    con = duckdb.connect(str(recorded))
    newest = con.execute("SELECT max(load_id) FROM returning_raw._dlt_loads").fetchone()[0]
    con.execute("INSERT INTO returning_raw._sync_completeness VALUES ('messages', 'channel c1', 3555, 3548, 7, "
                "'out of reach', ?)", [newest + "9"])
    con.execute("INSERT INTO returning_raw._schema_changes VALUES ('store_products', 'price', 'retyped', 'double', "
                "'str in 1 value(s)', ?)", [newest])
    con.close()
    results = _run_checks(recorded, loaded)
    assert results["returning_raw/messages:complete_against_server_counts"] is False
    assert results["returning_raw/store_products:schema_unchanged"] is False
    others = {k: v for k, v in results.items() if k.endswith((":complete_against_server_counts", ":schema_unchanged"))
              and k not in ("returning_raw/messages:complete_against_server_counts",
                            "returning_raw/store_products:schema_unchanged")}
    assert others and all(others.values()), [k for k, v in others.items() if not v]


def test_freshness_fails_when_never_loaded(loaded: Loaded, tmp_path: Path) -> None:
    from assets.checks import build_checks

    CHECK_KEYS = [k for c in build_checks() for k in c.check_keys]

    fresh = AssetSelection.checks(*[k for k in CHECK_KEYS if k.name == "fresh"])
    with DagsterInstance.ephemeral() as instance:  # an instance that never saw a load
        results = _run_checks(loaded.warehouse, loaded, instance, fresh)
    assert len(results) == len(RAW_TABLES)
    assert results["returning_raw/users:fresh"] is False
    assert results["returning_raw/gamification_logs:fresh"] is False


def test_freshness_allowance_follows_the_configured_cron() -> None:
    import datetime as dt

    from assets.checks import schedule_interval

    assert schedule_interval("5 * * * *", dt.timedelta(0)) == dt.timedelta(hours=1)
    assert schedule_interval("15 3 * * 1", dt.timedelta(0)) == dt.timedelta(days=7)
    assert schedule_interval(None, dt.timedelta(days=1)) == dt.timedelta(days=1)


def test_freshness_verdict_allows_schedule_plus_grace() -> None:
    import datetime as dt

    from assets.checks import freshness_verdict

    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    allowed = dt.timedelta(hours=1, minutes=30)
    assert freshness_verdict(now - dt.timedelta(minutes=89), now, allowed)[0]
    assert not freshness_verdict(now - dt.timedelta(minutes=91), now, allowed)[0]
    assert not freshness_verdict(None, now, allowed)[0]


def test_backfilling_a_date_range_loads_exactly_that_range(loaded: Loaded, tmp_path: Path) -> None:
    import datetime as dt

    from dagster import AssetKey

    from assets.ingest import build_ingest_assets

    raw_incremental = build_ingest_assets().incremental

    warehouse = tmp_path / "w.duckdb"
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "home")))
    try:
        result = materialize([raw_incremental], instance=instance, resources=resources_for(loaded.sim.base_url, warehouse),
                             selection=[AssetKey(["returning_raw", "gamification_logs"])],
                             tags={"dagster/asset_partition_range_start": "2026-05-01",
                                   "dagster/asset_partition_range_end": "2026-05-02"})
        assert result.success
        done = instance.get_materialized_partitions(AssetKey(["returning_raw", "gamification_logs"]))
    finally:
        instance.dispose()
    assert done == {"2026-05-01", "2026-05-02"}
    start, end = dt.datetime(2026, 5, 1, tzinfo=dt.UTC), dt.datetime(2026, 5, 3, tzinfo=dt.UTC)
    expected = {r["_id"] for r in loaded.sim.truth_rows("gamification_logs")
                if start <= dt.datetime.fromisoformat(r["createdAt"].replace("Z", "+00:00")) < end}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        got = {r[0] for r in con.execute("select _id from returning_raw.gamification_logs").fetchall()}
    finally:
        con.close()
    assert expected and got == expected


def test_hourly_run_a_day_later_loads_exactly_what_is_new(loaded: Loaded, tmp_path: Path) -> None:
    """The scheduled incremental runs a day later (the hourly tick's: yesterday's partition read whole
    once it ended, today's read from the high-water marks stored in the warehouse) load exactly what is
    new, and mark only those two days."""
    from dagster import AssetKey

    from assets.ingest import build_ingest_assets
    from assets.schedules import incremental_requests

    ingest_assets = build_ingest_assets()

    warehouse = tmp_path / "w.duckdb"
    shutil.copy(loaded.warehouse, warehouse)  # dlt's state travels inside the warehouse
    # the stored marks, as a scheduled run (or the command line) leaves them
    run_sync(settings_for(loaded.sim.base_url, warehouse))
    loaded.sim.advance(24)
    day = loaded.sim.clock()["now"][:10]
    loaded.sim.reset_counters()
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "home")))
    try:
        with at_sim_clock(loaded.sim) as now:
            closed, today = incremental_requests(now)
            assert today.partition_key == day
            before = _logs_requests(loaded)
            result = materialize(ingest_assets, instance=instance, partition_key=today.partition_key,
                                 resources=resources_for(loaded.sim.base_url, warehouse))
            assert result.success
            today_requests = _logs_requests(loaded) - before
            assert materialize(ingest_assets, instance=instance, partition_key=closed.partition_key,
                               resources=resources_for(loaded.sim.base_url, warehouse)).success
        done = instance.get_materialized_partitions(AssetKey(["returning_raw", "gamification_logs"]))
    finally:
        instance.dispose()
    assert done == {closed.partition_key, day}
    truth = loaded.sim.truth()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in ("gamification_logs", "user_field_histories", "redemption_orders", "purchase_histories",
                      "streak_logs", "redemption_status_history"):
            n = con.execute(f"select count(*) from returning_raw.{table}").fetchone()[0]
            assert n == truth[table]["count"], table
        live = con.execute("select count(*) from returning_raw.users where not coalesce(is_deleted, false)").fetchone()[0]
        assert live == truth["users"]["count"]
    finally:
        con.close()
    # incremental: today's run reads from the stored mark, far fewer log pages than a first full read needs
    assert today_requests <= 5


def _logs_requests(loaded: Loaded) -> int:
    return loaded.sim.counters()["by_endpoint"].get("POST /apis/v1/users/activity/logs", 0)


DAY_TABLES = {"gamification_logs": "createdAt", "streak_logs": "createdAt", "user_field_histories": "createdAt"}


def _day_rows(loaded: Loaded, table: str, start: dt.datetime, end: dt.datetime) -> set[str]:
    """The simulator's truth of `table` whose cursor falls in [start, end)."""
    return {r["_id"] for r in loaded.sim.truth_rows(table)
            if start <= dt.datetime.fromisoformat(r[DAY_TABLES[table]].replace("Z", "+00:00")) < end}


def test_a_day_partition_loads_exactly_its_day(loaded: Loaded, tmp_path: Path) -> None:
    """Partition D of a warehouse that never loaded: exactly the rows of [D, D+1), and only D marked."""
    from dagster import AssetKey

    from assets.ingest import build_ingest_assets, raw_key

    day = dt.date.fromisoformat(loaded.window[1]) - dt.timedelta(days=3)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    warehouse = tmp_path / "w.duckdb"
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "home")))
    try:
        with at_sim_clock(loaded.sim):  # the day has ended: read exactly, whatever the marks say
            result = materialize([build_ingest_assets().incremental], instance=instance, partition_key=day.isoformat(),
                                 resources=resources_for(loaded.sim.base_url, warehouse),
                                 selection=[raw_key(t) for t in DAY_TABLES])
        assert result.success
        done = instance.get_materialized_partitions(AssetKey(["returning_raw", "gamification_logs"]))
    finally:
        instance.dispose()
    assert done == {day.isoformat()}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in DAY_TABLES:
            got = {r[0] for r in con.execute(f"select _id from returning_raw.{table}").fetchall()}
            expected = _day_rows(loaded, table, start, end)
            assert expected and got == expected, table
    finally:
        con.close()


def test_a_day_partition_moves_no_other_day_and_no_mark(loaded: Loaded, tmp_path: Path) -> None:
    """Partition D over the whole load with D's rows gone: D's rows come back, the other days' rows
    are not touched (same load), and the stored high-water marks stay where they were."""
    from assets.ingest import build_ingest_assets, raw_key

    day = dt.date.fromisoformat(loaded.window[1]) - dt.timedelta(days=3)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(loaded.warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    for table in DAY_TABLES:
        con.execute(f"delete from returning_raw.{table} where created_at >= ? and created_at < ?", [start, end])
    before = {t: _rows_by_id(con, t) for t in DAY_TABLES}
    state = con.execute("select version_hash from returning_raw._dlt_pipeline_state order by created_at desc limit 1"
                        ).fetchone()
    con.close()
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "home")))
    try:
        with at_sim_clock(loaded.sim):
            result = materialize([build_ingest_assets().incremental], instance=instance, partition_key=day.isoformat(),
                                 resources=resources_for(loaded.sim.base_url, warehouse),
                                 selection=[raw_key(t) for t in DAY_TABLES])
        assert result.success
    finally:
        instance.dispose()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in DAY_TABLES:
            after = _rows_by_id(con, table)
            assert {i: after[i] for i in before[table]} == before[table], table  # other days: the same rows, unchanged
            assert set(after) - set(before[table]) == _day_rows(loaded, table, start, end), table
        assert con.execute("select version_hash from returning_raw._dlt_pipeline_state order by created_at desc "
                           "limit 1").fetchone() == state
    finally:
        con.close()


def _rows_by_id(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[object, ...]]:
    """Each row of `returning_raw.<table>`, every column, by its `_id` (the Arrow-loaded tables carry no
    `_dlt_load_id` or `_dlt_id`: what is compared is every value the row holds)."""
    cursor = con.execute(f"select * from returning_raw.{table}")
    names = [d[0] for d in cursor.description]
    return {row[names.index("_id")]: row for row in cursor.fetchall()}


def settings_for(base_url: str, warehouse: Path):  # type: ignore[no-untyped-def]
    from assets.resources import Warehouse

    resources = resources_for(base_url, warehouse)
    return resources["returning"].settings(Warehouse(destination="duckdb", path=str(warehouse)))

