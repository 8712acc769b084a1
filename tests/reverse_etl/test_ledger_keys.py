"""The ledger's keys on every warehouse: claims are exclusive, settling is conditional."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reverse_etl import ledger
from reverse_etl.ledger import ClaimTaken, PlannedKey, PlannedRow
from reverse_etl.schema import ensure_schema
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
        ensure_schema(c)
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
                ensure_schema(c)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with connect(location) as c:
        ensure_schema(c)
        assert sorted(c.tables("reverse_etl")) == ["push_claims", "push_ledger", "push_rows", "pushes"]


@POSTGRES_ONLY
def test_two_recorders_at_once_on_postgres_record_once(location: WarehouseLocation, con: Connection) -> None:
    """One process holds the push's row; the other waits for it, then finds it settled."""
    open_push(con)
    results = {1: ("success", None), 2: ("failed", "unknown email")}
    other = connect(location)
    other.begin()
    assert ledger.take_open(other, "p1")
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
