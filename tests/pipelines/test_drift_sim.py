"""API drift is visible and loses nothing (pipelines/drift.py): the simulator's retyped-field,
dropped-field and extra-field faults are recorded in `returning_raw._schema_changes`, said in the
summary, and every row still lands with its value."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare
from tests.simadmin import SimAdmin
from warehouse.connection import Connection

# what it checks holds at any size: a small community keeps its syncs cheap
pytestmark = pytest.mark.sim_users(100)

Connect = Callable[[], Connection]
LOGS = "POST /apis/v1/users/activity/logs"


def changes(con: Connection, table: str) -> list[tuple[str, str, str | None, str | None]]:
    return [tuple(r) for r in con.fetchall(  # type: ignore[misc]
        "SELECT column_name, change, before, after FROM returning_raw._schema_changes WHERE table_name = ? "
        "ORDER BY column_name, change", [table])]


def fault(sim: SimAdmin, kind: str, endpoint: str) -> None:
    sim.knobs(faults={"rate": 1.0, "kinds": [kind], "endpoints": [endpoint]})


def test_a_number_sent_as_text_in_an_arrow_batch_keeps_its_row_and_is_recorded(
        destination: str, sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    """Every page of the gamification logs carries one `xp` sent as text: each row lands with its
    number, and the change is recorded once, counting the values."""
    fault(sim, "type_change", LOGS)
    result = run_sync(settings, resources=["gamification_logs"])
    pages = sim.counters()["by_endpoint"][LOGS]
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    con = warehouse()
    assert compare(con, "gamification_logs", sim.truth_rows("gamification_logs")) == []
    assert changes(con, "gamification_logs") == [("xp", "retyped", "bigint", f"str in {pages} value(s)")]
    assert f"schema change: gamification_logs.xp retyped: bigint -> str in {pages} value(s)" in \
        result.bookkeeping.lines()


def test_dict_rows_retyped_dropped_and_added_fields_are_recorded(sim: SimAdmin, settings: Settings,
                                                                 warehouse: Connect) -> None:
    """Products with `price` sent as text load as numbers (recorded as retyped); a tier without its
    `name` still loads (recorded as dropped from 1 of its rows); a new field on a table that
    existed before becomes a column (recorded as added)."""
    run_sync(settings, resources=["store_products", "tiers"])
    fault(sim, "type_change", "/v1/products")
    run_sync(settings, resources=["store_products"])
    fault(sim, "drop_field", "/apis/v1/tiers")
    run_sync(settings, resources=["tiers"])
    tiers = sim.truth()["tiers"]["count"]
    fault(sim, "extra_field", "/v1/products")
    run_sync(settings, resources=["store_products"])
    sim.knobs(faults={"rate": 0, "kinds": [], "endpoints": []})
    con = warehouse()
    assert compare(con, "store_products", sim.truth_rows("store_products"), ignore=("_sim_extra",)) == []
    assert counts(con)["tiers"] == tiers
    assert changes(con, "store_products") == [("_sim_extra", "added", None, "text"),
                                              ("price", "retyped", "double", "str in 1 value(s)")]
    assert changes(con, "tiers") == [("name", "dropped", "text", f"absent from 1 of {tiers} rows")]


def test_a_clean_sync_records_no_drift(sim: SimAdmin, settings: Settings, warehouse: Connect) -> None:
    result = run_sync(settings)
    assert result.bookkeeping.schema_changes == []
    con = warehouse()
    assert con.fetchone("SELECT count(*) FROM returning_raw._schema_changes") == (0,)
