"""Things that happen while a sync runs: the community moves on between two pages (page drift), the
key is revoked, the server restarts. Each run ends equal to the truth, or fails with one clear
error and leaves the warehouse and dlt's state as they were; the next clean run converges."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.context import ResourceProgress
from pipelines.errors import AuthError
from pipelines.sync import run_sync
from tests.conftest import SIM_SEED, start_simulator
from tests.reliability.conftest import SCHEME_RESOURCES
from tests.reliability.helpers import diff_with_truth, snapshot, snapshot_diff
from tests.simadmin import SimAdmin

ROTATED_KEY = "ab" * 32


def once_at(resource: str, page: int, action: Callable[[], Any]) -> Callable[[str, ResourceProgress], None]:
    """A progress callback that runs `action` when `resource` reports its `page`-th page."""
    fired = threading.Event()

    def callback(name: str, p: ResourceProgress) -> None:
        if name == resource and p.pages >= page and not fired.is_set():
            fired.set()
            action()

    return callback


def live_ids(sim: SimAdmin) -> set[str]:
    return {u["_id"] for u in sim.truth_rows("users")}


def test_users_joining_and_leaving_during_the_pass_lose_no_one(sim: SimAdmin, make_settings: Callable[..., Any],
                                                               warehouse: Path) -> None:
    import duckdb

    before = live_ids(sim)
    resources = ["users", "gamification_logs", "user_field_histories"]
    run_sync(make_settings(), resources, progress=once_at("users", 1, lambda: sim.advance(48)))
    after = live_ids(sim)
    assert after - before and before - after  # people joined and left while the pass ran
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = [r[0] for r in con.execute("SELECT _id FROM returning_raw.users").fetchall()]
    finally:
        con.close()
    assert len(stored) == len(set(stored))
    assert (before & after) <= set(stored)  # everyone present throughout was read
    run_sync(make_settings(), resources)
    assert diff_with_truth(warehouse, sim, resources) == {}


def test_newest_first_walk_with_new_records_arriving_loses_nothing(sim: SimAdmin, make_settings: Callable[..., Any],
                                                                   warehouse: Path, monkeypatch) -> None:
    """purchase_histories walks `updatedAt:desc` by offset: records that arrive mid-walk push the
    older ones to later offsets. Pages of 4 force many pages."""
    monkeypatch.setenv("RETURNING_SYNC_REGISTRY_OVERRIDES", '{"purchase_histories": {"page_size": 4}, "redemption_transactions": {"page_size": 4}}')
    resources = ["purchase_histories", "redemption_orders"]
    run_sync(make_settings(), resources, progress=once_at("purchase_histories", 1, lambda: sim.advance(72)))
    run_sync(make_settings(), resources)
    assert diff_with_truth(warehouse, sim, resources) == {}


def test_key_revoked_mid_run_fails_with_exit_3_and_changes_nothing(sim: SimAdmin, make_settings: Callable[..., Any],
                                                                   warehouse: Path) -> None:
    sim.post("/__sim/keys", {"key": ROTATED_KEY, "permissions": "all"})
    settings = make_settings(api_key=ROTATED_KEY)
    run_sync(settings, SCHEME_RESOURCES)
    sim.advance(24)
    before = snapshot(warehouse)

    def revoke() -> None:
        httpx.delete(f"{sim.base_url}/__sim/keys/{ROTATED_KEY}").raise_for_status()

    with pytest.raises(AuthError) as info:
        run_sync(settings, SCHEME_RESOURCES, progress=once_at("users", 1, revoke))
    assert info.value.exit_code == 3 and "HTTP 401" in str(info.value) and ROTATED_KEY not in str(info.value)
    assert snapshot_diff(before, snapshot(warehouse)) == []
    sim.post("/__sim/keys", {"key": ROTATED_KEY, "permissions": "all"})
    run_sync(settings, SCHEME_RESOURCES)
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}


@pytest.fixture()
def own_simulator() -> Iterator[dict[str, Any]]:
    """A simulator this test may kill and restart on the same port."""
    proc, url = start_simulator(300, SIM_SEED)
    box = {"proc": proc, "url": url}
    yield box
    box["proc"].kill()
    box["proc"].wait(timeout=10)


def test_simulator_restarted_mid_run_is_ridden_out(own_simulator: dict[str, Any], make_settings: Callable[..., Any],
                                                   warehouse: Path) -> None:
    url = own_simulator["url"]
    port = url.rsplit(":", 1)[1]
    sim = SimAdmin(url, seed=SIM_SEED, users=300)
    restarted = threading.Event()

    def restart() -> None:
        own_simulator["proc"].kill()
        own_simulator["proc"].wait(timeout=10)
        own_simulator["proc"], _ = start_simulator(300, SIM_SEED, "--port", port)
        restarted.set()

    def begin_restart() -> None:
        threading.Thread(target=restart, daemon=True).start()

    settings = make_settings(integration_url=url, partner_url=url, application_url=url,
                             backoff_base=0.25, backoff_max=2.0, max_attempts=10)
    result = run_sync(settings, SCHEME_RESOURCES, progress=once_at("gamification_logs", 1, begin_restart))
    assert restarted.wait(30)
    assert result.retries > 0
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}
