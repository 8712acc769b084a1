"""`returning-sync check`: per dataset what the next sync loads or skips, with the same reason and the
same setting to change it; `--format json`; `--write-config` keeps the file's other settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.probe import PLAYER_TRIES
from pipelines.tables import RESOURCES
from tests.pipelines.conftest import counts
from tests.simadmin import READ_ONLY_KEY, SimAdmin
from warehouse.connection import connect

UNAVAILABLE = {
    "user_field_histories": {"path": "/apis/v1/not-served"},  # 404
    "tiers": {"records": "data.not_there"},  # the records path missing
}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=900)


def check_then_sync(env: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess[str], dict[str, int]]:
    checked = cli(env, "check", "--format", "json")
    report = json.loads(checked.stdout)
    assert checked.returncode == report["exit"], checked.stderr
    synced = cli(env, "sync")
    con = connect(Settings.from_env(**{k: v for k, v in (("api_key", env["RETURNING_AI_API_KEY"]),)}).location,
                  read_only=True)
    try:
        held = counts(con)
    finally:
        con.close()
    return report, synced, held


def skipped_of(synced: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """dataset -> its summary line, from the sync's summary."""
    lines = synced.stdout.splitlines()
    if not any(line.startswith("skipped ") for line in lines):
        return {}
    start = next(i for i, line in enumerate(lines) if line.startswith("skipped "))
    return {line.strip().split(":")[0]: line.strip() for line in lines[start + 1:] if line.startswith("  ")}


@pytest.mark.parametrize("unavailable", [False, True], ids=["default", "unavailable"])
def test_check_says_what_the_next_sync_loads_or_skips(sim: SimAdmin, api_env: dict[str, str], unavailable: bool) -> None:
    env = dict(api_env)
    if unavailable:
        env["RETURNING_AI_API_KEY"] = READ_ONLY_KEY  # bulk_jobs: no bulkUpdateUser
        env["RETURNING_SYNC_REGISTRY_OVERRIDES"] = json.dumps(UNAVAILABLE)
        sim.knobs(faults={"rate": 1.0, "kinds": ["drop_field"], "endpoints": ["GET /v1/categories"]})
    report, synced, held = check_then_sync(env)
    said = {d["dataset"]: d for d in report["datasets"]}
    assert list(said) == list(RESOURCES)
    skipped = skipped_of(synced)
    expected = {"user_field_histories", "tiers", "bulk_jobs", "store_categories"} if unavailable else set()
    assert {d for d, v in said.items() if not v["ok"]} == set(skipped) == expected
    assert synced.returncode == report["exit"] == (5 if unavailable else 0), synced.stderr
    for name, verdict in said.items():
        if verdict["ok"]:
            assert name in held or name == "webhook_events", name  # loaded (webhook_events: its empty table)
        else:  # the same reason and the same setting, word for word
            assert skipped[name] == (f"{name}: skipped, {verdict['method']} {verdict['path']} [{verdict['mark']}]: "
                                     f"{verdict['result']}; {verdict['fix']}")
            assert held.get(name) == 0, name  # a first sync: its declared table, empty
    if unavailable:
        assert {n: (said[n]["kind"], said[n]["result"]) for n in expected} == {
            "user_field_histories": ("not found", "HTTP 404: Not found; No endpoint GET /apis/v1/not-served"),
            "tiers": ("shape", "missing 'data.not_there'"),
            "bulk_jobs": ("permission", "missing permission 'bulkUpdateUser'"),
            "store_categories": ("shape", "missing '_id'"),
        }


def test_check_table_names_fields_and_what_to_set(sim: SimAdmin, api_env: dict[str, str]) -> None:
    env = {**api_env, "RETURNING_SYNC_REGISTRY_OVERRIDES": json.dumps(UNAVAILABLE)}
    done = cli(env, "check")
    assert done.returncode == 5, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["dataset", "endpoint", "result"]
    at = lines.index(next(line for line in lines if line.startswith("user_field_histories ")))
    assert lines[at].split()[1:] == ["GET", "/apis/v1/not-served", "[assumed]", "HTTP", "404:", "Not", "found;", "No",
                                     "endpoint", "GET", "/apis/v1/not-served"]
    assert lines[at + 1] == ('    set: if the API serves it elsewhere, [sources.returning_ai.registry_overrides.'
                             'user_field_histories] path = "/apis/v1/..." (the path it serves), or turn it off: '
                             '[sources.returning_ai] disabled = ["user_field_histories"]')
    at = lines.index(next(line for line in lines if line.startswith("store_categories ")))
    assert lines[at + 1] == "    fields: 11/11 expected seen; extra categoryPermission"
    assert lines[-1] == "23 of 25 datasets available; unavailable: user_field_histories, tiers"


