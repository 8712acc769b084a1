"""The fault matrix: every fault the simulator can inject, each run compared with ground truth.

A run either ends with the warehouse equal to what the API holds, or fails with one clear error and
leaves the warehouse and dlt's state (cursors, pending packages) exactly as they were before it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.errors import ReturningError
from pipelines.sync import run_sync
from tests.reliability.conftest import SCHEME_RESOURCES, quiet
from tests.reliability.helpers import diff_with_truth, snapshot, snapshot_diff
from tests.simadmin import SimAdmin

# transient faults: retried until every page is complete
TRANSIENT = {
    "5xx burst": {"kinds": ["500", "502", "503"], "rate": 0.35},
    "connection reset mid-body": {"kinds": ["reset"], "rate": 0.3},
    "truncated JSON": {"kinds": ["truncate"], "rate": 0.3},
}


def served(sim: SimAdmin, status: str) -> int:
    return int(sim.counters()["by_status"].get(status, 0))


@pytest.mark.parametrize("case", list(TRANSIENT))
def test_transient_faults_are_retried_to_exactly_the_truth(case: str, sim: SimAdmin, make_settings: Callable[..., Any],
                                                          warehouse: Path) -> None:
    sim.knobs(faults={**TRANSIENT[case], "endpoints": []})
    result = run_sync(make_settings(), SCHEME_RESOURCES)
    quiet(sim)
    assert result.retries > 0
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}


def test_429_storm_is_absorbed_and_the_load_is_exact(sim: SimAdmin, make_settings: Callable[..., Any],
                                                     warehouse: Path) -> None:
    sim.knobs(rate_limit=8)
    result = run_sync(make_settings(), ["gamification_logs", "users"])
    quiet(sim)
    assert diff_with_truth(warehouse, sim, ["gamification_logs", "users"]) == {}
    # the client throttles itself to the advertised limit: a storm of 429s never builds up
    assert served(sim, "429") <= 4, sim.counters()["by_status"]
    assert result.requests >= 25


def test_slow_responses_time_out_and_are_retried(sim: SimAdmin, make_settings: Callable[..., Any],
                                                 warehouse: Path) -> None:
    sim.knobs(slow_ms=3000, faults={"kinds": ["slow"], "rate": 0.3, "endpoints": []})
    result = run_sync(make_settings(timeout=0.5), ["gamification_logs", "store_products"])
    quiet(sim)
    assert result.retries > 0
    assert diff_with_truth(warehouse, sim, ["gamification_logs", "store_products"]) == {}


def test_duplicate_records_across_pages_load_once(sim: SimAdmin, make_settings: Callable[..., Any],
                                                  warehouse: Path) -> None:
    sim.knobs(faults={"kinds": ["duplicate"], "rate": 1.0, "endpoints": []})
    run_sync(make_settings(), SCHEME_RESOURCES)
    quiet(sim)
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}


def test_an_unknown_new_field_is_loaded_beside_the_truth(sim: SimAdmin, make_settings: Callable[..., Any],
                                                         warehouse: Path) -> None:
    sim.knobs(faults={"kinds": ["extra_field"], "rate": 1.0, "endpoints": []})
    run_sync(make_settings(), SCHEME_RESOURCES)
    quiet(sim)
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}


def synced_then_advanced(sim: SimAdmin, settings: Any, resources: list[str], warehouse: Path) -> dict[str, Any]:
    """A warehouse loaded once, the community moved on a day: the 'before' of a failing run."""
    run_sync(settings, resources)
    sim.advance(24)
    return snapshot(warehouse)


def fails_cleanly_or_converges(sim: SimAdmin, settings: Any, resources: list[str], warehouse: Path,
                               before: dict[str, Any]) -> str:
    try:
        run_sync(settings, resources, strict=True)  # fail fast (the default skips and reports: test_skip_report.py)
    except ReturningError as exc:
        message = str(exc)
        assert "\n" not in message and message
        assert snapshot_diff(before, snapshot(warehouse)) == []
        outcome = "failed"
    else:
        assert diff_with_truth(warehouse, sim, resources) == {}
        outcome = "converged"
    quiet(sim)
    run_sync(settings, resources)
    assert diff_with_truth(warehouse, sim, resources) == {}
    return outcome


@pytest.mark.parametrize("kind", ["drop_field", "type_change"])
def test_broken_records_fail_loudly_and_change_nothing(kind: str, sim: SimAdmin, make_settings: Callable[..., Any],
                                                       warehouse: Path) -> None:
    settings = make_settings(max_attempts=3)
    before = synced_then_advanced(sim, settings, SCHEME_RESOURCES, warehouse)
    sim.knobs(faults={"kinds": [kind], "rate": 1.0, "endpoints": []})
    outcome = fails_cleanly_or_converges(sim, settings, SCHEME_RESOURCES, warehouse, before)
    if kind == "drop_field":  # a record without its key can never be loaded silently
        assert outcome == "failed"


def test_5xx_that_never_ends_fails_with_exit_4_and_changes_nothing(sim: SimAdmin, make_settings: Callable[..., Any],
                                                                   warehouse: Path) -> None:
    settings = make_settings(max_attempts=3)
    before = synced_then_advanced(sim, settings, SCHEME_RESOURCES, warehouse)
    sim.knobs(faults={"kinds": ["503"], "rate": 1.0, "endpoints": ["/apis/v1/streaks"]})
    with pytest.raises(ReturningError) as info:
        run_sync(settings, SCHEME_RESOURCES)
    assert info.value.exit_code == 4 and "streaks kept failing after 3 attempts" in str(info.value)
    assert snapshot_diff(before, snapshot(warehouse)) == []
    quiet(sim)
    run_sync(settings, SCHEME_RESOURCES)
    assert diff_with_truth(warehouse, sim, SCHEME_RESOURCES) == {}


def test_fan_out_reads_ride_out_faults_to_exactly_the_truth(sim: SimAdmin, make_settings: Callable[..., Any],
                                                            warehouse: Path) -> None:
    """Daily history is read per (day, 100 users) by many concurrent calls: every one must land."""
    sim.knobs(faults={"kinds": ["500", "503", "reset", "truncate"], "rate": 0.2, "endpoints": []})
    result = run_sync(make_settings(), ["users", "gamification_daily"])
    quiet(sim)
    assert result.retries > 0
    assert diff_with_truth(warehouse, sim, ["users", "gamification_daily"]) == {}
