"""Per-row pushes (message, redemption_status, purchase_history) end to end against the simulator: zero
write calls on a dry run, each message posted once however the run ends, HTTP 200 error bodies, lost
answers found through Get Messages, overwrites sent only on change, the voucher rule, a 409 per row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from returning_sync.cli import main
from reverse_etl import run_push
from reverse_etl.rowsend import Pacing
from reverse_etl.steps import FAULT_ENV
from tests.reverse_etl.conftest import build_warehouse, database_from_template, pg_template
from tests.simadmin import FULL_KEY, SimAdmin
from warehouse.connection import connect

SEND = "POST /apis/v1/messages/send"
PUT_STATUS = "PUT /apis/v1/redemption-transactions/status"
PATCH_PURCHASE = "PATCH /v1/purchase-histories/{purchaseHistoryID}"
RESOURCES = ("users", "channels", "redemption_orders", "redemption_statuses", "purchase_histories", "tiers",
             "gamification_logs")
FAST = Pacing(retry=0.05, lookups=(0.0, 0.2))
NO_SEND_KEY = "1111111111111111111111111111111111111111111111111111111111111111"

# five members post a hello to `general` (the test week); five rows the checks refuse
HELLO = """-- target: message
-- period: week
-- description: test: one hello per member, and rows every check refuses
WITH ch AS (SELECT _id, topic, "type" FROM returning_raw.channels),
members AS (
    SELECT email, username, row_number() OVER (ORDER BY email) AS n
    FROM returning_raw.users WHERE NOT coalesce(is_deleted, FALSE)
)
SELECT (SELECT _id FROM ch WHERE topic = 'general') AS channel_id, m.email AS sender,
       'Hello from ' || m.username || ' (row push test)' AS message, '2026-W22' AS week
