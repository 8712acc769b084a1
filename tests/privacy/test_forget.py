"""`returning-sync forget`: after it, the member's address is found nowhere this tool writes (every text
column of every table, every file under the warehouse folder, dlt's working folder, the webhook
landing folder), and found everywhere before; later syncs never bring them back, and every other
member still equals the truth. On DuckDB and on Postgres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.privacy import Policy, member_hash
from pipelines.tables import RESOURCES
from returning_sync.cli import main
from tests.pipelines.truth import compare
from tests.privacy.scan import scan_files, scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation
from warehouse.share import share_path
from webhooks import segments

# what the policy hashes, erases and keeps holds at any size: a small community keeps the syncs cheap
pytestmark = pytest.mark.sim_users(100)


@pytest.fixture()
def landing(api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = Path(api_env["RETURNING_WAREHOUSE"]).parent / "landing" / "webhooks"
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(folder))
    return folder


def land_event(folder: Path, event: dict[str, Any], name: str) -> None:
    """A sealed segment as the receiver writes it (one delivery per line), not yet loaded."""
    payload = json.dumps(event).encode()
    (folder / f"{name}.jsonl").write_bytes(segments.line(payload, segments.stamp()))


def pick_member(settings: Settings) -> tuple[str, str]:
    """A member who is in a push and wrote messages."""
    with connect(settings.location, read_only=True) as con:
        row = con.fetchone(
            "SELECT u._id, u.email FROM returning_raw.users AS u "
            "JOIN reverse_etl.push_rows AS p ON p.email = u.email "
            "WHERE EXISTS (SELECT 1 FROM returning_raw.messages AS m WHERE m.user__user_id = u._id) "
            "AND EXISTS (SELECT 1 FROM returning_raw.gamification_logs AS g WHERE g.user_id = u._id) "
            "ORDER BY u._id LIMIT 1")
    assert row is not None
    return str(row[0]), str(row[1])


def everywhere(settings: Settings, landing: Path, needle: str) -> tuple[dict[str, int], list[str]]:
    folder = settings.location.file.parent
    with connect(settings.location, read_only=True) as con:
        tables = scan_tables(con, needle)
    files = scan_files([folder, settings.location.workdir, landing], needle)
    return tables, sorted(set(files))


def test_forget_leaves_no_trace_and_later_syncs_keep_the_member_out(
        destination: str, sim: SimAdmin, api_env: dict[str, str], landing: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync"]) == 0
    assert main(["models"]) == 0
    assert main(["push", "loyalty_points"]) == 0
    assert main(["share"]) == 0
    settings = Settings.from_env()
    user_id, email = pick_member(settings)
    other_email = next(u["email"] for u in sim.truth_rows("users") if u["email"] != email)
    land_event(landing, {"id": "evt-erase-1", "event": "member.updated", "data": {"email": email, "id": user_id}}, "a")
    land_event(landing, {"id": "evt-keep-1", "event": "member.updated", "data": {"email": other_email}}, "b")
    with connect(settings.location, read_only=True) as con:
        messages = con.fetchone("SELECT count(*) FROM returning_raw.messages")
        ledger = con.fetchone("SELECT count(*), count(DISTINCT push_key) FROM reverse_etl.push_ledger")
    tables, files = everywhere(settings, landing, email)
    for place in ("returning_raw.users.email", "returning_raw.messages.user__email",
                  "reverse_etl.push_rows.email", "reverse_etl.push_ledger.push_key", "analytics.dim_users.email"):
        assert tables.get(place, 0) >= 1, (place, tables)
    assert any("/out/pushes/" in f for f in files) and any(str(landing) in f for f in files)
    assert any("/.dlt/" in f for f in files), files
    capsys.readouterr()

    assert main(["forget", "--email", email.upper(), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "would change" in dry and "returning_raw.users: 1 deleted" in dry and email not in dry
    assert "returning_raw.messages: 0 deleted" in dry
    assert everywhere(settings, landing, email) == (tables, files)  # a dry run changes nothing

    assert main(["forget", "--email", email]) == 0
    out = capsys.readouterr().out
    assert email not in out and "recorded in returning_private.erasures" in out
    assert everywhere(settings, landing, email) == ({}, [])
    assert everywhere(settings, landing, user_id) == ({}, [])
    if destination == "duckdb":  # the analysts' share file was rebuilt without them
        share = WarehouseLocation(destination="duckdb", path=share_path(settings.location.file))
        with connect(share, read_only=True) as con:
            assert con.fetchone("SELECT count(*) FROM analytics_share.dim_users")[0] > 0
            assert scan_tables(con, user_id) == {}
    policy = Policy.from_env()
    with connect(settings.location, read_only=True) as con:
        assert con.fetchone("SELECT count(*) FROM returning_raw.messages") == messages  # text kept
        assert con.fetchone("SELECT count(*) FROM returning_raw.messages WHERE user__user_id = ?",
                            [member_hash(policy, user_id)])[0] >= 1  # author: the hash
        assert con.fetchone("SELECT count(*), count(DISTINCT push_key) FROM reverse_etl.push_ledger") == ledger
        audit = con.dicts("SELECT member_hash, email_hash, reason, counts FROM returning_private.erasures")
    assert [(a["member_hash"], a["email_hash"], a["reason"]) for a in audit] == [
        (member_hash(policy, user_id), member_hash(policy, email), "forget")]
    counts = json.loads(audit[0]["counts"])
    assert counts["returning_raw.users"] == {"deleted": 1, "anonymised": 0}
    assert counts["webhook landing folder"]["lines_removed"] == 1
    assert other_email in (landing / "b.jsonl").read_text()

    # a push after the forget re-sends nothing and applies nothing twice; the member's keys stay claimed
    sim.reset_counters()
    assert main(["push", "loyalty_points"]) == 0
    assert sim.counters()["by_endpoint"].get("POST /apis/v1/users/bulk-update", 0) == 0
    with connect(settings.location, read_only=True) as con:
        assert con.fetchone("SELECT count(*), count(DISTINCT push_key) FROM reverse_etl.push_ledger") == ledger
        assert con.fetchone("SELECT count(*) FROM reverse_etl.push_ledger WHERE push_key LIKE ?",
                            [f"%{member_hash(policy, email)}%"]) == (1,)

    # two more syncs, one a day later: the member stays gone, everyone else equals the truth
    assert main(["sync"]) == 0
    sim.advance(24)
    assert main(["sync"]) == 0
    tables_after, files_after = everywhere(settings, landing, email)
    assert (tables_after, files_after) == ({}, [])
    assert everywhere(settings, landing, user_id)[0] == {}
    author = member_hash(policy, user_id)
    with connect(settings.location, read_only=True) as con:
        # members the platform deleted meanwhile stay as tombstones with their history (as without forget)
        gone = [r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users WHERE is_deleted")]
        problems: list[str] = []
        for dataset in RESOURCES:
            truth = [r for r in sim.truth_rows(dataset) if user_id not in json.dumps(r) and email not in json.dumps(r)]
            member = {"users": "_id", "gamification_daily": "user_id", "activity_stats": "user_id",
                      "user_game_stats": "user_id", "minigame_logs": "user_id"}.get(dataset)
            where = f"WHERE {member} NOT IN ({', '.join(repr(g) for g in gone) or 'NULL'})" if member and gone else ""
            if member and member != "_id":  # fan-outs ask only for live members
                truth = [r for r in truth if r.get(member) not in gone]
            if dataset == "messages":  # the member's earlier messages stay, their author anonymised
                where = f"WHERE user__user_id <> '{author}'"
            if dataset == "webhook_events":  # the event landed by hand above
                where = "WHERE id <> 'evt-keep-1'"
            problems += compare(con, dataset, truth, where=where,
                                ignore=("deleted_at",) if dataset == "users" else ())
    assert problems == [], "\n".join(problems)


def test_forget_needs_a_known_member_or_says_nothing_found(api_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forget", "--email", "nobody@example.com"]) == 2
    assert "no warehouse" in capsys.readouterr().err
