"""The ingest and model assets materialize into a server warehouse (Postgres, configured only by
RETURNING_DESTINATION and dlt's credentials variable) exactly as into the DuckDB file: the raw tables
hold the truth, every model is built, every check passes, and the password is nowhere in Dagster's
records. DuckDB's side is the shared load (tests/assets/test_materialize.py)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from dagster._serdes import serialize_value

from assets.checks import build_checks
from assets.ingest import build_ingest_assets
from assets.models import build_model_assets
from assets.resources import WAREHOUSE_POOL, Warehouse
from pipelines.tables import RESOURCES as RAW_TABLES
from tests.assets.conftest import first_load, resources_for
from tests.assets.test_materialize import check_results
from tests.simadmin import SimAdmin
from warehouse.location import MODELS_SCHEMA, RAW_SCHEMA


def test_definitions_for_a_server_name_it_and_pool_per_table() -> None:
    from assets.definitions import definitions_for

    defs = definitions_for("postgres")
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey([RAW_SCHEMA, "users"])).kinds == {"dlt", "postgres"}
    assert graph.get(AssetKey([MODELS_SCHEMA, "dim_users"])).kinds == {"sql", "postgres"}
    pools = {key.to_user_string(): a.op.pool for a in defs.assets or [] for key in a.keys}
    assert pools["returning_raw/users"] == pools["returning_raw/gamification_logs"] == "returning_raw"
    assert pools["analytics/dim_users"] == "analytics.dim_users"
    assert pools["analytics/cohort_retention"] == "analytics.cohort_retention"
    assert WAREHOUSE_POOL not in pools.values()
    assert {c.op.pool for c in defs.asset_checks or []} == {None}  # readers need no slot on a server


def test_warehouse_resource_reads_the_environment_at_run_time(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from returning_errors import ConfigError

    resource = Warehouse()
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert (resource.location().destination, resource.location().path) == ("postgres", tmp_path / "w.duckdb")
    assert Warehouse(destination="duckdb").location().embedded
    with pytest.raises(ConfigError, match="never a URL"):
        Warehouse(destination="postgresql://u:secret@host/db").location()


@pytest.mark.parametrize("destination", ["postgres"], indirect=True)
def test_ingest_and_models_materialize_into_postgres(destination: str, sim: SimAdmin,
                                                     api_env: dict[str, str]) -> None:
    password = unquote(urlsplit(api_env["DESTINATION__POSTGRES__CREDENTIALS"]).password or "")
    assert password
    resources = resources_for(sim.base_url, Path(api_env["RETURNING_WAREHOUSE"]), destination=destination)
    with DagsterInstance.ephemeral() as instance, first_load(sim) as first:
        result = materialize([*build_ingest_assets(destination), *build_model_assets(destination=destination),
                              *build_checks(destination)], instance=instance, resources=resources,
                             raise_on_error=False, **first)
        records = serialize_value(result.dagster_run) + "".join(
            serialize_value(e) for e in instance.all_logs(result.run_id))
    failures = [e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures
    assert [k for k, ok in check_results(result).items() if not ok] == []
    assert password not in records  # run config, tags, events, metadata, logs

    truth = sim.truth()
    warehouse: Warehouse = resources["warehouse"]
    assert not warehouse.embedded
    with warehouse.connection(read_only=True) as con:
        assert con.location.destination == "postgres"
        for table in RAW_TABLES:
            if table == "users":  # deleted users stay, flagged
                live = con.fetchone("SELECT count(*) FROM returning_raw.users WHERE NOT coalesce(is_deleted, false)")
                assert live is not None and live[0] == truth["users"]["count"]
            else:
                found = con.fetchone(f'SELECT count(*) FROM {RAW_SCHEMA}."{table}"') if con.table_exists(
                    RAW_SCHEMA, table) else (0,)
                assert found is not None and found[0] == truth[table]["count"], table
        models = {m.key.path[-1] for m in build_model_assets(destination=destination)}
        assert set(con.tables(MODELS_SCHEMA)) >= models
        rows = {m: con.fetchone(f'SELECT count(*) FROM {MODELS_SCHEMA}."{m}"')[0] for m in models}  # type: ignore[index]
    # models of the API's data hold rows; those of webhook deliveries none (no receiver registered here)
    from warehouse.models import discover_models

    webhook_models = {m.name for m in discover_models() if "webhook_events" in m.raw_deps}
    assert [m for m, n in rows.items() if (n > 0) == (m in webhook_models)] == [], rows
    for name, n in rows.items():  # the metadata counts what the table holds
        [mat] = [m for m in result.asset_materializations_for_node(f"{MODELS_SCHEMA}__{name}")]
        assert mat.metadata["dagster/row_count"].value == n
