"""Skip and report, the edges: users load without the custom field definitions; a skip never empties
a `replace` table that holds rows; a fan-out call racing a failure cannot move the skipped dataset's
state; `check --resources` probes what `sync --resources` would load."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dlt
import pytest

from pipelines.config import Settings
from pipelines.context import RunContext, Tracker
from pipelines.errors import ContractError
from pipelines.isolation import Isolation, isolate
from pipelines.sync import make_pipeline, run_sync
from tests.pipelines.test_check_command import cli
from tests.pipelines.truth import compare, warehouse_rows
from tests.simadmin import SimAdmin
from warehouse.connection import Connection

NOT_SERVED = {"path": "/apis/v1/not-served"}  # the simulator answers 404
REPLACE_TABLES = ("user_fields", "redemption_statuses", "tiers", "channels")  # their endpoints share their names


def _users_truth(sim: SimAdmin, custom: bool) -> list[dict[str, Any]]:
    keys = {f["field"] for f in sim.truth_rows("user_fields")}
    return [r if custom else {k: v for k, v in r.items() if k not in keys} for r in sim.truth_rows("users")]


def _notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipelines.users_pass"]


def test_users_load_with_the_platform_fields_when_the_field_definitions_are_unavailable(
        sim: SimAdmin, settings: Settings, warehouse: Callable[[], Connection], caplog: pytest.LogCaptureFixture) -> None:
    gone = Settings.from_env(registry_overrides={"user_fields": NOT_SERVED}, backoff_base=0.05)
    with caplog.at_level(logging.WARNING, logger="pipelines.users_pass"):
        first = run_sync(gone, resources=["users", "user_fields"])
    assert [(s.dataset, s.result) for s in first.skipped] == [
        ("user_fields", "HTTP 404: Not found; No endpoint GET /apis/v1/not-served")]
    assert ("users: the custom field definitions are unavailable (HTTP 404: Not found; No endpoint GET "
            "/apis/v1/not-served); loaded with the platform fields only (the custom field keys are unknown)"
            ) in _notes(caplog)
    con = warehouse()
    assert compare(con, "users", _users_truth(sim, custom=False), ignore=("deleted_at",)) == []
    con.close()

    assert run_sync(settings, resources=["users", "user_fields"]).skipped == []  # the definitions are back
    sim.advance(48)  # members change their custom field values
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipelines.users_pass"):
        third = run_sync(gone, resources=["users", "user_fields"])
    assert [s.dataset for s in third.skipped] == ["user_fields"]
    assert _notes(caplog)[-1].endswith("loaded with the platform fields and the 6 custom fields remembered from "
                                        "earlier runs")
    con = warehouse()
    # the remembered keys are read: the custom values are today's, none lost to nulls
    assert compare(con, "users", _users_truth(sim, custom=True), ignore=("deleted_at",),
                   where="WHERE NOT is_deleted") == []
    assert compare(con, "user_fields", sim.truth_rows("user_fields")) == []  # the replace table kept its rows


@pytest.mark.usefixtures("destination")
def test_a_skip_never_empties_a_replace_table(sim: SimAdmin, settings: Settings,
                                              warehouse: Callable[[], Connection]) -> None:
    first = run_sync(settings, resources=list(REPLACE_TABLES))
    assert first.skipped == []
    con = warehouse()
    before = {t: warehouse_rows(con, t) for t in REPLACE_TABLES}
    con.close()
    assert {t: len(rows) for t, rows in before.items()} == {t: sim.truth()[t]["count"] for t in REPLACE_TABLES}
    assert all(before.values())

    gone = Settings.from_env(registry_overrides=dict.fromkeys(REPLACE_TABLES, NOT_SERVED), backoff_base=0.05)
    second = run_sync(gone, resources=list(REPLACE_TABLES))
    assert sorted(s.dataset for s in second.skipped) == sorted(REPLACE_TABLES)
    con = warehouse()
    assert {t: warehouse_rows(con, t) for t in REPLACE_TABLES} == before


def test_a_fan_out_call_racing_the_failure_cannot_move_the_state(settings: Settings) -> None:
    """Two deferred calls of one resource run at once: one fails (a record without its key), the
    other writes the resource's cursor after the failure's restore. The cursor must not move."""
    ctx = RunContext(settings, tracker=Tracker())
    restored = threading.Event()

    @dlt.source(name="returning_ai")
    def source() -> Any:
        @dlt.resource(name="minigame_logs", primary_key="_id", write_disposition="merge")
        def minigame_logs() -> Iterator[Any]:
            state = dlt.current.resource_state()
            state["this_run"] = True  # gone once the failure's restore has run

            @dlt.defer
            def late() -> list[dict[str, Any]]:
                deadline = time.monotonic() + 60
                while "this_run" in state and time.monotonic() < deadline:  # no event inside dlt to await
                    restored.wait(0.005)
                state["last_value"] = "moved"
                return [{"_id": "late"}]

            @dlt.defer
            def failing() -> list[dict[str, Any]]:
                raise ContractError("minigame_logs", "a record lacks its key '_id'", missing="_id")

            yield late()
            yield failing()

        resource = minigame_logs()
        isolate(ctx, Isolation(ctx), resource)
        return resource

    pipeline = make_pipeline(settings)
    pipeline.run(source())
    assert [(s.dataset, s.result) for s in ctx.tracker.skips.all()] == [("minigame_logs", "missing '_id'")]
    resources = pipeline.state["sources"]["returning_ai"].get("resources", {})
    assert resources.get("minigame_logs", {}) == {}


def test_check_resources_probes_what_sync_resources_would_load(sim: SimAdmin, api_env: dict[str, str]) -> None:
    sim.knobs(surface="documented")
    checked = cli(api_env, "check", "--format", "json", "--resources", "gamification_daily,redemption_status_history")
    assert checked.returncode == 5, checked.stderr
    report = json.loads(checked.stdout)
    said = {d["dataset"]: d for d in report["datasets"]}
    # the parent sync --resources adds (redemption_orders) is probed and listed; users, read for a
    # member to ask about, is probed but not listed
    assert list(said) == ["gamification_daily", "redemption_orders", "redemption_status_history"]
    assert said["gamification_daily"]["ok"] and said["gamification_daily"]["note"] == ""
    assert (said["redemption_orders"]["kind"], said["redemption_status_history"]["result"]) == (
        "not found", "depends on redemption_orders, which was skipped")
    unknown = cli(api_env, "check", "--resources", "tiers,nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: unknown resource(s): nope; known: users, ")


def test_disabled_datasets_read_nothing_and_get_their_tables_on_a_first_sync(
        sim: SimAdmin, api_env: dict[str, str], warehouse: Callable[[], Connection],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.tables import RESOURCES
    from tests.pipelines.conftest import counts

    def sync_only(kept: str) -> Any:
        off = [r for r in RESOURCES if r != kept]
        monkeypatch.setenv("RETURNING_SYNC_DISABLED", ",".join(off))
        sim.reset_counters()
        result = run_sync(Settings.from_env(backoff_base=0.05))
        assert result.skipped == [] and result.disabled == off
        return sim.counters()["by_endpoint"]

    assert sync_only("tiers") == {"GET /apis/v1/tiers": 1}  # nothing disabled is read
    con = warehouse()
    held = counts(con)
    tiers = warehouse_rows(con, "tiers")
    con.close()
    assert {t: held[t] for t in RESOURCES} == {**dict.fromkeys(RESOURCES, 0), "tiers": sim.truth()["tiers"]["count"]}
    assert sync_only("store_config") == {"GET /v1/stores": 1}
    con = warehouse()
    assert warehouse_rows(con, "tiers") == tiers  # a disabled `replace` table keeps its rows
