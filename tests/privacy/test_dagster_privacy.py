"""Dagster: the `forget` job (config: email or id) erases a member as the command does; the share is an
asset that materialises the analysts' share."""

from __future__ import annotations

import pytest
from dagster import materialize

from assets.definitions import definitions_for
from assets.privacy import SHARE_KEY, build_share_asset
from assets.resources import Warehouse
from returning_sync.cli import main
from tests.privacy.scan import scan_tables
from tests.simadmin import SimAdmin
from warehouse.connection import connect
from warehouse.location import WarehouseLocation
from warehouse.share import share_path


def test_the_definitions_hold_the_forget_job_and_the_share_asset() -> None:
    defs = definitions_for("duckdb")
    job = defs.resolve_job_def("forget")
    assert set(job.graph.node_dict) == {"forget_member"}
    fields = job.graph.node_dict["forget_member"].definition.config_schema.config_type.fields
    assert set(fields) == {"email", "user_id", "dry_run", "community"}
    assert defs.resolve_assets_def(SHARE_KEY).key == SHARE_KEY


def test_forget_job_and_share_asset_run(sim: SimAdmin, api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["sync"]) == 0 and main(["models"]) == 0
    location = WarehouseLocation.from_env()
    with connect(location, read_only=True) as con:
        user_id, email = con.fetchone("SELECT _id, email FROM returning_raw.users ORDER BY _id LIMIT 1")
    warehouse = Warehouse(path=str(location.file))
    result = materialize([build_share_asset("duckdb")], resources={"warehouse": warehouse})
    assert result.success and share_path(location.file).exists()

    job = definitions_for("duckdb").resolve_job_def("forget")
    dry = job.execute_in_process(run_config={"ops": {"forget_member": {"config": {"email": email, "dry_run": True}}}},
                                 resources={"warehouse": warehouse})
    assert dry.success
    with connect(location, read_only=True) as con:
        assert scan_tables(con, email) != {}
    done = job.execute_in_process(run_config={"ops": {"forget_member": {"config": {"user_id": user_id}}}},
                                  resources={"warehouse": warehouse})
    assert done.success
    with connect(location, read_only=True) as con:
        assert scan_tables(con, email) == {} and scan_tables(con, user_id) == {}
        assert con.fetchone("SELECT count(*) FROM returning_private.erasures") == (1,)
    with connect(WarehouseLocation(destination="duckdb", path=share_path(location.file)), read_only=True) as con:
        assert scan_tables(con, user_id) == {}
