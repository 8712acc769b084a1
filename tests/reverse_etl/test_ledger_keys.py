"""The ledger's keys on every warehouse: claims are exclusive, settling is conditional, old files migrate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from reverse_etl import ledger
from reverse_etl.ledger import ClaimTaken, PlannedKey, PlannedRow
from warehouse.connection import Connection, WarehouseConflict, connect
from warehouse.location import WarehouseLocation

JOB = {"status": "completed_with_errors"}
POSTGRES_ONLY = pytest.mark.parametrize("location", ["postgres"], indirect=True)


@pytest.fixture(params=["duckdb", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseLocation:
    if request.param == "postgres":
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("pg_url"))
    return WarehouseLocation(destination=request.param, path=tmp_path / "wh.duckdb")


@pytest.fixture()
def con(location: WarehouseLocation) -> Iterator[Connection]:
    with connect(location) as c:
        ledger.ensure_schema(c)
        yield c


def planned(n: int = 2) -> list[PlannedRow]:
    keys = [PlannedKey(f"d|u{i}@x.io|w1", "delta", f"u{i}@x.io", "w1", {"coins": "5"}) for i in range(n)]
    return [PlannedRow(i + 1, k.email, "w1", {"coins": 5}, [k], "pending") for i, k in enumerate(keys)] + [
        PlannedRow(None, "bad", "w1", {}, [], "invalid", "no email"),
        PlannedRow(None, "worse", "w1", {}, [], "invalid", "no email")]


def open_push(con: Connection, push_id: str = "p1", rows: list[PlannedRow] | None = None) -> None:
    with con.transaction():
        ledger.claim(con, "d", push_id, "here:1")
        entries = ledger.load_entries(con, "d")
        ledger.record_push(con, {"push_id": push_id, "definition": "d", "state": "uploading", "sent_rows": 2},
                           rows if rows is not None else planned(), "d", entries)


def test_the_tables_have_their_keys(con: Connection) -> None:
    open_push(con)
    for sql, params in [
        ("INSERT INTO reverse_etl.pushes (push_id) VALUES (?)", ["p1"]),
        ("INSERT INTO reverse_etl.push_ledger (push_key) VALUES (?)", ["d|u0@x.io|w1"]),
        ("INSERT INTO reverse_etl.push_rows (push_id, row_number) VALUES (?, ?)", ["p1", 1]),
        ("INSERT INTO reverse_etl.push_claims (definition, push_id) VALUES (?, ?)", ["d", "p2"]),
    ]:
        with pytest.raises(WarehouseConflict):
            con.execute(sql, params)
    assert con.fetchall("SELECT count(*) FROM reverse_etl.push_rows WHERE row_number IS NULL") == [(2,)]


def test_a_claim_is_exclusive_until_its_push_is_settled(con: Connection) -> None:
    open_push(con)
    with pytest.raises(ClaimTaken), con.transaction():
        ledger.claim(con, "d", "p2", "there:2")
    assert con.fetchall("SELECT push_id FROM reverse_etl.pushes") == [("p1",)]  # the loser left nothing
    counts = ledger.record_results(con, "p1", {1: ("success", None), 2: ("failed", "unknown email")}, 2, JOB)
    assert counts == {"success_rows": 1, "failed_rows": 1, "skipped_rows": 0, "given_up_rows": 0}
    assert con.fetchall("SELECT count(*) FROM reverse_etl.push_claims") == [(0,)]
    with con.transaction():
        ledger.claim(con, "d", "p2", "there:2")
    assert con.fetchall("SELECT push_id FROM reverse_etl.push_claims") == [("p2",)]


def test_settling_a_push_twice_changes_nothing_the_second_time(con: Connection) -> None:
    open_push(con)
    results = {1: ("success", None), 2: ("failed", "unknown email")}
    first = ledger.record_results(con, "p1", results, 0, JOB)
    again = ledger.record_results(con, "p1", results, 0, JOB)
    assert again == first == {"success_rows": 1, "failed_rows": 1, "skipped_rows": 0, "given_up_rows": 1}
    assert ledger.release_push(con, "p1", "late") is False
    assert con.fetchall("SELECT status, attempts FROM reverse_etl.push_ledger ORDER BY push_key") == [
        ("applied", 0), ("given_up", 1)]
    assert con.fetchall("SELECT state, given_up_rows FROM reverse_etl.pushes") == [("completed_with_errors", 1)]
    ledger.update_push(con, "p1", state="queued", job_id="late")  # a slow owner's update: ignored
    assert con.fetchall("SELECT state, job_id FROM reverse_etl.pushes") == [("completed_with_errors", None)]


def test_a_run_with_nothing_to_send_ends_its_claim(con: Connection) -> None:
    with con.transaction():
        ledger.claim(con, "d", "p0", "here:1")
        ledger.record_push(con, {"push_id": "p0", "definition": "d", "state": "no_changes"}, [], "d", {})
    assert con.fetchall("SELECT count(*) FROM reverse_etl.push_claims") == [(0,)]


def test_an_orphan_claim_is_dropped(con: Connection) -> None:
    con.execute("INSERT INTO reverse_etl.push_claims (definition, push_id) VALUES ('d', 'gone')")
    assert ledger.drop_orphan_claim(con, "d") is True
    open_push(con)
    assert ledger.drop_orphan_claim(con, "d") is False


@POSTGRES_ONLY  # DuckDB: one writing process at a time
def test_ensure_schema_at_once_on_a_server(location: WarehouseLocation) -> None:
    errors: list[BaseException] = []

    def ensure() -> None:
        try:
            with connect(location) as c:
                ledger.ensure_schema(c)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(location) as c:
        ledger.ensure_schema(c)
        assert sorted(c.tables("reverse_etl")) == ["push_claims", "push_ledger", "push_rows", "pushes"]


@POSTGRES_ONLY
def test_two_recorders_at_once_on_postgres_record_once(location: WarehouseLocation, con: Connection) -> None:
    """One process holds the push's row; the other waits for it, then finds it settled."""
    open_push(con)
    results = {1: ("success", None), 2: ("failed", "unknown email")}
    other = connect(location)
    other.begin()
    assert ledger._take_open(other, "p1")
    done: list[dict[str, int]] = []
    waiter = threading.Thread(target=lambda: done.append(ledger.record_results(con, "p1", results, 0, JOB)))
    waiter.start()
    time.sleep(0.5)
    assert done == [] and waiter.is_alive()  # waiting on the row lock
    other.execute("UPDATE reverse_etl.pushes SET state = 'completed', success_rows = 7 WHERE push_id = 'p1'")
    other.commit()
    other.close()
    waiter.join(timeout=10)
    assert done == [{"success_rows": 7, "failed_rows": 0, "skipped_rows": 0, "given_up_rows": 0}]
    assert con.fetchall("SELECT status, count(*) FROM reverse_etl.push_ledger GROUP BY 1") == [("in_flight", 2)]


