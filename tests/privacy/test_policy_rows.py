"""The policy on rows as the resources yield them (Arrow tables and Python rows): hash, drop, text that
quotes PII, erased members left out, already-hashed values kept; and `drop` end to end: no address
lands, and the fan-outs that call the API by address still read everything."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipelines.config import Settings
from pipelines.privacy import Policy, Privacy, member_hash
from pipelines.sync import run_sync
from tests.simadmin import SimAdmin
from warehouse.connection import connect

KEY = "rows-test-key-0123456789abcdef"


def test_arrow_users_hashed_and_remembered_for_member_keys() -> None:
    privacy = Privacy(Policy(pii="hash", hmac_key=KEY), erased=())
    policy = privacy.policy
    page = pa.table({"_id": ["u1", "u2"], "email": ["a@x.io", None], "first_name": ["Ann", "Bo"], "xp": [1, 2]})
    out = privacy.transform("users", page)
    assert out.column("email").to_pylist() == [policy.digest("a@x.io"), None]
    assert out.column("first_name").to_pylist() == [policy.digest("Ann"), policy.digest("Bo")]
    assert out.column("xp").to_pylist() == [1, 2]
    assert privacy.keys == {policy.digest("a@x.io"): ("a@x.io", "u1")}
    assert privacy.transform("users", out).column("email").to_pylist() == out.column("email").to_pylist()  # a tombstone
    assert privacy.reveal(out).column("email").to_pylist() == ["a@x.io", None]


def test_drop_empties_the_column_and_the_fan_outs_still_get_the_address() -> None:
    privacy = Privacy(Policy(pii="drop"), erased=())
    out = privacy.transform("users", pa.table({"_id": ["u1"], "email": ["a@x.io"], "username": ["ann"]}))
    assert out.column("email").to_pylist() == [None] and out.column("username").to_pylist() == [None]
    assert privacy.reveal(out).column("email").to_pylist() == ["a@x.io"]
    rows = privacy.transform("redemption_orders", [{"transactionId": "t1", "email": "a@x.io", "userId": "u1"}])
    assert rows == [{"transactionId": "t1", "userId": "u1"}]


def test_event_text_quoting_pii_is_scrubbed() -> None:
    privacy = Privacy(Policy(pii="hash", hmac_key=KEY), erased=())
    payload = json.dumps({"event": "member.updated", "data": {"email": "a@x.io", "id": "u1"}})
    out = privacy.transform("webhook_events", pa.table({"id": ["e1"], "member_id": ["u1"], "member_email": ["a@x.io"],
                                                        "payload": [payload]}))
    digest = privacy.policy.digest("a@x.io")
    assert out.column("member_email").to_pylist() == [digest]
    assert json.loads(out.column("payload")[0].as_py())["data"] == {"email": digest, "id": "u1"}


@pytest.mark.parametrize("pii", ["keep", "hash"])
def test_erased_members_are_left_out_by_id_or_address(pii: str) -> None:
    policy = Policy(pii=pii, hmac_key=KEY)
    privacy = Privacy(policy, erased={member_hash(policy, "u1"), member_hash(policy, "b@x.io")})
    page = pa.table({"_id": ["u1", "u2", "u3"], "email": ["a@x.io", "B@x.io", "c@x.io"]})
    assert privacy.transform("users", page).column("_id").to_pylist() == ["u3"]
    logs = [{"_id": "l1", "user_id": "u9", "identifier": "b@x.io"}, {"_id": "l2", "user_id": "u3", "identifier": "c@x.io"}]
    assert [r["_id"] for r in privacy.transform("gamification_logs", logs)] == ["l2"]
    assert privacy.transform("store_products", [{"_id": "p1", "name": "a@x.io"}]) == [{"_id": "p1", "name": "a@x.io"}]


def test_drop_policy_end_to_end(sim: SimAdmin, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PII", "drop")
    settings = Settings.from_env()
    run_sync(settings, resources=["users", "activity_stats", "gamification_daily", "minigame_logs", "user_game_stats"])
    truth = sim.truth()
    with connect(settings.location, read_only=True) as con:
        assert con.fetchone("SELECT count(*), count(email), count(first_name) FROM returning_raw.users") == (
            truth["users"]["count"], 0, 0)
        for dataset in ("activity_stats", "gamification_daily", "minigame_logs", "user_game_stats"):
            assert con.row_count("returning_raw", dataset) == truth[dataset]["count"], dataset
        assert con.fetchone("SELECT count(email) FROM returning_raw.minigame_logs") == (0,)
        assert not con.table_exists("returning_private", "member_keys")
