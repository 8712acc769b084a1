"""A count summed over per-member calls (pipelines/completeness.py): each member counted once, the
held rows those of the members read, asked in batches of members on a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipelines.completeness as completeness
from pipelines.completeness import NOT_HELD, Count, Counts, Row, measure
from warehouse.connection import connect
from warehouse.location import WarehouseLocation


def member_count(email: str, total: int) -> Count:
    return Count("minigame_logs", "created_at in [start, now), the members read", total, member_column="email",
                 members={email})


def test_members_are_counted_once_and_held_rows_asked_in_batches(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(completeness, "MEMBERS_PER_QUERY", 2)
    counts = Counts()
    for email, total in (("a@x", 2), ("b@x", 1), ("c@x", 3), ("a@x", 2), ("d@x", 0), ("e@x", 1)):
        counts.add(member_count(email, total))
    [count] = counts.all()
    assert (count.server_count, count.members) == (7, {"a@x", "b@x", "c@x", "d@x", "e@x"})
    with connect(WarehouseLocation(destination="duckdb", path=tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA returning_raw")
        con.execute("CREATE TABLE returning_raw.minigame_logs (email TEXT)")
        # c@x's third play is missing; z@x was not read this run and is not counted
        for email in ("a@x", "a@x", "b@x", "c@x", "c@x", "e@x", "z@x", "z@x"):
            con.execute("INSERT INTO returning_raw.minigame_logs VALUES (?)", [email])
        assert measure(con, counts.all(), "L1", "returning_raw") == [
            Row("minigame_logs", "created_at in [start, now), the members read", 7, 6, 1, NOT_HELD, "L1")]
