"""A warehouse as dlt sees it: its destination and, for a server, dlt's SQL client with the
credentials dlt resolves by its own conventions (`DESTINATION__POSTGRES__CREDENTIALS`, or
`[destination.postgres]` in `.dlt/secrets.toml`). dlt is imported only when one is asked for.

This module knows a warehouse only by the `WarehouseLocation` it is handed, so `warehouse.location`
can name a server's host here (`credential_summary`) without the two importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from returning_errors import ConfigError

if TYPE_CHECKING:
    from warehouse.location import WarehouseLocation

# `replace` tables (tiers, statuses, field definitions, channels) load into the staging dataset and
# are swapped in by one transaction: a load killed midway leaves the old rows, never a half-replaced
# table (dlt's default, truncate-and-insert, empties the table as the load starts)
ATOMIC_REPLACE = "insert-from-staging"
SCHEMA_NAME = "returning_ai"  # the dlt schema of the sync's pipeline
# dataset names as given: dlt's snake_case would fold a community's `returning_raw__acme` into
# `returning_raw_acme` (names without a double underscore, the default community's, are unchanged)
AS_NAMED = {"enable_dataset_name_normalization": False}


def dlt_destination(location: WarehouseLocation, connection: Any = None) -> Any:
    """The dlt destination for `location` (DuckDB: the file, or the connection the sync holds)."""
    import dlt
    from dlt.common.destination import Destination
    from dlt.common.destination.exceptions import UnknownDestinationModule

    if location.destination == "duckdb":
        return dlt.destinations.duckdb(connection if connection is not None else str(location.file),
                                       replace_strategy=ATOMIC_REPLACE, **AS_NAMED)
    # a community with a database of its own: dlt's named destination (`[destination.<name>]`)
    named = {"destination_name": location.destination_name} if location.destination_name else {}
    try:
        if location.destination == "postgres":
            return Destination.from_reference(location.destination, replace_strategy=ATOMIC_REPLACE,
                                              **AS_NAMED, **named)
        return Destination.from_reference(location.destination, **AS_NAMED, **named)
    except UnknownDestinationModule:
        raise ConfigError(
            f"unknown destination {location.destination!r} (RETURNING_DESTINATION): name a dlt destination "
            "such as duckdb, postgres, motherduck, snowflake or bigquery") from None
    except Exception as exc:  # a destination whose driver is not installed
        raise ConfigError(
            f"destination {location.destination!r} cannot be used: {str(exc).splitlines()[0]} "
            f"(install its dlt extra, e.g. pip install 'dlt[{location.destination}]')") from None


def sql_client(location: WarehouseLocation, dataset: str) -> Any:
    """dlt's SQL client for a server destination on `dataset`, credentials resolved by dlt (not yet
    connected): the client of dlt's own dataset API (`dlt.dataset`), given the sync's schema so that
    nothing is read from the warehouse to find it."""
    import dlt
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    try:
        return dlt.dataset(dlt_destination(location), dataset, schema=dlt.Schema(SCHEMA_NAME)).sql_client
    except ConfigFieldMissingException:
        raise ConfigError(missing_credentials(location)) from None


def missing_credentials(location: WarehouseLocation) -> str:
    name = location.destination_name or location.destination
    return (f"no credentials for destination {name!r}: set DESTINATION__{name.upper()}__CREDENTIALS "
            f"or [destination.{name}] credentials in .dlt/secrets.toml")


def credential_summary(location: WarehouseLocation, dataset: str) -> str:
    """`at host:port/database` from dlt's resolved credentials (never the password); '' if unknown."""
    try:
        creds = sql_client(location, dataset).credentials
    except Exception:  # noqa: BLE001 - no credentials yet: the caller says so itself
        return ""
    host = getattr(creds, "host", None) or getattr(creds, "account", None) or getattr(creds, "project_id", None)
    port = getattr(creds, "port", None)
    database = getattr(creds, "database", None)
    where = f"{host}:{port}" if host and port else str(host or "")
    return f"at {where}/{database}" if database else (f"at {where}" if where else "")