def test_write_config_disables_what_is_unavailable_and_keeps_the_rest(sim: SimAdmin, api_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    config = tmp_path / ".dlt" / "config.toml"
    config.parent.mkdir()
    config.write_text('# mine\n[sources.returning_ai]\nconcurrency = 3\ndisabled = ["streaks"]\n\n'
                      '[runtime]\nlog_level = "WARNING"\n', encoding="utf-8")
    env = {**api_env, "RETURNING_SYNC_REGISTRY_OVERRIDES": json.dumps(UNAVAILABLE)}
    done = cli(env, "check", "--write-config", str(config))
    assert done.returncode == 5, done.stderr
    written = config.read_text(encoding="utf-8")
    assert written.startswith("# mine\n")
    data = tomllib.loads(written)
    # the overrides check is sure of are written (the one list the tiers' answer holds), a path it cannot
    # know only as a commented template
    assert data == {"sources": {"returning_ai": {"concurrency": 3,
                                                 "disabled": ["user_field_histories", "streaks", "tiers"],
                                                 "registry_overrides": {"user_field_histories": {},
                                                                        "tiers": {"records": "data.tiers"}}}},
                    "runtime": {"log_level": "WARNING"}}
    assert ('# path = "/apis/v1/..."  # user_field_histories: the path answered HTTP 404; the path it serves: '
            "ask Returning.AI or see its reference") in written.splitlines()
    assert done.stdout.splitlines()[-1] == (f'wrote {config}: [sources.returning_ai] disabled = '
                                            '["user_field_histories", "streaks", "tiers"] (added user_field_histories, tiers); '
                                            'overrides sources.returning_ai.registry_overrides.tiers.records = "data.tiers"')
    # with that file as the settings, the check and the sync are both complete
    synced = cli({**env, "DLT_PROJECT_DIR": str(tmp_path)}, "sync", "--resources", "user_field_histories,tiers,leaderboards")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert synced.stdout.splitlines()[-1] == "disabled in the settings (not read): user_field_histories, tiers"
    again = cli({**env, "DLT_PROJECT_DIR": str(tmp_path)}, "check", "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["unavailable"] == []


def test_check_with_an_invalid_key_exits_3(sim: SimAdmin, api_env: dict[str, str]) -> None:
    done = cli({**api_env, "RETURNING_AI_API_KEY": "f" * 64}, "check")
    assert done.returncode == 3
    assert done.stderr.startswith("error: authentication failed on users_filter") and "f" * 64 not in done.stderr


def test_check_never_writes_to_the_api(sim: SimAdmin, api_env: dict[str, str]) -> None:
    sim.reset_counters()
    done = cli(api_env, "check", "--format", "json")
    assert done.returncode == 0, done.stderr
    by_endpoint = sim.counters()["by_endpoint"]
    assert all(e.split()[0] in ("GET", "POST") for e in by_endpoint)
    writes = [e for e in by_endpoint if "bulk-update" in e or "send" in e or e.startswith(("PUT", "PATCH"))]
    # one request per endpoint; a second with a window no record falls in where the dataset reads
    # one (an API that ignores `from`/`to` still answers records); members asked in turn for their
    # mini-game logs until one has played (at most PLAYER_TRIES)
    windowed = {"GET /apis/v1/communities/{communityId}/user-field-histories", "POST /apis/v1/users/activity/logs",
                "GET /apis/v1/redemption-transactions", "POST /apis/v1/streaks/logs", "GET /v1/analytics/loyalty-overview"}
    assert writes == [] and len(by_endpoint) == 23
    assert {e: n for e, n in by_endpoint.items() if n > 1} == {
        **{e: 2 for e in windowed if e != "GET /v1/analytics/loyalty-overview"},
        "POST /apis/v1/users/minigames/logs": by_endpoint["POST /apis/v1/users/minigames/logs"]}
    assert 1 <= by_endpoint["POST /apis/v1/users/minigames/logs"] <= PLAYER_TRIES + 1  # + its window
