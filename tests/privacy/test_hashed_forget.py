"""Hashing and erasure together: personal custom fields are hashed in the users table and in their
histories; `forget` with hashing on finds the member by address, erases them and their `member_keys`
row, and the next sync does not bring either back."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.privacy import Policy
from returning_sync.cli import main
from tests.privacy.scan import scan_files, scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect

KEY = "hashed-forget-key-0123456789abcdef"
# what the policy hashes, erases and keeps holds at any size: a small community keeps the syncs cheap
pytestmark = pytest.mark.sim_users(100)


def test_personal_fields_hashed_and_forget_with_hashing_on(sim: SimAdmin, api_env: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PII", "hash")
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY", KEY)
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PERSONAL_FIELDS", "city,birthday")
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", str(tmp_path / "landing"))
    assert main(["sync"]) == 0 and main(["models"]) == 0
    policy = Policy.from_env()
    settings = Settings.from_env()
    users = {u["_id"]: u for u in sim.truth_rows("users")}
    histories = sim.truth_rows("user_field_histories")
    with connect(settings.location, read_only=True) as con:
        stored = {r[0]: (r[1], r[2], r[3]) for r in con.fetchall("SELECT _id, city, birthday, favourite_game FROM returning_raw.users")}
        for user_id, (city, birthday, game) in stored.items():
            truth = users[user_id]
            assert city == (policy.digest(truth["city"]) if truth.get("city") is not None else None)
            assert birthday == (policy.digest(truth["birthday"]) if truth.get("birthday") is not None else None)
            assert game == truth.get("favourite_game")  # not personal: kept
        got = {r[0]: (r[1], r[2]) for r in con.fetchall("SELECT _id, field, value FROM returning_raw.user_field_histories")}
        for row in histories:
            field, value = got[row["_id"]]
            personal = row["field"] in ("city", "birthday") and row.get("value") is not None
            assert value == (policy.digest(row["value"]) if personal else _text(row.get("value"))), row
        keys = con.fetchone("SELECT count(*) FROM returning_private.member_keys")[0]
    person = next(u for u in users.values() if u.get("email") and u["_id"] in stored)
    email, user_id = person["email"], person["_id"]
    with connect(settings.location, read_only=True) as con:
        assert scan_tables(con, email) == {"returning_private.member_keys.email": 1}
    assert main(["forget", "--email", email.upper()]) == 0  # found whatever the case
    assert main(["sync"]) == 0
    folders = [settings.location.file.parent, settings.location.workdir, tmp_path / "landing"]
    with connect(settings.location, read_only=True) as con:
        assert scan_tables(con, email) == {} and scan_tables(con, user_id) == {}
        assert scan_tables(con, policy.digest(email)) == {}
        assert con.fetchone("SELECT count(*) FROM returning_private.member_keys")[0] == keys - 1
    assert scan_files(folders, email) == [] and scan_files(folders, policy.digest(email)) == []


def _text(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
