"""Live events in Dagster: the sensor asks for a load when the receiver has sealed segments, the
load removes them once committed, and the check compares message.posted events with the polled
messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, materialize

from assets.instance import ensure_dagster_home
from tests.assets.conftest import first_load, resources_for
from tests.simadmin import SimAdmin
from tests.webhooks.sender import AES_KEY, KEY, start_receiver


def test_sensor_waits_for_a_sealed_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.sensors import sensors

    sensor = next(s for s in sensors if s.name == "webhook_events_waiting")
    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    assert isinstance(sensor(build_sensor_context()), SkipReason)  # no folder yet
    landing.mkdir()
    (landing / "seg-000001.open").write_text("")  # still being written: not ready
    assert isinstance(sensor(build_sensor_context()), SkipReason)
    (landing / "seg-000002.jsonl").write_text("")
    request = sensor(build_sensor_context())
    assert request.run_key == "webhooks:seg-000002.jsonl" and request.tags == {"returning/community": "default"}
    assert request.partition_key is None  # the landed events sit outside the day partitions
    assert sensor.job_name == "load_webhook_events"


def test_dagster_load_removes_segments_and_the_check_agrees_with_polled_messages(
        sim: SimAdmin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.checks import build_checks
    from assets.ingest import build_ingest_assets, raw_key

    ingest_assets, asset_checks = build_ingest_assets(), build_checks()

    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    receiver = start_receiver(landing)
    try:
        sim.post("/__sim/webhooks", {"url": receiver.url + "/webhooks/returning-ai", "key": KEY, "aes_key": AES_KEY,
                                     "mode": "cbc", "retry_base_ms": 5, "retry_max_ms": 100})
        sim.advance(48)
        assert sim.post("/__sim/webhooks/flush", {"timeout_s": 60})["done"]
    finally:
        receiver.stop()
    warehouse = tmp_path / "returning.duckdb"
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "dagster_home")))
    selection = [raw_key("webhook_events"), raw_key("messages"), raw_key("channels"), raw_key("users")]
    with first_load(sim) as first:
        result = materialize([*ingest_assets, *asset_checks], selection=selection, instance=instance,
                             resources=resources_for(sim.base_url, warehouse), **first)
    assert result.success
    assert [p for p in landing.iterdir() if p.suffix == ".jsonl"] == []  # removed after the commit
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    live = checks["message_posted_events_match_messages"]
    assert live.passed and live.metadata["events_compared"].value > 0
    assert live.metadata["missing_from_messages"].value == 0
    instance.dispose()


def test_seed_assets_load_the_csv_seeds(sim: SimAdmin, tmp_path: Path) -> None:
    """The seeds (warehouse/seeds/*.csv) are Dagster assets the push definitions read upstream."""
    from assets.reverse_etl import build_reverse_etl
    from assets.seeds import build_seed_assets, seed_key

    (reverse_etl_assets, _), seed_assets = build_reverse_etl(), build_seed_assets()
    from pipelines.seeds import read_seed, seed_files
    from warehouse.connection import connect
    from warehouse.location import WarehouseLocation

    warehouse = tmp_path / "returning.duckdb"
    instance = DagsterInstance.from_config(str(ensure_dagster_home(tmp_path / "dagster_home")))
    result = materialize(seed_assets, instance=instance, resources=resources_for(sim.base_url, warehouse))
    assert result.success
    files = seed_files()
    with connect(WarehouseLocation(path=warehouse), read_only=True) as con:
        for table, path in files.items():
            assert con.fetchone(f'SELECT count(*) FROM seeds."{table}"')[0] == len(read_seed(path)[1])
    upstream = {key for asset in reverse_etl_assets for key in asset.dependency_keys}
    assert seed_key("fulfilment") in upstream
    instance.dispose()
