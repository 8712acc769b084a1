"""CSV bulk pushes against an API that serves no bulk-jobs list (the simulator's `--surface documented`:
contract 8.3 and the upload's `data.jobId` are [assumed], so the list answers 404 and the upload answer
has no job id). An accepted upload is recorded as accepted and unconfirmed, its keys stay claimed; a
lost answer or a crash leaves its rows unknown, never re-sent, until `push --confirm` / `--release`.
Every test runs once with the warehouse (and so the ledger) in DuckDB and once in Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from returning_errors import plural
from returning_sync.cli import main
from reverse_etl.jobs import UNTRACKED_REASON
from reverse_etl.steps import FAULT_ENV
from tests.reverse_etl.test_push_simulator import BULK_PREMIUM, BULK_USERS, changes, intended, query, writes
from tests.simadmin import READ_ONLY_KEY, SimAdmin

pytestmark = pytest.mark.usefixtures("destination")

NO_LIST = "GET /apis/v1/bulk-jobs [assumed] answered HTTP 404"


@pytest.fixture()
def documented(sim: SimAdmin, push_settings: Any) -> Any:
    """The synced warehouse, the simulator serving only the documented surface; a job is applied as
    soon as the server takes its file (bulk_delay_ms 0), so the truth read after a push shows it."""
    sim.knobs(surface="documented", bulk_delay_ms=0)
    yield push_settings
    sim.knobs(surface="full")


def users(sim: SimAdmin) -> dict[str, dict[str, Any]]:
    """The simulator's users with every field (the full surface's truth: the documented one leaves
    out assumed fields such as premium_currency), read without touching the knob for API calls."""
    sim.knobs(surface="full")
    try:
        return {u["email"]: u for u in sim.truth_rows("users")}
    finally:
        sim.knobs(surface="documented")


def push(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["push", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def ledger_rows(settings: Any, definition: str) -> list[tuple]:
    return query(settings, f"SELECT status, count(*) FROM reverse_etl.push_ledger WHERE definition = '{definition}' "
                           "GROUP BY 1 ORDER BY 1")


def test_accepted_uploads_land_once_and_a_rerun_sends_nothing(sim: SimAdmin, documented: Any, capsys) -> None:
    bonus = {row[0] for row in intended(documented, "weekly_tier_bonus")}
    points = dict(intended(documented, "loyalty_points"))
    assert bonus and points
    before = users(sim)
    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0, out
    assert "weekly_tier_bonus: accepted" in out
    assert f"unconfirmed {len(bonus)} (accepted, unverifiable)" in out and NO_LIST in out
    code, out, _ = push(capsys, "loyalty_points")
    assert code == 0 and "loyalty_points: accepted" in out, out
    assert writes(sim) == 2
    after = users(sim)
    changed_points = {e for e, v in points.items() if before[e].get("loyalty_points") != v}
    expected = {e: {"coins": (before[e]["coins"], before[e]["coins"] + 500)} for e in bonus}
    for e in changed_points:
        expected.setdefault(e, {})["loyalty_points"] = (before[e].get("loyalty_points"), points[e])
    assert changes(before, after) == expected
    assert query(documented, "SELECT definition, result, error, count(*) FROM reverse_etl.push_rows "
                             "GROUP BY 1, 2, 3 ORDER BY 1") == [
        ("loyalty_points", "unconfirmed", UNTRACKED_REASON, len(points)),
        ("weekly_tier_bonus", "unconfirmed", UNTRACKED_REASON, len(bonus))]
    assert query(documented, "SELECT definition, state, sent_rows FROM reverse_etl.pushes ORDER BY 1") == [
        ("loyalty_points", "accepted", len(points)), ("weekly_tier_bonus", "accepted", len(bonus))]
    assert ledger_rows(documented, "weekly_tier_bonus") == [("accepted", len(bonus))]

    sim.reset_counters()
    for name in ("weekly_tier_bonus", "loyalty_points"):
        code, out, _ = push(capsys, name)
        assert code == 0 and f"{name}: no_changes" in out and ", sent 0" in out, out
    assert writes(sim) == 0
    assert users(sim) == after


def test_killed_after_upload_is_left_unknown_not_resent_then_confirmed(
        sim: SimAdmin, documented: Any, api_env: dict[str, str], capsys) -> None:
    bonus = {row[0] for row in intended(documented, "weekly_tier_bonus")}
    before = users(sim)
    env = {**os.environ, **api_env, FAULT_ENV: "kill:after_upload"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    [(push_id, state)] = query(documented, "SELECT push_id, state FROM reverse_etl.pushes")
    assert state == "uploading" and writes(sim) == 1

    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0, out
    assert f"settled earlier push {push_id}: unknown" in out
    assert f"--confirm {push_id}" in out and f"--release {push_id}" in out
    assert f"{plural(len(bonus), 'row')} not sent" in out and ", sent 0" in out
    assert writes(sim) == 1  # never sent again blindly
    once = {e: {"coins": (before[e]["coins"], before[e]["coins"] + 500)} for e in bonus}
    assert changes(before, users(sim)) == once
    assert ledger_rows(documented, "weekly_tier_bonus") == [("unknown", len(bonus))]

    code, out, _ = push(capsys, "weekly_tier_bonus", "--confirm", push_id)  # the Api Log shows it
    assert code == 0 and f"{len(bonus)} key(s) recorded as applied" in out, out
    assert ledger_rows(documented, "weekly_tier_bonus") == [("applied", len(bonus))]
    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0 and "no_changes" in out and "rows not sent" not in out and "row not sent" not in out, out
    assert writes(sim) == 1 and changes(before, users(sim)) == once


def test_killed_before_upload_is_unknown_until_released_then_sent_once(
        sim: SimAdmin, documented: Any, api_env: dict[str, str], capsys) -> None:
    bonus = {row[0] for row in intended(documented, "weekly_tier_bonus")}
    env = {**os.environ, **api_env, FAULT_ENV: "kill:before_upload"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    [(push_id,)] = query(documented, "SELECT push_id FROM reverse_etl.pushes")
    before = users(sim)
    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0 and f"settled earlier push {push_id}: unknown" in out, out
    assert writes(sim) == 0 and users(sim) == before

    code, _, err = push(capsys, "weekly_tier_bonus", "--release", "no-such-push")
    assert code == 2 and f"unknown ones: {push_id}" in err
    code, out, _ = push(capsys, "weekly_tier_bonus", "--release", push_id)  # the Api Log does not show it
    assert code == 0 and f"{len(bonus)} key(s) will be sent by the next run" in out, out
    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0 and "weekly_tier_bonus: accepted" in out, out
    assert writes(sim) == 1
    assert changes(before, users(sim)) == {e: {"coins": (before[e]["coins"], before[e]["coins"] + 500)}
                                           for e in bonus}


def test_lost_answer_is_unknown_exit_4_and_never_sent_again(sim: SimAdmin, documented: Any, capsys) -> None:
    bonus = {row[0] for row in intended(documented, "weekly_tier_bonus")}
    before = users(sim)
    sim.knobs(faults={"rate": 1.0, "kinds": ["truncate"], "endpoints": [BULK_USERS]})
    code, out, _ = push(capsys, "weekly_tier_bonus")
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    assert code == 4, out
    assert "weekly_tier_bonus: unknown" in out and "will NOT be sent again" in out and "--release" in out
    assert ledger_rows(documented, "weekly_tier_bonus") == [("unknown", len(bonus))]
    code, out, _ = push(capsys, "weekly_tier_bonus")
    assert code == 0 and ", sent 0" in out and f"{plural(len(bonus), 'row')} not sent" in out, out
    assert writes(sim) == 1
    assert changes(before, users(sim)) == {e: {"coins": (before[e]["coins"], before[e]["coins"] + 500)}
                                           for e in bonus}


def test_premium_currency_upload_unserved_fails_clearly_and_records_nothing_sent(
        sim: SimAdmin, documented: Any, capsys) -> None:
    top = [row[0] for row in intended(documented, "monthly_top_xp_premium")]
    before = users(sim)
    code, _, err = push(capsys, "monthly_top_xp_premium")
    assert code == 4
    [line] = err.strip().splitlines()
    assert "POST /apis/v1/users/bulk-update/premium-currency [assumed] answered HTTP 404" in line
    assert "nothing was sent" in line
    assert '[sources.returning_ai.registry_overrides.bulk_update_premium_currency] path = "/apis/v1/..."' in line
    assert sim.counters()["by_endpoint"].get(BULK_PREMIUM, 0) <= 1 and users(sim) == before
    assert query(documented, "SELECT state FROM reverse_etl.pushes") == [("not_received",)]
    assert query(documented, "SELECT result, count(*) FROM reverse_etl.push_rows GROUP BY 1") == [("not_sent", len(top))]
    assert ledger_rows(documented, "monthly_top_xp_premium") == [("unsent", len(top))]


def test_a_key_without_bulk_permission_is_refused_by_the_upload(sim: SimAdmin, documented: Any,
                                                                monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """No job list to probe the permission with: the upload itself is refused (exit 3), nothing sent."""
    monkeypatch.setenv("RETURNING_AI_API_KEY", READ_ONLY_KEY)
    before = users(sim)
    code, _, err = push(capsys, "weekly_tier_bonus")
    assert code == 3 and "bulkUpdateUser" in err
    assert users(sim) == before
    assert query(documented, "SELECT DISTINCT status FROM reverse_etl.push_ledger") == [("unsent",)]
