"""Issue 20's first "done when": on an API that serves only the documented surface, a plain
`returning-sync sync` loads every dataset that surface serves, equal to the simulator's truth for them,
skips every other one with one line naming the setting that changes it, and exits 5; and
`returning-sync check`, run before it, predicted exactly this. On DuckDB and on Postgres."""

from __future__ import annotations

import json

import pytest

from pipelines.config import Settings
from pipelines.tables import RESOURCES
from tests.pipelines.conftest import counts
from tests.pipelines.test_check_command import cli, skipped_of
from tests.pipelines.truth import compare
from tests.simadmin import SimAdmin
from warehouse.connection import connect

OVERRIDE = "[sources.returning_ai.registry_overrides."
DISABLE = '[sources.returning_ai] disabled = ["'


def expected_line(verdict: dict) -> str:
    """The summary line a skip `check` reported is printed as by the sync."""
    where = f"{verdict['method']} {verdict['path']} [{verdict['mark']}]: " if verdict["kind"] != "depends" else ""
    return f"{verdict['dataset']}: skipped, {where}{verdict['result']}; {verdict['fix']}"


@pytest.mark.usefixtures("destination")
def test_a_plain_sync_on_the_documented_surface(sim: SimAdmin, api_env: dict[str, str]) -> None:
    sim.knobs(surface="documented")
    surface = sim.get("/__sim/surface")["datasets"]
    served = {name for name, d in surface.items() if d["served"]}
    assert {"users", "gamification_daily", "messages"} <= served and len(served) < len(RESOURCES)

    checked = cli(api_env, "check", "--format", "json")
    report = json.loads(checked.stdout)
    synced = cli(api_env, "sync")

    assert checked.returncode == synced.returncode == report["exit"] == 5, synced.stdout + synced.stderr
    said = {d["dataset"]: d for d in report["datasets"]}
    skipped = skipped_of(synced)
    assert {n for n, v in said.items() if not v["ok"]} == set(skipped) == set(RESOURCES) - served
    lines = synced.stdout.splitlines()
    assert f"skipped {len(skipped)} dataset(s); the others loaded and committed:" in lines
    for name, line in skipped.items():
        assert line == expected_line(said[name])  # the same reason and setting as check said, word for word
        assert sum(1 for text in lines if text.strip().startswith(f"{name}: skipped")) == 1
        verdict = said[name]
        if verdict["kind"] == "not found":  # an assumed path: the override that would serve it
            assert f'{OVERRIDE}{verdict["endpoint"]}] path = "' in line and verdict["mark"] == "assumed", line
        else:  # needs a skipped one
            assert verdict["kind"] == "depends" and line.endswith(f'{DISABLE}{name}"]'), line
    assert not [text for text in synced.stderr.splitlines() if ": skipped," in text]  # named once, in the summary

    truth = sim.truth()
    con = connect(Settings.from_env().location, read_only=True)
    try:
        held = counts(con)
        for name in sorted(served):
            rows = sim.truth_rows(name)
            assert len(rows) == truth[name]["count"], name
            if name == "users":  # `is_deleted`, `deleted_at`: the client's deletion flags (nobody deleted yet)
                assert compare(con, name, rows, ignore=("deleted_at", "is_deleted"), where="WHERE NOT is_deleted") == []
            else:
                assert compare(con, name, rows) == [], name
        assert held["users"] == truth["users"]["count"] > 0 and held["messages"] == truth["messages"]["count"] > 0
        # a skipped dataset still gets its declared (empty) table on a first sync: models reading it build
        assert {name: held.get(name) for name in set(RESOURCES) - served} == dict.fromkeys(set(RESOURCES) - served, 0)
    finally:
        con.close()
