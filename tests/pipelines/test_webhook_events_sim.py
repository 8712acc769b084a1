"""Live events end to end: the simulator delivers its clock's changes as webhooks (contract 9) to a
real receiver process (`python -m webhooks`), the receiver lands them, and the `webhook_events`
resource loads them: each event once, whatever the redeliveries, kills and reruns, with no API call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.conftest import start_simulator
from tests.pgcluster import free_port
from tests.simadmin import SimAdmin
from tests.webhooks.sender import AES_KEY, KEY, receiver_env, start_receiver
from warehouse.connection import connect

RESOURCES = ["webhook_events"]


def register(sim: SimAdmin, url: str, **extra: Any) -> None:
    sim.post("/__sim/webhooks", {"url": url + "/webhooks/returning-ai", "key": KEY, "aes_key": AES_KEY,
                                 "mode": "gcm", "retry_base_ms": 5, "retry_max_ms": 100, **extra})


def stored(settings: Settings) -> list[tuple[Any, ...]]:
    with connect(settings.location, read_only=True) as con:
        return con.fetchall("SELECT id, event, member_id, channel_id, order_id FROM returning_raw.webhook_events")


def test_landed_events_load_once_and_leave_the_landing_folder(destination: str, sim: SimAdmin, settings: Settings,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    run_sync(settings, RESOURCES)  # nothing landed yet: the table exists, empty
    assert stored(settings) == []
    receiver = start_receiver(landing)
    try:
        register(sim, receiver.url, duplicate_rate=0.2)
        sim.advance(48)
        done = sim.post("/__sim/webhooks/flush", {"timeout_s": 60})
        assert done["done"] and done["duplicates_delivered"] > 0
    finally:
        receiver.stop()
    truth = sim.truth_rows("webhook_events")
    sim.reset_counters()
    result = run_sync(settings, RESOURCES)
    rows = stored(settings)
    assert sorted(r[0] for r in rows) == sorted(e["id"] for e in truth)  # each event once
    assert {r[1] for r in rows} == {e["event"] for e in truth}
    with connect(settings.location, read_only=True) as con:  # the whole event kept, every field
        payloads = {r[0]: json.loads(r[1]) for r in con.fetchall("SELECT id, payload FROM returning_raw.webhook_events")}
    assert payloads == {e["id"]: e for e in truth}
    posted = {e["id"]: e["data"]["channel"]["channel_id"] for e in truth if e["event"] == "message.posted"}
    assert {r[0]: r[3] for r in rows if r[1] == "message.posted"} == posted
    assert sim.counters()["total"] == 0  # loading needs no API call
    assert result.resources["webhook_events"].rows == len(truth)
    assert [p for p in landing.iterdir() if p.suffix == ".jsonl"] == []  # removed once committed
    run_sync(settings, RESOURCES)
    assert len(stored(settings)) == len(truth)


def test_a_load_that_crashes_before_removing_its_segments_loads_nothing_twice(
        sim: SimAdmin, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import context

    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    receiver = start_receiver(landing)
    try:
        register(sim, receiver.url)
        sim.advance(24)
        assert sim.post("/__sim/webhooks/flush", {"timeout_s": 60})["done"]
    finally:
        receiver.stop()
    monkeypatch.setattr(context.Tracker, "loaded", lambda self: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        run_sync(settings, RESOURCES)  # the load committed, the segments were not removed
    assert [p for p in landing.iterdir() if p.suffix == ".jsonl"]
    monkeypatch.undo()
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    run_sync(settings, RESOURCES)
    ids = [r[0] for r in stored(settings)]
    assert len(ids) == len(set(ids)) == len({e["id"] for e in sim.truth_rows("webhook_events")})


@pytest.fixture()
def busy_sim() -> Iterator[SimAdmin]:
    """A bigger community of its own, so one simulated fortnight makes more than 10,000 events."""
    proc, url = start_simulator(12000, 11)
    try:
        admin = SimAdmin(url, seed=11, users=12000)
        yield admin
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_receiver_killed_during_10000_deliveries_lands_each_event_once(
        busy_sim: SimAdmin, api_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    monkeypatch.setenv("RETURNING_AI_BASE_URL", busy_sim.base_url)
    port = free_port()
    receiver = start_receiver(landing, port=port)
    register(busy_sim, receiver.url, duplicate_rate=0.05)
    generated = 0
    while generated < 10_000:
        generated = busy_sim.advance(48)["changes"]["events"] + generated
    killed = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill it mid-stream, twice: a quarter and 60% through
        status = busy_sim.get("/__sim/webhooks")
        if status["acknowledged"] > generated * (0.25, 0.6)[killed]:
            os.kill(receiver.proc.pid, signal.SIGKILL)
            receiver.proc.wait()
            killed += 1
            if killed == 2:
                break
            receiver = start_receiver(landing, port=port)
        time.sleep(0.05)
    assert killed == 2, "deliveries finished before the receiver could be killed twice"
    receiver = start_receiver(landing, port=port)
    try:
        done = busy_sim.post("/__sim/webhooks/flush", {"timeout_s": 110})
        assert done["done"] and done["acknowledged"] == done["generated"] >= 10_000
    finally:
        receiver.stop()
    settings = Settings.from_env()
    run_sync(settings, RESOURCES)
    ids = [r[0] for r in stored(settings)]
    truth = {e["id"] for e in busy_sim.truth_rows("webhook_events")}
    assert len(ids) == len(set(ids)) and set(ids) == truth


def test_the_receiver_command_prints_where_it_listens(tmp_path: Path) -> None:
    env = {**receiver_env(tmp_path / "landing")}
    proc = subprocess.Popen([sys.executable, "-m", "returning_sync.cli", "webhooks", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("webhooks listening on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_fct_live_events_has_each_event_with_its_fields(destination: str, sim: SimAdmin, settings: Settings,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from warehouse.models import build_model, discover_models

    landing = tmp_path / "landing"
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(landing))
    receiver = start_receiver(landing)
    try:
        register(sim, receiver.url, duplicate_rate=0.1)
        sim.advance(48)
        assert sim.post("/__sim/webhooks/flush", {"timeout_s": 60})["done"]
    finally:
        receiver.stop()
    run_sync(settings, RESOURCES)
    model = next(m for m in discover_models() if m.name == "fct_live_events")
    assert model.raw_deps == ("webhook_events",)
    with connect(settings.location) as con:
        build_model(con, model)
        rows = con.dicts("SELECT * FROM analytics.fct_live_events")
    truth = {e["id"]: e for e in sim.truth_rows("webhook_events")}
    assert sorted(r["event_id"] for r in rows) == sorted(truth)
    for r in rows:
        data = truth[r["event_id"]]["data"]
        if r["event"] == "message.posted":
            assert (r["message_id"], r["channel_name"]) == (data["message"]["id"], data["channel"]["name"])
        elif r["event"] == "store.purchased":
            assert (r["order_id"], r["product_id"], r["quantity"], r["price"]) == (
                data["orderID"], data["product"]["_id"], float(data["quantity"]), float(data["product"]["price"]))
        assert r["event_day"] == r["created_at"].date()
