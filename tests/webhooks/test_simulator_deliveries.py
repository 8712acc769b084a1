"""The receiver against an independent sender: the simulator's deliveries (`POST /__sim/webhooks`),
plain, GCM and CBC, with its duplicates and retries, and a SIGKILL of the receiver mid-stream. The
landed events, one per id, are the simulator's truth `webhook_events`, unknown fields and all."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.simadmin import SimAdmin
from tests.webhooks.sender import AES_KEY, KEY, free_port, start_receiver
from webhooks import events, segments


@pytest.fixture()
def deliveries(sim: SimAdmin) -> Iterator[SimAdmin]:
    try:
        yield sim
    finally:
        with httpx.Client(base_url=sim.base_url, timeout=30) as c:
            c.delete("/__sim/webhooks")  # stop delivering before the next test resets the simulator


def register(sim: SimAdmin, url: str, mode: str | None, **extra) -> None:
    sim.post("/__sim/webhooks", {"url": url, "key": KEY, "aes_key": AES_KEY if mode else None, "mode": mode,
                                 "retry_base_ms": 20, "retry_max_ms": 200, **extra})


def truth(sim: SimAdmin) -> dict[str, dict]:
    with httpx.Client(base_url=sim.base_url, timeout=120) as c:
        lines = c.get("/__sim/truth/webhook_events").text.splitlines()
    return {row["id"]: row for row in map(json.loads, lines)}


def flush(sim: SimAdmin, timeout_s: float = 120) -> dict:
    with httpx.Client(base_url=sim.base_url, timeout=timeout_s + 30) as c:
        return c.post("/__sim/webhooks/flush", json={"timeout_s": timeout_s}).json()


def assert_landed_is_truth(directory, expected: dict[str, dict]) -> list[dict]:
    rows = list(events.rows(segments.ready(directory)))
    assert sorted(r["id"] for r in rows) == sorted(expected)
    for r in rows:
        assert json.loads(r["payload"]) == expected[r["id"]]  # every field kept, as sent
    return rows


@pytest.mark.parametrize("mode", [None, "gcm", "cbc"])
def test_simulator_deliveries_land_once_per_event(deliveries: SimAdmin, tmp_path, mode):
    rec = start_receiver(tmp_path / "landing")
    try:
        register(deliveries, rec.endpoint, mode, duplicate_rate=0.2)
        deliveries.advance(24 * 7)
        status = flush(deliveries)
        assert status["done"] and status["abandoned"] == 0 and status["duplicates_delivered"] > 0
    finally:
        rec.stop()
    expected = truth(deliveries)
    assert len(expected) == status["generated"] > 100
    rows = assert_landed_is_truth(tmp_path / "landing", expected)
    assert {r["event"] for r in rows} >= {"message.posted"}


def test_simulator_stream_survives_a_sigkill_of_the_receiver(deliveries: SimAdmin, tmp_path):
    directory = tmp_path / "landing"
    port = free_port()
    rec = start_receiver(directory, port=port)
    try:
        register(deliveries, rec.endpoint, "gcm", concurrency=16)
        deliveries.advance(24 * 60)  # ~2,000 events (10,000 from an own sender: test_durability)
        generated = deliveries.get("/__sim/webhooks")["generated"]
        assert generated >= 1_500
        # no event to await in another process: poll the simulator's count of acknowledgements
        deadline = time.monotonic() + 120
        while deliveries.get("/__sim/webhooks")["acknowledged"] < generated // 3:
            assert time.monotonic() < deadline, "deliveries did not progress"
            time.sleep(0.05)
        rec.kill()
        rec = start_receiver(directory, port=port)
        status = flush(deliveries, 300)
        assert status["done"] and status["acknowledged"] == generated and status["abandoned"] == 0
        assert status["failed_attempts"] > 0  # the kill was felt
    finally:
        rec.kill()  # and a second, final SIGKILL: the loader seals what it left open
    assert_landed_is_truth(directory, truth(deliveries))