FROM members AS m WHERE m.n <= 5
UNION ALL SELECT (SELECT _id FROM ch WHERE "type" = 'iframe' ORDER BY _id LIMIT 1), m.email, 'iframe', '2026-W22'
FROM members AS m WHERE m.n = 6
UNION ALL SELECT 'ffffffffffffffffffffffff', m.email, 'unknown channel', '2026-W22' FROM members AS m WHERE m.n = 7
UNION ALL SELECT (SELECT _id FROM ch WHERE topic = 'general'), 'nobody@nowhere.invalid', 'who?', '2026-W22'
UNION ALL SELECT (SELECT _id FROM ch WHERE topic = 'general'), m.email, '   ', '2026-W22' FROM members AS m WHERE m.n = 8
UNION ALL SELECT (SELECT _id FROM ch WHERE topic = 'general'), m.email, repeat('x', 4001), '2026-W22'
FROM members AS m WHERE m.n = 9
"""
HELLO_REASONS = {"iframe channel", "is not in returning_raw.channels", "is not a member's email or username",
                 "the message is empty", "4001 characters"}


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def row_template(sim_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import SIM_SEED, SIM_USERS

    SimAdmin(sim_server, seed=SIM_SEED, users=SIM_USERS).reset()
    path = tmp_path_factory.mktemp("rows") / "returning.duckdb"
    build_warehouse(sim_server, path, resources=RESOURCES, seeds=True)
    return path


@pytest.fixture()
def push_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "my_pushes"
    folder.mkdir()
    monkeypatch.setenv("RETURNING_PUSH_DIR", str(folder))
    return folder


@pytest.fixture()
def row_settings(request: pytest.FixtureRequest, sim: SimAdmin, api_env: dict[str, str], push_dir: Path,
                 monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Settings on a fresh copy of the synced warehouse (DuckDB, or Postgres for `destination` tests)."""
    from pipelines.config import Settings

    name = request.getfixturevalue("destination") if "destination" in request.fixturenames else "duckdb"
    if name == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        url = database_from_template(cluster, pg_template(cluster, sim.base_url, tmp_path_factory.mktemp("pg"),
                                                          RESOURCES, seeds=True))
        api_env["DESTINATION__POSTGRES__CREDENTIALS"] = url
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    else:
        target = Path(api_env["RETURNING_WAREHOUSE"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("row_template"), target)
    sim.reset()
    return Settings.from_env()


def define(push_dir: Path, name: str, sql: str) -> None:
    (push_dir / f"{name}.sql").write_text(sql, encoding="utf-8")


def query(settings: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connect(settings.location, read_only=True) as con:
        return con.fetchall(sql, params or [])


def calls(sim: SimAdmin, endpoint: str) -> int:
    return int(sim.counters()["by_endpoint"].get(endpoint, 0))


def hellos(sim: SimAdmin) -> list[tuple[str, str, str]]:
    """(channel, sender email, text) of every test hello in the truth, in order."""
    return [(m["channel"]["channel_id"], m["user"]["email"], m["message"]) for m in sim.truth_rows("messages")
            if m["message"].endswith("(row push test)")]


def expected_hellos(settings: Any) -> list[tuple[str, str, str]]:
    rows = query(settings, """SELECT c._id, u.email, 'Hello from ' || u.username || ' (row push test)'
        FROM returning_raw.users AS u CROSS JOIN returning_raw.channels AS c
        WHERE c.topic = 'general' AND NOT coalesce(u.is_deleted, FALSE) ORDER BY u.email LIMIT 5""")
    return sorted(tuple(r) for r in rows)


def rows_of(settings: Any, push_id: str) -> list[tuple]:
    return query(settings, "SELECT row_number, email, result, error, warning FROM reverse_etl.push_rows "
                           "WHERE push_id = ? ORDER BY row_number NULLS LAST, error", [push_id])


# -- message --------------------------------------------------------------------------------------

@pytest.mark.usefixtures("destination")
def test_message_definition_in_a_user_folder_dry_runs_without_sending_posts_once_and_then_nothing(
        sim: SimAdmin, row_settings: Any, push_dir: Path) -> None:
    define(push_dir, "hello", HELLO)
    want = expected_hellos(row_settings)
    before = sim.truth()["messages"]["count"]

    dry = run_push("hello", row_settings, dry_run=True)
    assert (dry.total, dry.would_send, dry.invalid) == (10, 5, 5)
    assert sim.counters()["total"] == 0  # a dry run reads the warehouse only
    assert sim.truth()["messages"]["count"] == before

    first = run_push("hello", row_settings, pacing=FAST)
    assert (first.state, first.sent, first.success, first.invalid) == ("completed", 5, 5, 5)
    assert sorted(hellos(sim)) == want  # each once
    assert calls(sim, SEND) == 5
    recorded = rows_of(row_settings, first.push_id)
    assert [r[2] for r in recorded] == ["success"] * 5 + ["invalid"] * 5
    reasons = [r[3] for r in recorded if r[2] == "invalid"]
    assert all(any(part in reason for reason in reasons) for part in HELLO_REASONS), reasons

    sim.reset_counters()
    again = run_push("hello", row_settings, pacing=FAST)
    assert (again.state, again.sent, again.unchanged) == ("no_changes", 0, 5)
    assert calls(sim, SEND) == 0
    assert sorted(hellos(sim)) == want
    assert query(row_settings, "SELECT status, count(*) FROM reverse_etl.push_ledger GROUP BY 1") == [("applied", 5)]
    assert query(row_settings, "SELECT count(*) FROM reverse_etl.push_claims") == [(0,)]


def test_push_list_shows_the_user_folder(row_settings: Any, push_dir: Path, capsys: pytest.CaptureFixture) -> None:
    define(push_dir, "hello", HELLO)
    define(push_dir, "orders_shipped", "-- target: redemption_status\nSELECT 'ORD1' AS transaction_id, "
                                       "'x' AS status_id\n")
    assert main(["push", "--list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "weekly_tier_bonus" in lines and lines["weekly_tier_bonus"].endswith("shipped")
    assert lines["hello"].split()[1] == "message" and lines["hello"].endswith(str(push_dir))
    assert lines["orders_shipped"].endswith(str(push_dir))  # the user's file replaces the shipped one


def test_killed_after_the_send_returns_then_rerun_posts_nothing_twice(
        sim: SimAdmin, row_settings: Any, push_dir: Path, api_env: dict[str, str]) -> None:
    define(push_dir, "hello", HELLO)
    want = expected_hellos(row_settings)
    env = {**os.environ, **api_env, "RETURNING_PUSH_DIR": str(push_dir), FAULT_ENV: "kill:after_send"}
    proc = subprocess.run([sys.executable, "-m", "returning_sync.cli", "push", "hello"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    landed = hellos(sim)
    assert 1 <= len(landed) <= 5 and len(set(landed)) == len(landed)
    assert query(row_settings, "SELECT state FROM reverse_etl.pushes") == [("sending",)]
    assert query(row_settings, "SELECT DISTINCT status FROM reverse_etl.push_ledger") == [("in_flight",)]

    sim.reset_counters()
    result = run_push("hello", row_settings, pacing=FAST)
    assert [r["state"] for r in result.resumed] == ["completed" if len(landed) == 5 else "completed_with_errors"]
    assert result.sent == 5 - len(landed)
    assert calls(sim, SEND) == 5 - len(landed)
    assert sorted(hellos(sim)) == want  # every message once
    found = query(row_settings, "SELECT count(*) FROM reverse_etl.push_rows WHERE warning LIKE "
                                "'%found through Get Messages%'")
    assert found == [(len(landed),)]
    assert run_push("hello", row_settings, pacing=FAST).sent == 0
    assert sorted(hellos(sim)) == want


def test_lost_answer_is_found_through_get_messages_without_a_duplicate(
        sim: SimAdmin, row_settings: Any, push_dir: Path) -> None:
    define(push_dir, "hello", HELLO)
    want = expected_hellos(row_settings)
    sim.knobs(faults={"rate": 1.0, "kinds": ["truncate"], "endpoints": ["/apis/v1/messages/send"]})
    result = run_push("hello", row_settings, pacing=FAST)
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    assert (result.state, result.sent, result.success) == ("completed", 5, 5)
    assert calls(sim, SEND) == 5  # never sent twice
    assert sorted(hellos(sim)) == want
    warnings = [r[4] for r in rows_of(row_settings, result.push_id) if r[2] == "success"]
    assert len(warnings) == 5 and all("found through Get Messages" in w for w in warnings)
    assert run_push("hello", row_settings, pacing=FAST).sent == 0
    assert calls(sim, SEND) == 5


def test_connection_reset_after_landing_is_found_too(sim: SimAdmin, row_settings: Any, push_dir: Path) -> None:
    define(push_dir, "hello", HELLO)
    sim.knobs(faults={"rate": 1.0, "kinds": ["reset"], "endpoints": ["/apis/v1/messages/send"]})
    result = run_push("hello", row_settings, pacing=FAST)
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    assert (result.state, result.success) == ("completed", 5)
    assert sorted(hellos(sim)) == expected_hellos(row_settings)


def test_http_200_error_body_is_an_error_recorded_per_row(sim: SimAdmin, row_settings: Any, push_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.config import Settings

    define(push_dir, "hello", HELLO)
    perms = [p for p in next(k for k in sim.keys()["keys"] if k["key"] == FULL_KEY)["permissions"]
             if p != "sendMessage"]
    sim.post("/__sim/keys", {"key": NO_SEND_KEY, "permissions": perms})
    monkeypatch.setenv("RETURNING_AI_API_KEY", NO_SEND_KEY)
    refused = run_push("hello", Settings.from_env(), pacing=FAST)
    assert (refused.state, refused.exit_code, refused.success) == ("failed", 3, 0)
    assert "Insufficient permission" in (refused.error or "")
    assert calls(sim, SEND) >= 1 and by_status_200_only(sim, SEND)
    assert hellos(sim) == []
    sent = [r for r in rows_of(row_settings, refused.push_id) if r[2] != "invalid"]
    assert len(sent) == 5
    assert {r[2] for r in sent} <= {"refused", "not_sent"} and any(r[2] == "refused" for r in sent)
    assert all("Insufficient permission" in r[3] for r in sent if r[2] == "refused")
    # a refused row is never counted as sent: in the result, its rows line, the ledger and the metadata
    n_refused = sum(r[2] == "refused" for r in sent)
    assert (refused.sent, refused.refused, refused.failed) == (0, n_refused, 0)
    assert f"sent 0, refused {n_refused}" in refused.lines()[1]
    with connect(row_settings.location, read_only=True) as con:
        assert con.fetchone("SELECT sent_rows, skipped_rows FROM reverse_etl.pushes WHERE push_id = ?",
                            [refused.push_id]) == (0, 5)
    monkeypatch.setenv("RETURNING_AI_API_KEY", FULL_KEY)
    fixed = run_push("hello", Settings.from_env(), pacing=FAST)
    assert (fixed.state, fixed.success, fixed.sent, fixed.retried) == ("completed", 5, 5, 0)
    assert sorted(hellos(sim)) == expected_hellos(row_settings)


def by_status_200_only(sim: SimAdmin, endpoint: str) -> bool:
    by = sim.counters()["by_status"]
    return set(by) == {"200"}


def test_two_runs_at_once_post_each_message_once(sim: SimAdmin, row_settings: Any, push_dir: Path,
                                                 api_env: dict[str, str]) -> None:
    define(push_dir, "hello", HELLO)
    env = {**os.environ, **api_env, "RETURNING_PUSH_DIR": str(push_dir), FAULT_ENV: "pause:before_send:1.5"}
    procs = [subprocess.Popen([sys.executable, "-m", "returning_sync.cli", "push", "hello"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(hellos(sim)) == expected_hellos(row_settings)
    assert calls(sim, SEND) == 5
    assert sum("hello: completed" in o for o in outs) == 1, outs


# -- redemption_status and purchase_history (through seeds in a user folder) ----------------------

def _load_seeds(settings: Any, folder: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.seeds import load_seeds

    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("RETURNING_SEEDS_DIR", str(folder))
    loaded = load_seeds(settings)
    assert {f"{n.removesuffix('.csv')}" for n in files} <= set(loaded)


ORDER_STATUS = """-- target: redemption_status
SELECT f.transaction_id, s._id AS status_id
FROM seeds.fulfilment AS f LEFT JOIN returning_raw.redemption_statuses AS s ON s.name = f.status
"""


def test_order_status_overwrites_are_sent_only_on_change(sim: SimAdmin, row_settings: Any, tmp_path: Path,
                                                         push_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    define(push_dir, "order_status", ORDER_STATUS)
    orders = sim.truth_rows("redemption_orders")[-3:]
    statuses = {s["name"]: s["_id"] for s in sim.truth_rows("redemption_statuses")}
    wanted = {o["transactionId"]: "Shipping" if o["status"]["name"] != "Shipping" else "Processing" for o in orders}

    def fulfilment(names: dict[str, str]) -> str:
        lines = ["transaction_id,status", *(f"{t},{n}" for t, n in names.items())]
        return "\n".join([*lines, "ORD199901010001,Shipping", f"{orders[0]['transactionId']}x,Nowhere"]) + "\n"

    _load_seeds(row_settings, tmp_path / "seeds", {"fulfilment.csv": fulfilment(wanted)}, monkeypatch)
    sim.reset_counters()
    shipped = run_push("orders_shipped", row_settings, dry_run=True)  # the shipped one: open orders only
    assert shipped.would_send == sum(o["status"]["category"] == "incomplete" for o in orders)
    assert run_push("order_status", row_settings, dry_run=True).would_send == len(orders)
    assert calls(sim, PUT_STATUS) == 0
    first = run_push("order_status", row_settings, pacing=FAST)
    assert (first.state, first.sent, first.success, first.invalid) == ("completed", len(orders), len(orders), 2)
    truth = {o["transactionId"]: o["statusId"] for o in sim.truth_rows("redemption_orders")}
    assert {t: truth[t] for t in wanted} == {t: statuses[n] for t, n in wanted.items()}
    reasons = sorted(str(r[3]) for r in rows_of(row_settings, first.push_id) if r[2] == "invalid")
    assert any("is not in returning_raw.redemption_orders" in r for r in reasons), reasons
    assert calls(sim, PUT_STATUS) == len(orders)

    assert run_push("order_status", row_settings, pacing=FAST).sent == 0  # unchanged: nothing sent
    assert calls(sim, PUT_STATUS) == len(orders)
    first_id = orders[0]["transactionId"]
    wanted[first_id] = "Pending" if wanted[first_id] != "Pending" else "Shipping"
    _load_seeds(row_settings, tmp_path / "seeds", {"fulfilment.csv": fulfilment(wanted)}, monkeypatch)
    changed = run_push("order_status", row_settings, pacing=FAST)
    assert (changed.sent, changed.unchanged) == (1, len(orders) - 1)
    assert calls(sim, PUT_STATUS) == len(orders) + 1
    truth = {o["transactionId"]: o["statusId"] for o in sim.truth_rows("redemption_orders")}
    assert truth[first_id] == statuses[wanted[first_id]]


def test_voucher_rule_is_checked_before_sending_and_a_409_is_recorded_on_its_row(
        sim: SimAdmin, row_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    purchases = sim.truth_rows("purchase_histories")
    by_product: dict[str, list[dict]] = {}
    for p in purchases:
        by_product.setdefault(p["product"]["_id"], []).append(p)
    held = next(ps for ps in by_product.values() if len(ps) >= 2 and ps[0]["voucherCode"])
    taken, other = held[0], held[1]
    free = [p for p in purchases if p["_id"] not in (taken["_id"], other["_id"])][:4]
    rows = [
        f"{free[0]['orderID']},RS-TEST-0001,31/12/2026,",  # valid, by ORD id
        f"{free[1]['_id']},,,Collect it at the front desk.",  # instructions alone: valid
        f"{free[2]['_id']},RS-TEST-0003,,",  # code without its expiry date
        f"{free[3]['_id']},RS-TEST-0004,31/02/2026,",  # not a date
        "ffffffffffffffffffffffff,RS-TEST-0005,31/12/2026,",  # unknown purchase
        f"{other['_id']},{taken['voucherCode']},31/12/2026,",  # held by another purchase of the product: 409
    ]
    csv = "purchase_history_id,voucher_code,voucher_expiry_date,redemption_instructions\n" + "\n".join(rows) + "\n"
    _load_seeds(row_settings, tmp_path / "seeds", {"voucher_codes.csv": csv}, monkeypatch)
    sim.reset_counters()
    result = run_push("voucher_codes", row_settings, pacing=FAST)
    assert (result.state, result.sent, result.success, result.failed, result.invalid) == (
        "completed_with_errors", 3, 2, 1, 3)
    assert calls(sim, PATCH_PURCHASE) == 3
    recorded = {r[1]: (r[2], r[3]) for r in rows_of(row_settings, result.push_id)}
    assert recorded[other["_id"]][0] == "failed" and "409" in recorded[other["_id"]][1]
    assert "go together" in recorded[free[2]["_id"]][1]
    assert "not a date" in recorded[free[3]["_id"]][1]
    assert "not in returning_raw.purchase_histories" in recorded["ffffffffffffffffffffffff"][1]
    truth = {p["_id"]: p for p in sim.truth_rows("purchase_histories")}
    assert (truth[free[0]["_id"]]["voucherCode"], truth[free[0]["_id"]]["voucherExpiryDate"]) == (
        "RS-TEST-0001", "31/12/2026")
    assert truth[other["_id"]]["voucherCode"] == other["voucherCode"]
    sim.reset_counters()
    again = run_push("voucher_codes", row_settings, pacing=FAST)
    assert (again.sent, again.retried, again.unchanged) == (1, 1, 2)  # only the refused row, retried
    assert calls(sim, PATCH_PURCHASE) == 1


@pytest.mark.usefixtures("destination")
def test_seeds_load_as_tables_of_schema_seeds(row_settings: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.seeds import load_seeds

    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "fulfilment.csv").write_text("transaction_id,status\nORD1,Shipping\n", encoding="utf-8")
    (folder / "empty_one.csv").write_text("a,b\n", encoding="utf-8")
    monkeypatch.setenv("RETURNING_SEEDS_DIR", str(folder))
    loaded = load_seeds(row_settings)
    assert loaded == {"announcements": 1, "empty_one": 0, "fulfilment": 1, "voucher_codes": 3}
    assert query(row_settings, "SELECT transaction_id, status FROM seeds.fulfilment") == [("ORD1", "Shipping")]
    assert query(row_settings, "SELECT count(*) FROM seeds.empty_one") == [(0,)]
    assert load_seeds(row_settings) == loaded  # replaced, not appended
    assert query(row_settings, "SELECT count(*) FROM seeds.voucher_codes") == [(3,)]
    json.dumps(loaded)


@pytest.mark.usefixtures("destination")
def test_shipped_per_row_definitions_dry_run_on_every_warehouse(sim: SimAdmin, row_settings: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped examples run on DuckDB and Postgres alike. The seeds name the demo's community (2000
    members): in this smaller one their ids do not exist and come out as invalid rows, with the reason."""
    monkeypatch.delenv("RETURNING_SEEDS_DIR", raising=False)
    sim.reset_counters()
    results = {n: run_push(n, row_settings, dry_run=True) for n in ("weekly_gold_welcome", "orders_shipped",
                                                                    "voucher_codes")}
    assert sim.counters()["by_endpoint"].get(SEND, 0) == 0
    assert calls(sim, PUT_STATUS) == calls(sim, PATCH_PURCHASE) == 0
    for name, result in results.items():
        assert result.total == result.invalid + result.would_send + result.unchanged, name
    assert results["voucher_codes"].total == 3
    orders = {o["transactionId"] for o in sim.truth_rows("redemption_orders")}
    seeded = query(row_settings, "SELECT transaction_id FROM seeds.fulfilment")
    assert results["orders_shipped"].invalid == sum(t not in orders for (t,) in seeded)


def test_without_usernames_senders_are_matched_by_email_alone(sim: SimAdmin, row_settings: Any,
                                                              push_dir: Path) -> None:
    """`username` is [assumed]: a users table without the column still checks and sends a message push."""
    with connect(row_settings.location) as con:
        con.execute("ALTER TABLE returning_raw.users DROP COLUMN username")
    define(push_dir, "hello_by_email", HELLO.replace("m.username", "m.email").replace(
        "SELECT email, username,", "SELECT email,"))
    by_name = HELLO_BY_USERNAME.format(sender=query(row_settings, "SELECT email FROM returning_raw.users WHERE NOT "
                                                                  "coalesce(is_deleted, FALSE) ORDER BY email LIMIT 1")[0][0])
    define(push_dir, "hello_by_username", by_name)
    dry = run_push("hello_by_email", row_settings, dry_run=True)
    assert (dry.total, dry.would_send, dry.invalid) == (10, 5, 5)
    sent = run_push("hello_by_email", row_settings, pacing=FAST)
    assert (sent.state, sent.sent, sent.success) == ("completed", 5, 5)
    assert calls(sim, SEND) == 5
    refused = run_push("hello_by_username", row_settings, dry_run=True)
    assert (refused.total, refused.would_send, refused.invalid) == (2, 1, 1)  # a name is no email


HELLO_BY_USERNAME = """-- target: message
-- period: week
-- description: test: one sender by email, one by a name no member's email is
SELECT c._id AS channel_id, s.sender, 'by ' || s.sender AS message, '2026-W23' AS week
FROM returning_raw.channels AS c
CROSS JOIN (SELECT '{sender}' AS sender UNION ALL SELECT 'someones_name') AS s
WHERE c.topic = 'general'
"""
