"""The runner's bookkeeping against an in-memory bulk endpoint (fakes.py) and a temp DuckDB file."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from pipelines.errors import PermissionDenied
from reverse_etl import jobs, steps
from reverse_etl.errors import QueryError
from reverse_etl.jobs import Waiting
from reverse_etl.result import PushResult
from reverse_etl.runner import run_push
from tests.reverse_etl.fakes import FakeClient, FakeServer

EMAILS = ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]
FAST = Waiting(timeout=5, first=0.001, ceiling=0.01)


@pytest.fixture()
def env(tmp_path: Path) -> SimpleNamespace:
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA returning_raw")
    con.execute("CREATE TABLE returning_raw.users (email VARCHAR, bonus BOOLEAN, city VARCHAR)")
    con.executemany("INSERT INTO returning_raw.users VALUES (?, ?, ?)",
                    [(e, i % 2 == 0, f"city{i}") for i, e in enumerate(EMAILS)] + [("bad", True, "x")])
    con.close()
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "bonus.sql").write_text(
        "-- columns: coins=add\n-- period: week\n-- retries: 1\n"
        "SELECT email, 10 AS coins, 'w1' AS week FROM returning_raw.users WHERE bonus ORDER BY email\n")
    (defs / "cities.sql").write_text(
        "-- columns: city\n-- retries: 0\nSELECT email, city FROM returning_raw.users WHERE email LIKE '%@%' ORDER BY email\n")
    server = FakeServer(users={e: {"coins": 0.0, "city": ""} for e in EMAILS})
    return SimpleNamespace(settings=SimpleNamespace(warehouse=wh, community_id=None), defs=defs, server=server,
                           client=FakeClient(server))


def push(env: SimpleNamespace, name: str, dry_run: bool = False) -> PushResult:
    return run_push(name, env.settings, dry_run, client=env.client, waiting=FAST, definitions_dir=env.defs)


def rows(env: SimpleNamespace, sql: str) -> list[tuple]:
    con = duckdb.connect(str(env.settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_second_run_sends_nothing(env: SimpleNamespace) -> None:
    first = push(env, "bonus")
    assert (first.state, first.total, first.invalid, first.sent, first.success) == ("completed", 3, 1, 2, 2)
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]
    second = push(env, "bonus")
    assert (second.state, second.sent, second.unchanged) == ("no_changes", 0, 2)
    assert env.server.uploads == 1
    assert rows(env, "SELECT result, count(*) FROM reverse_etl.push_rows GROUP BY 1 ORDER BY 1") == [
        ("invalid", 2), ("success", 2)]
    assert rows(env, "SELECT status, count(*) FROM reverse_etl.push_ledger GROUP BY 1") == [("applied", 2)]


def test_overwrites_only_changed_values(env: SimpleNamespace) -> None:
    assert push(env, "cities").sent == 4
    con = duckdb.connect(str(env.settings.warehouse))
    con.execute("UPDATE returning_raw.users SET city = 'Oslo' WHERE email = 'bob@example.com'")
    con.close()
    again = push(env, "cities")
    assert (again.sent, again.unchanged) == (1, 3)
    assert env.server.users["bob@example.com"]["city"] == "Oslo"


def test_dry_run_writes_csv_and_sends_nothing(env: SimpleNamespace) -> None:
    result = push(env, "bonus", dry_run=True)
    assert (result.state, result.total, result.changed, result.invalid, result.would_send) == ("dry_run", 3, 2, 1, 2)
    assert result.csv_path.read_bytes() == (
        b"email,coins_op,coins\r\nann@example.com,add,10\r\ncy@example.com,add,10\r\n")
    assert env.server.uploads == 0 and env.server.jobs == []


def test_lost_response_is_reconciled_not_resent(env: SimpleNamespace) -> None:
    env.server.lose_next_response = True
    result = push(env, "bonus")
    assert (result.state, result.success) == ("completed", 2)
    assert push(env, "bonus").sent == 0
    assert env.server.uploads == 1
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]


def test_request_lost_before_server_is_sent_by_the_next_run(env: SimpleNamespace) -> None:
    env.server.drop_next_request = True
    assert push(env, "bonus").state == "not_received"
    assert env.server.uploads == 0
    again = push(env, "bonus")
    assert (again.state, again.sent) == ("completed", 2)
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]


def test_crash_after_upload_is_settled_by_next_run(env: SimpleNamespace, monkeypatch) -> None:
    def crash(stage: str) -> None:
        if stage == "after_job_recorded":
            raise SystemExit("killed")
    monkeypatch.setattr(steps, "checkpoint", crash)
    with pytest.raises(SystemExit):
        push(env, "bonus")
    monkeypatch.undo()
    assert rows(env, "SELECT state, job_id IS NULL FROM reverse_etl.pushes") == [("queued", False)]
    again = push(env, "bonus")
    assert again.resumed[0]["state"] == "completed" and again.sent == 0
    assert env.server.uploads == 1
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]


def test_crash_before_job_id_recorded_finds_job_by_file_name(env: SimpleNamespace, monkeypatch) -> None:
    env.server.return_job_id = False
    original = jobs.find_job_patiently
    monkeypatch.setattr(jobs, "find_job_patiently", lambda *a, **k: (_ for _ in ()).throw(SystemExit()))
    with pytest.raises(SystemExit):
        push(env, "bonus")
    monkeypatch.setattr(jobs, "find_job_patiently", original)
    assert rows(env, "SELECT state FROM reverse_etl.pushes") == [("uploading",)]
    again = push(env, "bonus")
    assert again.resumed[0]["state"] == "completed" and again.sent == 0
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]


def test_row_errors_are_retried_then_given_up(env: SimpleNamespace) -> None:
    env.server.fail_emails = {"cy@example.com"}
    first = push(env, "bonus")  # retries: 1 -> two attempts in all
    assert (first.state, first.success, first.failed, first.given_up) == ("completed_with_errors", 1, 1, 0)
    second = push(env, "bonus")
    assert (second.sent, second.retried, second.failed, second.given_up) == (1, 1, 1, 1)
    third = push(env, "bonus")
    assert (third.sent, third.given_up) == (0, 1)
    assert env.server.uploads == 2
    assert rows(env, "SELECT status, attempts, last_error FROM reverse_etl.push_ledger "
                     "WHERE email = 'cy@example.com'") == [("given_up", 2, "rejected")]


def test_job_timeout_leaves_it_pending_for_the_next_run(env: SimpleNamespace) -> None:
    env.server.polls_before_done = 10**6
    first = run_push("bonus", env.settings, client=env.client, definitions_dir=env.defs,
                     waiting=Waiting(timeout=0.05, first=0.01))
    assert first.state == "pending"
    blocked = run_push("bonus", env.settings, client=env.client, definitions_dir=env.defs,
                       waiting=Waiting(timeout=0.05, first=0.01))
    assert blocked.state == "blocked" and env.server.uploads == 1
    env.server.polls_before_done = 0
    third = push(env, "bonus")
    assert third.resumed[0]["state"] == "completed" and third.sent == 0
    assert env.server.uploads == 1


def test_key_without_bulk_permission_fails_before_upload(env: SimpleNamespace) -> None:
    env.server.allow_bulk = False
    with pytest.raises(PermissionDenied) as info:
        push(env, "bonus")
    assert info.value.exit_code == 3 and "bulkUpdateUser" in str(info.value)
    assert env.server.uploads == 0


def test_formula_like_text_is_a_warning_and_neutralised_in_the_preview(env: SimpleNamespace) -> None:
    con = duckdb.connect(str(env.settings.warehouse))
    con.execute("UPDATE returning_raw.users SET city = '=cmd|'' /C calc''!A0' WHERE email = 'bob@example.com'")
    con.close()
    result = push(env, "cities")
    assert result.state == "completed" and len(result.warnings) == 1 and "bob@example.com" in result.warnings[0]
    assert env.server.users["bob@example.com"]["city"] == "=cmd|' /C calc'!A0"
    assert b"bob@example.com,'=cmd|' /C calc'!A0" in result.preview_path.read_bytes()
    assert rows(env, "SELECT warning FROM reverse_etl.push_rows WHERE email = 'bob@example.com'") == [
        ("formula-like text",)]


def test_stale_and_rejection_measures(env: SimpleNamespace) -> None:
    from assets.reverse_etl import rejection_rate
    from reverse_etl.ledger import stale_pushes
    from warehouse.connection import connect
    from warehouse.location import WarehouseLocation

    env.server.polls_before_done = 10**6
    run_push("bonus", env.settings, client=env.client, definitions_dir=env.defs, waiting=Waiting(timeout=0.01))
    con = connect(WarehouseLocation(path=env.settings.warehouse))
    try:
        assert stale_pushes(con, "bonus", 60) == []
        con.execute("UPDATE reverse_etl.pushes SET created_at = created_at - INTERVAL 2 HOUR")
        assert [p["state"] for p in stale_pushes(con, "bonus", 60)] == ["processing"]
    finally:
        con.close()
    assert rejection_rate({"invalid_rows": 1, "failed_rows": 1, "skipped_rows": 0, "sent_rows": 3}) == 0.5
    assert rejection_rate({"invalid_rows": 0, "failed_rows": None, "skipped_rows": None, "sent_rows": 0}) == 0.0


def test_unreadable_success_answer_is_reconciled_not_resent(env: SimpleNamespace) -> None:
    env.server.garble_next_response = True
    assert push(env, "bonus").state == "completed"
    assert push(env, "bonus").sent == 0
    assert env.server.uploads == 1


def test_upload_owned_by_a_live_process_is_not_released(env: SimpleNamespace, monkeypatch) -> None:
    """Another process recorded an upload and is still sending it: wait, never plan its keys again."""
    import os
    import subprocess
    import sys

    monkeypatch.setattr(steps, "checkpoint",
                        lambda stage: (_ for _ in ()).throw(SystemExit()) if stage == "before_upload" else None)
    with pytest.raises(SystemExit):
        push(env, "bonus")
    monkeypatch.undo()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        con = duckdb.connect(str(env.settings.warehouse))
        con.execute("UPDATE reverse_etl.pushes SET owner = ?", [f"{socket.gethostname()}:{sleeper.pid}"])
        con.close()
        blocked = push(env, "bonus")
        assert blocked.state == "blocked" and env.server.uploads == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os.getpid() != sleeper.pid
    settled = push(env, "bonus")
    assert [r["state"] for r in settled.resumed] == ["not_received"] and settled.sent == 2
    assert [u["coins"] for u in env.server.users.values()] == [10, 0, 10, 0]


def test_mixed_row_resends_overwrite_with_a_zero_delta(env: SimpleNamespace) -> None:
    (env.defs / "mixed.sql").write_text(
        "-- columns: coins=add, city\n-- period: week\n"
        "SELECT email, 10 AS coins, city, 'w1' AS week FROM returning_raw.users WHERE email LIKE '%@%' ORDER BY email\n")
    assert push(env, "mixed").success == 4
    con = duckdb.connect(str(env.settings.warehouse))
    con.execute("UPDATE returning_raw.users SET city = 'Oslo' WHERE email = 'bob@example.com'")
    con.close()
    again = push(env, "mixed")
    assert (again.sent, again.unchanged) == (1, 3)
    assert again.csv_path.read_bytes() == b"email,coins_op,coins,city\r\nbob@example.com,add,0,Oslo\r\n"
    assert env.server.users["bob@example.com"] == {"coins": 10, "city": "Oslo"}
    assert rows(env, "SELECT kind, status, applied_values FROM reverse_etl.push_ledger "
                     "WHERE email = 'bob@example.com' ORDER BY kind") == [
        ("delta", "applied", '{"coins": "10"}'), ("overwrite", "applied", '{"city": "Oslo"}')]


def test_sql_on_missing_tables_is_a_clear_configuration_error(env: SimpleNamespace) -> None:
    (env.defs / "broken.sql").write_text("-- columns: city\nSELECT email, city FROM analytics.nowhere\n")
    with pytest.raises(QueryError, match="broken.sql.*nowhere") as info:
        push(env, "broken", dry_run=True)
    assert info.value.exit_code == 2
