"""Dagster resources: the warehouse, the API settings and dlt. Injected, so tests swap them.

`Warehouse` is the one place that says where data lives (a dlt destination and, for DuckDB, its
file); the client's settings for a run are built from both resources (`ReturningApiSettings.settings
(warehouse)`), so the load, the models, the checks and the pushes can never point at two places.
A field that is set is an explicit argument; unset fields resolve in the project's one order
(`warehouse.configuration`: `RETURNING_*` variables, then dlt's `sources.returning_ai` in the
environment, `.dlt/secrets.toml` or `.dlt/config.toml`) when a run starts, not when the code
location loads.

Pools (`warehouse_pool`): on DuckDB every step that opens the file, readers included, shares the
one pool `duckdb_warehouse` (DuckDB admits one process at a time). On a server destination each
step that writes takes a pool named for what it writes (`returning_raw` for the dlt load, whose
pipeline state and working directory are one; `analytics.<model>`; `reverse_etl.<push>`), and
read-only checks take none: with `concurrency.pools.default_limit: 1` (deploy/dagster.yaml) runs
writing different tables overlap and two runs never rebuild the same table at once. With several
communities a server's writers take no pool (`assets.partitions.CommunityPartitions.writer_pool`).

Communities: `Warehouse.location(slug)` and `ReturningApiSettings.settings(warehouse, slug)` are a
community's warehouse (its schemas, or its own file or database) and settings (its own key); a run
names its community from its partition (assets/partitions.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from dagster import ConfigurableResource
from dagster_dlt import DagsterDltResource

from returning_errors import ConfigError
from warehouse.connection import Connection, connect
from warehouse.location import DEFAULT_COMMUNITY, WarehouseLocation

# On DuckDB every asset or check that opens the file runs in this pool (limit 1), so overlapping
# runs queue for the single-writer lock instead of failing on it.
WAREHOUSE_POOL = "duckdb_warehouse"
INGEST_POOL = "returning_raw"  # server destinations: the dlt load (one pipeline state, one at a time)

class Warehouse(ConfigurableResource):
    """Where data lives. `destination` unset: $RETURNING_DESTINATION or duckdb; `path` unset:
    $RETURNING_WAREHOUSE or warehouse/returning.duckdb (the DuckDB file; on a server destination the
    folder beside it keeps dlt's working directory and the sync lock).

    A server's credentials never go here: dlt reads them by its own conventions
    (`DESTINATION__POSTGRES__CREDENTIALS`, `[destination.postgres]` in `.dlt/secrets.toml`) in the
    process that runs the step, so no password reaches Dagster's run records."""

    destination: str | None = None
    path: str | None = None
    lock_wait_seconds: float = 120.0  # DuckDB: how long a step waits for another process's file lock

    def location(self, community: str = DEFAULT_COMMUNITY) -> WarehouseLocation:
        """The warehouse of `community`: this one in its schemas (`returning_raw__acme`, ...), or the
        DuckDB file or server database its block names for it (pipelines/communities.py)."""
        if self.destination and any(c in self.destination for c in ":/@"):
            raise ConfigError(
                "Warehouse.destination names a dlt destination (duckdb, postgres, ...), never a URL: "
                "credentials go in DESTINATION__<NAME>__CREDENTIALS or .dlt/secrets.toml")
        here = WarehouseLocation.from_env(destination=self.destination, path=self.path)
        if community == DEFAULT_COMMUNITY:
            return here
        from pipelines.communities import community as configured_community

        own = configured_community(community, key_required=False).location
        top = WarehouseLocation.from_env()
        if (own.destination, own.path) == (top.destination, top.path) and own.destination_name is None:
            return here.for_community(community)  # no place of its own: the deployment's, in its schemas
        return own

    @property
    def embedded(self) -> bool:
        return self.location().embedded

    def describe(self) -> str:
        """The warehouse in one line for logs (never a password)."""
        return self.location().describe()

    def has_data(self, community: str = DEFAULT_COMMUNITY) -> bool:
        """False only for a DuckDB file not created yet (nothing loaded, nothing to read)."""
        location = self.location(community)
        return not location.embedded or location.file.exists()

    @contextmanager
    def connection(self, read_only: bool = False, community: str = DEFAULT_COMMUNITY) -> Iterator[Connection]:
        """The warehouse port's connection (SQL in DuckDB's dialect, transpiled for the destination),
        on `community`'s warehouse, its schemas mapped (the SQL names the canonical ones)."""
        con = connect(self.location(community), read_only=read_only, wait_seconds=self.lock_wait_seconds)
        try:
            yield con
        finally:
            con.close()


class ReturningApiSettings(ConfigurableResource):
    """Where the Returning.AI API is and which key to use; unset fields (and every other setting)
    resolve as `pipelines.config.Settings.from_env` does. Where the data goes is the `Warehouse`
    resource's alone.

    Leave `api_key` unset (RETURNING_AI_API_KEY, SOURCES__RETURNING_AI__API_KEY or
    `.dlt/secrets.toml` are read when a run starts) or pass `EnvVar("...")`: Dagster stores a
    literal value in its run records and shows it in the UI."""

    api_key: str | None = None
    base_url: str | None = None
    community_id: str | None = None
    # the first dataset that cannot be read fails the run (the command line's `--strict`); unset, it
    # is skipped, not materialized, its `available` check says why, and the others load
    strict: bool = False

    def settings(self, warehouse: Warehouse, community: str = DEFAULT_COMMUNITY) -> Any:
        """The client's `pipelines.config.Settings` for these values, writing to `warehouse`. Another
        community than `default`: its own settings and key (`pipelines.communities.community`; the
        fields set here are the default community's and never reach another), writing to its
        warehouse (`Warehouse.location`)."""
        from pipelines.config import Settings

        if community != DEFAULT_COMMUNITY:
            return community_settings(warehouse, community)
        location = warehouse.location()
        return Settings.from_env(api_key=self.api_key, base_url=self.base_url, community_id=self.community_id,
                                 destination=location.destination, warehouse=location.path)


def community_settings(warehouse: Warehouse, community: str, *, key_required: bool = True) -> Any:
    """A configured community's own settings (its block over the top level, its key: pipelines/
    communities.py), writing to its warehouse (`Warehouse.location`)."""
    from pipelines.communities import community as configured_community

    location = warehouse.location(community)
    own = configured_community(community, key_required=key_required).settings
    return replace(own, destination=location.destination, warehouse=location.path)


def settings_from(env: Mapping[str, str]) -> Any:
    """Settings from `env` alone (no process environment, no dlt providers): placeholders."""
    from pipelines.config import Settings

    return Settings.from_env(dict(env))


def configured_destination() -> str:
    """The destination named when the definitions load ($RETURNING_DESTINATION, default duckdb):
    asset kinds and pools are fixed then, as Dagster wants them."""
    return WarehouseLocation.from_env().destination


def warehouse_pool(writes: str | None, destination: str | None = None) -> str | None:
    """The pool of a step that writes `writes` (a schema or `schema.table`; None: a step that only
    reads). DuckDB: `duckdb_warehouse` for every step; servers: `writes` itself, or no pool."""
    location = WarehouseLocation(destination=destination or configured_destination())
    if location.embedded:
        return WAREHOUSE_POOL
    return writes


def kinds(destination: str | None, *extra: str) -> set[str]:
    """Asset kinds: the configured destination plus what the asset is (`dlt`, `sql`, `csv`)."""
    return {destination or configured_destination(), *extra}


def check_pool(context: Any, warehouse: Warehouse) -> None:
    """Warn when a step writes the DuckDB file outside its one-slot pool: the definitions were
    loaded for a server destination, or the instance sets no limit on the pool."""
    if not warehouse.embedded:
        return
    pool = getattr(context.op_def, "pool", None)
    if pool != WAREHOUSE_POOL:
        context.log.warning(
            f"this step writes the DuckDB file but runs in pool {pool!r}, not {WAREHOUSE_POOL!r}: the code "
            "location was loaded with another RETURNING_DESTINATION; overlapping runs may wait on the file lock")
        return
    instance = context.instance
    try:
        limited = instance.global_op_concurrency_default_limit is not None or (
            instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count > 0)
    except Exception:  # storages without concurrency support
        limited = False
    if not limited:
        context.log.warning(
            f"pool {WAREHOUSE_POOL!r} has no limit on this Dagster instance, so overlapping runs may fail on "
            "the warehouse lock: start Dagster with `returning-sync ui` (DAGSTER_HOME=.dagster_home), or run "
            f"`dagster instance concurrency set {WAREHOUSE_POOL} 1`")


def default_resources() -> dict[str, Any]:
    return {
        "dlt": DagsterDltResource(),
        "returning": ReturningApiSettings(),
        "warehouse": Warehouse(),
    }
