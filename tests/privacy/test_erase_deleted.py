"""`privacy.erase_deleted_after_days`: members the platform deleted that long ago are forgotten as part
of the sync (tombstones and history gone, one audit row each); off by default; younger ones stay."""

from __future__ import annotations

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.privacy.scan import scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect

DAYS = "SOURCES__RETURNING_AI__PRIVACY__ERASE_DELETED_AFTER_DAYS"
# what it checks holds at any size: 100 members lose two in the simulated day
pytestmark = pytest.mark.sim_users(100)


def synced_a_day_later(sim: SimAdmin) -> tuple[Settings, set[str], int]:
    settings = Settings.from_env()
    run_sync(settings)
    with connect(settings.location, read_only=True) as con:
        before = {r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users")}
    sim.advance(24)
    live = {u["_id"] for u in sim.truth_rows("users")}
    result = run_sync(settings)
    deleted = before - live
    assert deleted, "the simulated day deleted nobody"
    return settings, deleted, result.erased


def test_deleted_members_are_forgotten_by_the_sync(sim: SimAdmin, api_env: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DAYS, "0")
    settings, deleted, erased = synced_a_day_later(sim)
    assert erased == len(deleted)
    with connect(settings.location, read_only=True) as con:
        assert con.fetchone("SELECT count(*) FROM returning_raw.users WHERE is_deleted") == (0,)
        for user_id in deleted:
            assert scan_tables(con, user_id) == {}
        assert con.fetchall("SELECT reason, count(*) FROM returning_private.erasures GROUP BY 1") == [
            ("deleted over 0 days ago", len(deleted))]
    assert run_sync(settings).erased == 0  # once each


@pytest.mark.parametrize("days", [None, "30"])
def test_younger_deletions_and_the_default_keep_tombstones(sim: SimAdmin, api_env: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch, days: str | None) -> None:
    if days is None:
        monkeypatch.delenv(DAYS, raising=False)
    else:
        monkeypatch.setenv(DAYS, days)
    settings, deleted, erased = synced_a_day_later(sim)
    assert erased == 0
    with connect(settings.location, read_only=True) as con:
        flagged = {r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users WHERE is_deleted")}
        assert flagged == deleted
        assert not con.table_exists("returning_private", "erasures")