OLD_DDL = """
CREATE SCHEMA reverse_etl;
CREATE TABLE reverse_etl.pushes (
    push_id VARCHAR, definition VARCHAR, target VARCHAR, file_name VARCHAR, csv_path VARCHAR,
    state VARCHAR, job_id VARCHAR, job_status VARCHAR,
    total_rows INTEGER, invalid_rows INTEGER, changed_rows INTEGER, sent_rows INTEGER,
    success_rows INTEGER, failed_rows INTEGER, skipped_rows INTEGER, given_up_rows INTEGER,
    warnings INTEGER, error VARCHAR,
    created_at TIMESTAMP, uploaded_at TIMESTAMP, finished_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE reverse_etl.push_rows (
    push_id VARCHAR, definition VARCHAR, row_number INTEGER, email VARCHAR, period VARCHAR,
    push_keys VARCHAR, values_json VARCHAR, result VARCHAR, error VARCHAR, warning VARCHAR,
    attempt INTEGER, updated_at TIMESTAMP
);
CREATE TABLE reverse_etl.push_ledger (
    push_key VARCHAR, definition VARCHAR, email VARCHAR, period VARCHAR, kind VARCHAR,
    status VARCHAR, applied_values VARCHAR, attempt_values VARCHAR, attempts INTEGER,
    last_push_id VARCHAR, last_error VARCHAR, updated_at TIMESTAMP
);
INSERT INTO reverse_etl.pushes (push_id, definition, state, created_at, updated_at) VALUES
    ('old1', 'd', 'completed', TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01'),
    ('old2', 'd', 'queued', TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-02');
INSERT INTO reverse_etl.push_rows (push_id, row_number, result) VALUES
    ('old1', 1, 'success'), ('old1', NULL, 'invalid'), ('old1', NULL, 'invalid'), ('old2', 1, 'pending');
INSERT INTO reverse_etl.push_ledger (push_key, definition, status, updated_at) VALUES
    ('d|a@x.io|w1', 'd', 'applied', TIMESTAMP '2024-01-01'), ('d|b@x.io|w1', 'd', 'in_flight', TIMESTAMP '2024-01-02');
"""


def test_a_ledger_from_before_the_keys_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    raw = duckdb.connect(str(path))
    raw.execute(OLD_DDL)
    raw.close()
    with connect(WarehouseLocation(path=path)) as c:
        ledger.ensure_schema(c)
        assert c.fetchall("SELECT push_id, state, owner FROM reverse_etl.pushes ORDER BY 1") == [
            ("old1", "completed", None), ("old2", "queued", None)]
        assert c.fetchall("SELECT count(*) FROM reverse_etl.push_rows") == [(4,)]
        assert c.fetchall("SELECT status FROM reverse_etl.push_ledger ORDER BY push_key") == [("applied",), ("in_flight",)]
        assert c.fetchall("SELECT definition, push_id FROM reverse_etl.push_claims") == [("d", "old2")]
        with pytest.raises(WarehouseConflict):
            c.execute("INSERT INTO reverse_etl.push_ledger (push_key) VALUES ('d|a@x.io|w1')")
        with pytest.raises(ClaimTaken), c.transaction():  # its open upload is settled first
            ledger.claim(c, "d", "new", "here:1")
        ledger.ensure_schema(c)  # a second time: nothing to do
        assert [p["push_id"] for p in ledger.open_pushes(c, "d")] == ["old2"]
