"""The PII policy: with hashing on, no address or name reaches the warehouse or dlt's files; the
models hold the same numbers as without it; every shipped push still runs and reaches the real
members (through `returning_private.member_keys`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.declared import PII
from pipelines.privacy import Policy, normal
from pipelines.sync import run_sync
from returning_sync.cli import main
from reverse_etl import list_definitions
from tests.privacy.scan import scan_files, scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation

KEY = "test-hmac-key-0123456789abcdef"
PII_MODEL_COLUMNS = {"email", "first_name", "last_name", "username", "display_name", "identifier", "member_email"}
# what the policy hashes, erases and keeps holds at any size: a small community keeps the syncs cheap
pytestmark = pytest.mark.sim_users(100)


def hashing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PII", "hash")
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY", KEY)


def model_tables(location: WarehouseLocation) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    with connect(location, read_only=True) as con:
        out = {}
        for table in con.tables("analytics"):
            cursor = con.execute(f'SELECT * FROM analytics."{table}"')
            out[table] = (cursor.columns, cursor.fetchall())
        return out


def build(monkeypatch: pytest.MonkeyPatch, path: Path, pg_url: str | None = None) -> WarehouseLocation:
    """A full sync and the models into `path` (DuckDB) or the Postgres database `pg_url`."""
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(path))
    if pg_url:
        monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    assert main(["sync"]) == 0
    assert main(["models"]) == 0
    return WarehouseLocation.from_env()


def test_policy_defaults_keep_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PII", "HMAC_KEY", "COLUMNS", "PERSONAL_FIELDS"):
        monkeypatch.delenv(f"SOURCES__RETURNING_AI__PRIVACY__{name}", raising=False)
    policy = Policy.from_env()
    assert not policy.active
    assert all(policy.action(t, c) == "keep" for t, cs in PII.items() for c in cs)


def test_policy_reads_columns_and_personal_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    hashing_on(monkeypatch)
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__COLUMNS", '{"users.username": "keep", "messages.message": "drop"}')
    monkeypatch.setenv("SOURCES__RETURNING_AI__PRIVACY__PERSONAL_FIELDS", "phone_number")
    policy = Policy.from_env()
    assert policy.table_actions("users") == {"email": "hash", "first_name": "hash", "last_name": "hash",
                                             "display_name": "hash", "phone_number": "hash"}
    assert policy.table_actions("messages") == {"user__email": "hash", "message": "drop"}
    assert policy.action("user_fields", "name") == "keep" and normal("userId") == "user_id"
    assert policy.digest("a@b.c") == policy.digest("a@b.c") != Policy(pii="hash", hmac_key=KEY + "x").digest("a@b.c")


@pytest.mark.parametrize("env, message", [
    ({"PII": "hash"}, "has no key: set hmac_key under [sources.returning_ai.privacy]"),
    ({"PII": "scramble"}, "privacy pii must be keep, hash or drop, got 'scramble'"),
    ({"PII": "hash", "HMAC_KEY": "short"}, "hmac_key must be at least 16 characters"),
    ({"COLUMNS": '{"email": "hash"}'}, "'email' must name table.column"),
])
def test_bad_policy_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str,
                                      capsys: pytest.CaptureFixture[str], api_env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"SOURCES__RETURNING_AI__PRIVACY__{name}", value)
    assert main(["sync", "--resources", "user_fields"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("server", [False, True], ids=["duckdb", "postgres"])
def test_hashed_sync_models_and_pushes_equal_plain_ones(sim: SimAdmin, api_env: dict[str, str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                                                        server: bool) -> None:
    cluster = request.getfixturevalue("pg_cluster") if server else None
    plain = model_tables(build(monkeypatch, tmp_path / "plain" / "returning.duckdb",
                               cluster.create_database() if cluster else None))
    sim.reset()
    hashing_on(monkeypatch)
    location = build(monkeypatch, tmp_path / "hashed" / "returning.duckdb", cluster.create_database() if cluster else None)
    hashed = model_tables(location)
    assert sorted(hashed) == sorted(plain) and len(plain) >= 10
    for table, (columns, rows) in plain.items():
        h_columns, h_rows = hashed[table]
        assert h_columns == columns, table
        differing = {c for i, c in enumerate(columns)
                     if sorted(map(repr, (r[i] for r in rows))) != sorted(map(repr, (r[i] for r in h_rows)))}
        assert differing <= PII_MODEL_COLUMNS, (table, differing)
        keep = [i for i, c in enumerate(columns) if c not in PII_MODEL_COLUMNS]
        assert sorted(repr([r[i] for i in keep]) for r in rows) == \
            sorted(repr([r[i] for i in keep]) for r in h_rows), table
    users = sim.truth_rows("users")
    with connect(location, read_only=True) as con:
        for person in users[:25]:
            assert scan_tables(con, person["email"]) == {"returning_private.member_keys.email": 1}
        keys = con.fetchone("SELECT count(*) FROM returning_private.member_keys")
        assert keys == (sum(1 for u in users if u.get("email")),)
        assert con.fetchone("SELECT count(*) FROM returning_raw.users WHERE first_name = ?",
                            [users[0]["first_name"]]) == (0,)
    workdir = location.pipelines_dir
    assert [p for p in workdir.rglob("*") if p.is_file()], "dlt's working folder holds its packages"
    for person in users[:25]:
        assert scan_files([workdir], person["email"]) == []
    # every shipped push: a dry run, then a real run against the simulator, with real addresses
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(location.path))
    names = [d.name for d in list_definitions()]
    assert len(names) >= 6
    before = {u["email"]: u for u in sim.truth_rows("users")}
    for name in names:
        assert main(["push", name, "--dry-run"]) == 0, name
        assert main(["push", name]) in (0,), name
    after = {u["email"]: u for u in sim.truth_rows("users")}
    assert set(after) == set(before)  # nobody created under a hash
    changed = {e for e in after if after[e] != before[e]}
    assert changed, "the pushes changed real members"
    with connect(location, read_only=True) as con:
        sent = {r[0] for r in con.fetchall("SELECT DISTINCT email FROM reverse_etl.push_rows WHERE email IS NOT NULL")}
    addresses = {k for k in sent if "@" in k}
    assert addresses and addresses <= set(before)  # the members' addresses, never a hash
    assert [k for k in sent if len(k) == 64 and set(k) <= set("0123456789abcdef")] == []


def test_settings_unchanged_by_policy(monkeypatch: pytest.MonkeyPatch, api_env: dict[str, str]) -> None:
    hashing_on(monkeypatch)
    assert KEY not in repr(Settings.from_env()) and KEY not in repr(Policy.from_env())


def test_run_sync_hashes_on_postgres(destination: str, sim: SimAdmin, api_env: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hashing_on(monkeypatch)
    settings = Settings.from_env()
    run_sync(settings, resources=["users", "messages", "channels", "redemption_orders", "webhook_events"])
    person = next(u for u in sim.truth_rows("users") if u.get("email"))
    with connect(settings.location, read_only=True) as con:
        assert scan_tables(con, person["email"]) == {"returning_private.member_keys.email": 1}
        digest = Policy.from_env().digest(person["email"])
        assert con.fetchone("SELECT email, user_id FROM returning_private.member_keys WHERE email_hash = ?",
                            [digest]) == (person["email"], person["_id"])
        assert con.fetchone("SELECT count(*) FROM returning_raw.users WHERE email = ?", [digest]) == (1,)
