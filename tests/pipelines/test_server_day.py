"""The server's day comes from a one-day activity-stats call; a key that may not make it (no
getUserStats) or a server without the endpoint falls back to the UTC date with a warning, and a
sync that never asked for activity stats still succeeds."""

from __future__ import annotations

import logging
import secrets

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.simadmin import SimAdmin
from warehouse.connection import connect

PERMISSIONS = ["getUserData", "userFields", "analytics", "gamification", "store", "redemptions", "purchase-history"]


def test_a_key_without_user_stats_falls_back_to_the_utc_date(sim: SimAdmin, api_env: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    key = secrets.token_hex(32)
    sim.post("/__sim/keys", {"key": key, "permissions": PERMISSIONS})
    monkeypatch.setenv("RETURNING_AI_API_KEY", key)
    with caplog.at_level(logging.WARNING, logger="pipelines.sync"):
        result = run_sync(Settings.from_env(), ["loyalty_overview", "users"])
    assert result.resources["loyalty_overview"].pages >= 1 and result.resources["users"].rows == sim.truth()["users"]["count"]
    assert any("server's day is unknown" in r.getMessage() and "getUserStats" in r.getMessage()
               for r in caplog.records)
    assert key not in caplog.text
    with connect(Settings.from_env().location, read_only=True) as con:
        # the window ends on the UTC date, not the simulated clock's: the table exists, maybe empty
        assert con.table_exists("returning_raw", "loyalty_overview")
