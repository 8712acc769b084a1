"""Pushes end to end against the simulator: truth before and after, counters, crashes and lost answers.
Every test runs once with the warehouse (and so the ledger) in DuckDB and once in Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.client import ReturningClient
from pipelines.errors import AmbiguousWriteError
from returning_sync.cli import main
from reverse_etl import get_definition, run_push
from reverse_etl.jobs import Waiting
from reverse_etl.runner import last_runs
from reverse_etl.steps import FAULT_ENV
from tests.simadmin import READ_ONLY_KEY, SimAdmin
from warehouse.connection import connect

pytestmark = pytest.mark.usefixtures("destination")

BULK_USERS = "POST /apis/v1/users/bulk-update"
BULK_PREMIUM = "POST /apis/v1/users/bulk-update/premium-currency"
WAIT = Waiting(timeout=30, first=0.05, ceiling=0.5)


def users_by_email(sim: SimAdmin) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in sim.truth_rows("users")}


def query(settings: Any, sql: str) -> list[tuple]:
    """Rows of `sql` (DuckDB's dialect) on the configured warehouse, read-only."""
    with connect(settings.location, read_only=True) as con:
        return con.fetchall(sql)


def intended(settings: Any, name: str) -> list[tuple]:
    return query(settings, get_definition(name).sql)


def changes(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict[str, tuple]]:
    """email -> {field: (before, after)} for every user whose truth row changed."""
    out = {}
    for email, row in after.items():
        diff = {k: (before[email].get(k), v) for k, v in row.items() if before[email].get(k) != v}
        if diff:
            out[email] = diff
    return out


def writes(sim: SimAdmin) -> int:
    by = sim.counters()["by_endpoint"]
    return by.get(BULK_USERS, 0) + by.get(BULK_PREMIUM, 0)


def test_weekly_bonus_changes_exactly_the_intended_users_and_a_second_run_sends_nothing(
        sim: SimAdmin, push_settings: Any) -> None:
    expected = {row[0] for row in intended(push_settings, "weekly_tier_bonus")}
    assert expected, "the seeded community should have members reaching a tier in the last week"
    before = users_by_email(sim)
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert (result.state, result.sent, result.success, result.invalid) == ("completed", len(expected),
                                                                            len(expected), 0)
    after = users_by_email(sim)
    assert changes(before, after) == {e: {"coins": (before[e]["coins"], before[e]["coins"] + 500)}
                                      for e in expected}
    sim.reset_counters()
    again = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert (again.state, again.sent, again.unchanged) == ("no_changes", 0, len(expected))
    assert writes(sim) == 0
    assert users_by_email(sim) == after
    assert query(push_settings, "SELECT result, count(*) FROM reverse_etl.push_rows GROUP BY 1") == [
        ("success", len(expected))]
    last = last_runs(push_settings)["weekly_tier_bonus"]  # what `push --list` shows
    assert (last["state"], last["sent_rows"]) == ("no_changes", 0)


def test_custom_field_and_premium_grant_apply_once(sim: SimAdmin, push_settings: Any) -> None:
    points = dict(intended(push_settings, "loyalty_points"))
    top = [row[0] for row in intended(push_settings, "monthly_top_xp_premium")]
    assert len(top) == 10
    before = users_by_email(sim)
    assert run_push("loyalty_points", push_settings, waiting=WAIT).state == "completed"
    assert run_push("monthly_top_xp_premium", push_settings, waiting=WAIT).state == "completed"
    after = users_by_email(sim)
    for email, diff in changes(before, after).items():
        allowed = {"loyalty_points"} | ({"premium_currency"} if email in top else set())
        assert set(diff) <= allowed, (email, diff)
    assert all(after[e]["loyalty_points"] == points[e] for e in points)
    assert all(after[e]["premium_currency"] == before[e]["premium_currency"] + 25 for e in top)
    sim.reset_counters()
    assert run_push("loyalty_points", push_settings, waiting=WAIT).sent == 0
    assert run_push("monthly_top_xp_premium", push_settings, waiting=WAIT).sent == 0
    assert writes(sim) == 0


def test_dry_run_makes_no_write_calls_and_writes_the_csv(sim: SimAdmin, push_settings: Any) -> None:
    expected = intended(push_settings, "weekly_tier_bonus")
    sim.reset_counters()
    result = run_push("weekly_tier_bonus", push_settings, dry_run=True)
    assert writes(sim) == 0
    assert sim.truth()["bulk_jobs"]["count"] == 0
    assert (result.total, result.changed, result.invalid, result.would_send) == (
        len(expected), len(expected), 0, len(expected))
    lines = result.csv_path.read_bytes().decode().split("\r\n")
    assert lines[0] == "email,coins_op,coins"
    assert sorted(lines[1:-1]) == sorted(f"{e},add,500" for e, *_ in expected)
    assert result.preview_path.exists()


def test_process_killed_after_upload_does_not_apply_twice(sim: SimAdmin, push_settings: Any,
                                                          api_env: dict[str, str]) -> None:
    expected = {row[0] for row in intended(push_settings, "weekly_tier_bonus")}
    before = users_by_email(sim)
    env = {**os.environ, **api_env, FAULT_ENV: "kill:after_upload"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert query(push_settings, "SELECT state FROM reverse_etl.pushes") == [("uploading",)]
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert [r["state"] for r in result.resumed] == ["completed"]
    assert result.sent == 0
    assert writes(sim) == 1
    after = users_by_email(sim)
    assert {e: d["coins"][1] - d["coins"][0] for e, d in changes(before, after).items()} == {
        e: 500 for e in expected}


def test_process_killed_before_upload_sends_on_the_next_run(sim: SimAdmin, push_settings: Any,
                                                            api_env: dict[str, str]) -> None:
    env = {**os.environ, **api_env, FAULT_ENV: "kill:before_upload"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert writes(sim) == 0
    before = users_by_email(sim)
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert [r["state"] for r in result.resumed] == ["not_received"]
    assert result.state == "completed" and writes(sim) == 1
    assert all(d == {"coins": (before[e]["coins"], before[e]["coins"] + 500)}
               for e, d in changes(before, users_by_email(sim)).items())


def test_lost_response_is_reconciled_through_the_job_list(sim: SimAdmin, push_settings: Any) -> None:
    """The server applies the upload but its answer is cut short: AmbiguousWriteError, then the job list."""
    expected = {row[0] for row in intended(push_settings, "weekly_tier_bonus")}
    before = users_by_email(sim)
    sim.knobs(faults={"rate": 1.0, "kinds": ["truncate"], "endpoints": [BULK_USERS]})
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    assert (result.state, result.success) == ("completed", len(expected))
    assert run_push("weekly_tier_bonus", push_settings, waiting=WAIT).sent == 0
    assert writes(sim) == 1
    assert set(changes(before, users_by_email(sim))) == expected


def test_upload_refused_with_5xx_is_not_resent_blindly(sim: SimAdmin, push_settings: Any) -> None:
    """A 500 before the server takes the file: the job list has nothing, so the next run sends it."""
    before = users_by_email(sim)
    sim.knobs(faults={"rate": 1.0, "kinds": ["500"], "endpoints": [BULK_USERS]})
    assert main(["push", "weekly_tier_bonus"]) == 4  # the API failed: exit 4
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    assert query(push_settings, "SELECT state FROM reverse_etl.pushes") == [("not_received",)]
    assert sim.truth()["bulk_jobs"]["count"] == 0
    second = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert second.state == "completed"
    assert all(d["coins"][1] - d["coins"][0] == 500 for d in changes(before, users_by_email(sim)).values())


def test_lost_answer_with_monkeypatched_client(sim: SimAdmin, push_settings: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    original = ReturningClient.upload_csv

    def lose(self: ReturningClient, endpoint: str, *, filename: str, content: bytes) -> dict:
        original(self, endpoint, filename=filename, content=content)
        raise AmbiguousWriteError(endpoint, "ReadTimeout")

    before = users_by_email(sim)
    with monkeypatch.context() as patch:  # undoes only this patch, not the warehouse's environment
        patch.setattr(ReturningClient, "upload_csv", lose)
        first = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert first.state == "completed"
    assert run_push("weekly_tier_bonus", push_settings, waiting=WAIT).sent == 0
    assert all(d["coins"][1] - d["coins"][0] == 500 for d in changes(before, users_by_email(sim)).values())


def test_response_without_job_id_finds_the_job_by_file_name(sim: SimAdmin, push_settings: Any) -> None:
    sim.knobs(bulk_returns_job_id=False)
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    jobs = sim.truth_rows("bulk_jobs")
    assert len(jobs) == 1 and result.job_id == jobs[0]["jobId"]
    assert jobs[0]["fileName"] == f"rs-{result.push_id}.csv"
    assert result.state == "completed"


def test_slow_job_is_left_pending_and_resumed(sim: SimAdmin, push_settings: Any) -> None:
    sim.knobs(bulk_delay_ms=3000)
    first = run_push("weekly_tier_bonus", push_settings, waiting=Waiting(timeout=0.3, first=0.05))
    assert first.state == "pending"
    assert query(push_settings, "SELECT state FROM reverse_etl.pushes") in ([("queued",)], [("processing",)])
    second = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert [r["state"] for r in second.resumed] == ["completed"] and second.sent == 0
    assert writes(sim) == 1


def test_server_row_errors_are_retried_then_given_up(sim: SimAdmin, push_settings: Any, tmp_path: Path) -> None:
    real = sim.truth_rows("users")[0]
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "with_ghost.sql").write_text(
        "-- columns: coins=add\n-- period: p\n-- retries: 1\n"
        f"SELECT email, 7 AS coins, 'p1' AS p FROM (VALUES ('{real['email']}'), ('ghost@example.com')) AS t(email)\n")
    runs = [run_push("with_ghost", push_settings, waiting=WAIT, definitions_dir=defs) for _ in range(3)]
    assert [(r.sent, r.success, r.failed, r.given_up) for r in runs] == [(2, 1, 1, 0), (1, 0, 1, 1), (0, 0, 0, 1)]
    assert writes(sim) == 2
    assert users_by_email(sim)[real["email"]]["coins"] == real["coins"] + 7
    rows = query(push_settings, "SELECT result, error, attempt FROM reverse_etl.push_rows "
                                "WHERE email = 'ghost@example.com' ORDER BY updated_at")
    assert [r[0] for r in rows] == ["failed", "failed", "given_up"]
    assert "unknown email" in rows[0][1] and [r[2] for r in rows[:2]] == [1, 2]


def test_read_only_key_fails_before_upload_with_exit_3(sim: SimAdmin, push_settings: Any,
                                                       monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", READ_ONLY_KEY)
    assert main(["push", "weekly_tier_bonus"]) == 3
    err = capsys.readouterr().err
    assert "bulkUpdateUser" in err
    assert writes(sim) == 0
    assert query(push_settings, "SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema = 'reverse_etl' AND table_name = 'pushes'") in ([(0,)],)


def test_push_command_lists_and_dry_runs(sim: SimAdmin, push_settings: Any, capsys) -> None:
    assert main(["push", "weekly_tier_bonus", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would send" in out and "csv:" in out
    assert main(["push", "--list"]) == 0
    out = capsys.readouterr().out
    assert "weekly_tier_bonus" in out and "premium_currency" in out and "0 6 * * 1" in out and "never" in out


def test_a_dry_run_needs_no_key_and_calls_nothing(sim: SimAdmin, push_settings: Any,
                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("RETURNING_AI_API_KEY")
    sim.reset_counters()
    assert main(["push", "weekly_tier_bonus", "--dry-run"]) == 0
    assert "would send" in capsys.readouterr().out
    assert sim.counters()["total"] == 0
    assert main(["push", "weekly_tier_bonus"]) == 2  # sending does need it
    err = capsys.readouterr().err
    assert err.startswith("error: RETURNING_AI_API_KEY is not set") and err.count("\n") == 1
    assert sim.counters()["total"] == 0


def test_process_killed_after_job_recorded_is_resumed(sim: SimAdmin, push_settings: Any,
                                                      api_env: dict[str, str]) -> None:
    expected = {row[0] for row in intended(push_settings, "weekly_tier_bonus")}
    before = users_by_email(sim)
    env = {**os.environ, **api_env, FAULT_ENV: "kill:after_job_recorded"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert query(push_settings, "SELECT state, job_id IS NOT NULL FROM reverse_etl.pushes") == [("queued", True)]
    result = run_push("weekly_tier_bonus", push_settings, waiting=WAIT)
    assert [r["state"] for r in result.resumed] == ["completed"] and result.sent == 0
    assert writes(sim) == 1
    assert query(push_settings, "SELECT result, count(*) FROM reverse_etl.push_rows GROUP BY 1") == [
        ("success", len(expected))]
    assert {e: d["coins"][1] - d["coins"][0] for e, d in changes(before, users_by_email(sim)).items()} == {
        e: 500 for e in expected}
