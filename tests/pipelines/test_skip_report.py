"""Skip and report: one dataset the API does not serve, the key may not read, or whose answer lacks
the expected shape never sinks the run; the others load and commit, the summary names it with the
setting that changes it, and the exit code is 5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.pipelines.conftest import counts
from tests.simadmin import READ_ONLY_KEY, SimAdmin
from warehouse.connection import connect

GONE = {"user_field_histories": {"path": "/apis/v1/not-served"}}  # a path the simulator does not serve: 404


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def test_a_404_and_a_missing_permission_skip_their_datasets_and_the_rest_commit(
        sim: SimAdmin, api_env: dict[str, str]) -> None:
    env = {**api_env, "RETURNING_AI_API_KEY": READ_ONLY_KEY, "RETURNING_SYNC_REGISTRY_OVERRIDES": json.dumps(GONE)}
    done = cli(env, "sync", "--resources", "user_field_histories,bulk_jobs,tiers,store_config")
    assert done.returncode == 5, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("skipped 2 dataset(s); the others loaded and committed:")
    assert lines[start + 1:] == [
        '  user_field_histories: skipped, GET /apis/v1/not-served [assumed]: HTTP 404: Not found; No endpoint GET '
        '/apis/v1/not-served; if the API serves it elsewhere, [sources.returning_ai.registry_overrides.'
        'user_field_histories] path = "/apis/v1/..." (the path it serves), or turn it off: [sources.returning_ai] '
        'disabled = ["user_field_histories"]',
        "  bulk_jobs: skipped, GET /apis/v1/bulk-jobs [assumed]: missing permission 'bulkUpdateUser'; grant the key "
        "the 'bulkUpdateUser' permission (community settings > API keys), or turn it off: [sources.returning_ai] "
        'disabled = ["bulk_jobs"]',
    ]
    table = lines[[line.split()[:1] for line in lines].index(["resource"]):start]
    assert [line.split()[0] for line in table[1:-1]] == ["store_config", "tiers"]
    con = connect(Settings.from_env(**{"api_key": READ_ONLY_KEY}).location, read_only=True)
    try:
        held = counts(con)
    finally:
        con.close()
    truth = sim.truth()
    assert held["tiers"] == truth["tiers"]["count"] and held["store_config"] == 1
    assert held["user_field_histories"] == held["bulk_jobs"] == 0  # a first sync: their declared tables, empty


def test_strict_fails_fast_with_the_old_exit_code(sim: SimAdmin, api_env: dict[str, str]) -> None:
    env = {**api_env, "RETURNING_SYNC_REGISTRY_OVERRIDES": json.dumps(GONE)}
    done = cli(env, "sync", "--strict", "--resources", "user_field_histories,tiers")
    assert done.returncode == 4
    assert done.stderr.strip() == "error: user_field_histories failed with HTTP 404: Not found; No endpoint GET /apis/v1/not-served"
    assert not Path(api_env["RETURNING_WAREHOUSE"]).exists() or "tiers" not in _tables(api_env)


def _tables(api_env: dict[str, str]) -> dict[str, int]:
    con = connect(Settings.from_env().location, read_only=True)
    try:
        return counts(con)
    finally:
        con.close()


def test_disabled_datasets_are_not_read_and_not_counted(sim: SimAdmin, api_env: dict[str, str]) -> None:
    env = {**api_env, "RETURNING_SYNC_REGISTRY_OVERRIDES": json.dumps(GONE),
           "RETURNING_SYNC_DISABLED": "user_field_histories"}
    sim.reset_counters()
    done = cli(env, "sync", "--resources", "user_field_histories,tiers")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "disabled in the settings (not read): user_field_histories"
    assert sim.counters()["by_endpoint"] == {"GET /apis/v1/tiers": 1}


def test_an_unknown_disabled_name_is_a_config_error(api_env: dict[str, str]) -> None:
    done = cli({**api_env, "RETURNING_SYNC_DISABLED": "tiers,nope"}, "sync", "--resources", "tiers")
    assert done.returncode == 2
    assert done.stderr.startswith("error: disabled: unknown dataset(s) nope; known: users, ")
    assert done.stderr.rstrip().endswith("(from RETURNING_SYNC_DISABLED in the environment)")


def test_the_fan_outs_of_skipped_users_are_skipped_with_that_reason(
        sim: SimAdmin, settings: Settings, warehouse) -> None:
    gone = Settings.from_env(registry_overrides={"users_filter": {"path": "/apis/v1/users/not-served"}},
                             backoff_base=0.05)
    result = run_sync(gone, resources=["users", "gamification_daily", "activity_stats", "minigame_logs",
                                       "user_game_stats", "tiers"])
    assert [(s.dataset, s.kind, s.result) for s in result.skipped] == [
        ("users", "not found", "HTTP 404: Not found; No endpoint POST /apis/v1/users/not-served"),
        ("gamification_daily", "depends", "depends on users, which was skipped"),
        ("activity_stats", "depends", "depends on users, which was skipped"),
        ("minigame_logs", "depends", "depends on users, which was skipped"),
        ("user_game_stats", "depends", "depends on users, which was skipped"),
    ]
    held = counts(warehouse())
    assert held["tiers"] == sim.truth()["tiers"]["count"]
    skipped = ("users", "gamification_daily", "activity_stats", "minigame_logs", "user_game_stats")
    assert {t: held[t] for t in skipped} == dict.fromkeys(skipped, 0)  # a first sync: declared tables, empty


def test_a_record_without_its_key_skips_its_dataset(sim: SimAdmin, settings: Settings, warehouse) -> None:
    sim.knobs(faults={"rate": 1.0, "kinds": ["drop_field"], "endpoints": ["GET /v1/categories"]})
    result = run_sync(settings, resources=["store_categories", "store_products"])
    assert [(s.dataset, s.kind, s.result, s.fix) for s in result.skipped] == [
        ("store_categories", "shape", "missing '_id'",
         'if the API names it otherwise, [sources.returning_ai.registry_overrides.categories] record_fields._id = '
         '"<as the API names it>", or turn it off: [sources.returning_ai] disabled = ["store_categories"]'),
    ]
    held = counts(warehouse())
    assert held["store_products"] == sim.truth()["store_products"]["count"] and held["store_categories"] == 0


def test_a_skip_keeps_the_table_and_cursor_of_an_earlier_load(sim: SimAdmin, settings: Settings, warehouse) -> None:
    """The messages of an earlier full load stay, and the stored cursor does not move, when a later run
    skips the dataset."""
    first = run_sync(settings, resources=["channels", "messages", "streak_logs"])
    assert first.skipped == []
    con = warehouse()
    before = con.execute("SELECT count(*), max(timestamp) FROM returning_raw.messages").fetchone()
    state = _state(con, "messages")
    con.close()
    assert isinstance(state, dict) and len(state["channels"]) == 8  # the channels with messages
    assert before[0] == sim.truth()["messages"]["count"]
    sim.advance(24)
    gone = Settings.from_env(registry_overrides={"messages": {"path": "/v1/messages-not-served"}}, backoff_base=0.05)
    second = run_sync(gone, resources=["channels", "messages", "streak_logs"])
    assert [(s.dataset, s.result) for s in second.skipped] == [
        ("messages", "HTTP 404: Not found; No endpoint GET /v1/messages-not-served")]
    con = warehouse()
    assert con.execute("SELECT count(*), max(timestamp) FROM returning_raw.messages").fetchone() == before
    assert _state(con, "messages") == state
    assert con.execute("SELECT count(*) FROM returning_raw.streak_logs").fetchone()[0] == sim.truth()["streak_logs"]["count"]


def _state(con, resource: str) -> object:
    """The resource's dlt state as the warehouse stores it (the newest version)."""
    import base64
    import zlib

    raw = con.execute("SELECT state FROM returning_raw._dlt_pipeline_state ORDER BY version DESC LIMIT 1").fetchone()[0]
    try:
        text = zlib.decompress(base64.b64decode(raw)).decode()
    except Exception:  # noqa: BLE001 - an uncompressed state
        text = raw
    return json.loads(text)["sources"]["returning_ai"]["resources"].get(resource)


@pytest.mark.usefixtures("sim")
def test_skip_and_commit_on_postgres(sim: SimAdmin, api_env: dict[str, str], destination: str, warehouse) -> None:
    overrides = {**GONE, "tiers": {"records": "data.not_there"}}
    settings = Settings.from_env(registry_overrides=overrides, backoff_base=0.05)
    result = run_sync(settings, resources=["user_field_histories", "tiers", "store_config", "leaderboards"])
    assert [(s.dataset, s.kind, s.result) for s in result.skipped] == [
        ("user_field_histories", "not found", "HTTP 404: Not found; No endpoint GET /apis/v1/not-served"),
        ("tiers", "shape", "missing 'data.not_there'"),
    ]
    assert result.skipped[1].fix == ('[sources.returning_ai.registry_overrides.tiers] records = "data.tiers" (the dotted '
                                     'path to the records), or turn it off: [sources.returning_ai] disabled = ["tiers"]')
    held = counts(warehouse())
    truth = sim.truth()
    assert held["store_config"] == 1 and held["leaderboards"] == truth["leaderboards"]["count"]
    assert held["tiers"] == held["user_field_histories"] == 0  # a first sync: their declared tables, empty
