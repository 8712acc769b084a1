"""Where the warehouse is: the one place that decides it (docs/interfaces.md, Environment).

`RETURNING_DESTINATION` names any dlt destination (`duckdb` by default). Its credentials follow dlt's
own conventions only (`DESTINATION__POSTGRES__CREDENTIALS`, or `[destination.postgres]` in
`.dlt/secrets.toml`); this module never reads them itself, it asks dlt. `RETURNING_WAREHOUSE` is the
DuckDB file, and on every destination the folder beside it keeps dlt's local working directory and
the sync lock. Both resolve in the project's one order (`warehouse.configuration`): an explicit
argument, the `RETURNING_*` variable, then dlt's `sources.returning_ai.destination` / `.warehouse`.
Schema names are the same everywhere.

Several communities share a warehouse by schema: the location of community `acme` holds
`returning_raw__acme`, `analytics__acme`, ... (`community_schema`); the default community keeps the
canonical names. Code and SQL name the canonical schemas only; the connection rewrites them
(`WarehouseLocation.schema_map`, applied by `warehouse.connection`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from returning_errors import ConfigError
from warehouse.configuration import ALIASES, Lookup, aliases_of, as_text
from warehouse.destination import credential_summary

DEFAULT_DESTINATION = "duckdb"
DEFAULT_WAREHOUSE = "warehouse/returning.duckdb"
RAW_SCHEMA = "returning_raw"
MODELS_SCHEMA = "analytics"
PUSH_SCHEMA = "reverse_etl"
PRIVATE_SCHEMA = "returning_private"
SHARE_SCHEMA = "analytics_share"
UNION_SCHEMA = "analytics_all"  # union views across communities (`warehouse.union`)
# the schemas a community has its own copy of (its SQL and code name these; the connection maps them)
COMMUNITY_SCHEMAS = (RAW_SCHEMA, MODELS_SCHEMA, PUSH_SCHEMA, PRIVATE_SCHEMA, SHARE_SCHEMA)
DEFAULT_COMMUNITY = "default"  # the single-community configuration of before: canonical names
SQL_DIALECT = "duckdb"  # every SQL file and query of the project is written in DuckDB's dialect

# dlt destination -> sqlglot dialect (destinations not listed: their own name)
DIALECTS = {
    "duckdb": "duckdb", "motherduck": "duckdb", "ducklake": "duckdb", "postgres": "postgres",
    "redshift": "redshift", "snowflake": "snowflake", "bigquery": "bigquery", "mssql": "tsql",
    "synapse": "tsql", "databricks": "databricks", "clickhouse": "clickhouse", "athena": "athena",
    "dremio": "dremio", "fabric": "tsql", "sqlalchemy": "postgres",
}
EMBEDDED = ("duckdb",)  # a file on this machine: one writing process at a time
LOCATION_ALIASES = aliases_of("destination", "warehouse")


@dataclass(frozen=True)
class WarehouseLocation:
    """A warehouse: a dlt destination name and, for DuckDB, its file."""

    destination: str = DEFAULT_DESTINATION
    path: Path = Path(DEFAULT_WAREHOUSE)
    community: str = DEFAULT_COMMUNITY  # whose schemas a connection to this location reads and writes
    # a server database of the community's own: dlt's named destination, its credentials under
    # `[destination.<name>]` (None: the destination's own credentials, `[destination.postgres]`)
    destination_name: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, destination: str | None = None,
                 path: str | os.PathLike[str] | None = None) -> WarehouseLocation:
        """`environ` None: the process environment and dlt's providers; a mapping: it alone."""
        explicit = {"destination": destination, "warehouse": path}
        return cls.resolve(Lookup(explicit, environ, error=ConfigError))

    @classmethod
    def resolve(cls, settings: Lookup) -> WarehouseLocation:
        destination, path = settings.first("destination"), settings.first("warehouse")
        return cls(destination=as_text(destination, settings.error).lower() if destination else DEFAULT_DESTINATION,
                   path=Path(as_text(path, settings.error)) if path else Path(DEFAULT_WAREHOUSE))

    def for_community(self, community: str) -> WarehouseLocation:
        """The same warehouse, scoped to `community`'s schemas."""
        return replace(self, community=community)

    def schema(self, name: str) -> str:
        """`name` as this location's community has it (`analytics` -> `analytics__acme`)."""
        return community_schema(name, self.community)

    @property
    def schema_map(self) -> Mapping[str, str]:
        """Canonical schema -> this community's schema; empty for the default community (no rewrite)."""
        if self.community == DEFAULT_COMMUNITY:
            return {}
        return {name: community_schema(name, self.community) for name in COMMUNITY_SCHEMAS}

    @property
    def dialect(self) -> str:
        return DIALECTS.get(self.destination, self.destination)

    @property
    def embedded(self) -> bool:
        """A DuckDB file: DuckDB admits one writing process and, meanwhile, no reader."""
        return self.destination in EMBEDDED

    @property
    def file(self) -> Path:
        return self.path.expanduser().resolve()

    @property
    def workdir(self) -> Path:
        """dlt's working directory and the sync lock: beside the DuckDB file (on any destination)."""
        return self.file.parent / ".dlt"

    @property
    def pipelines_dir(self) -> Path:
        # one folder per destination, so switching destination never mixes two pipelines' local state
        return self.workdir / ("pipelines" if self.destination == DEFAULT_DESTINATION else f"pipelines-{self.destination}")

    def describe(self) -> str:
        """A line naming the warehouse for messages: never a password."""
        if self.embedded:
            return f"duckdb file {self.path}"
        return f"{self.destination} {credential_summary(self, self.schema(RAW_SCHEMA))}".strip()


def community_schema(schema: str, community: str) -> str:
    """`schema` for `community`: `returning_raw__acme`; the default community and schemas no community
    owns (`seeds`, `information_schema`, `analytics_all`) keep their names."""
    if community == DEFAULT_COMMUNITY or schema not in COMMUNITY_SCHEMAS:
        return schema
    return f"{schema}__{community}"


def user_folders(shipped: Path, variable: str, error: type[Exception],
                 environ: Mapping[str, str] | None = None, setting: str | None = None) -> list[Path]:
    """The shipped folder, then each folder `variable` names (os.pathsep-separated): where the user's
    own models, push definitions and seeds live beside the shipped ones. With `setting`, it resolves
    as every setting does (the variable, then `sources.returning_ai.<setting>` in dlt's providers,
    where a list of folders may be given too). A name that is not a folder raises `error` with one
    line naming where it was set."""
    # without `setting`, the variable alone (dlt's `ReturningAliases`, none of dlt's other providers)
    name = setting or variable.removeprefix("RETURNING_").lower()
    if ALIASES.get(name) != variable:
        raise ValueError(f"{variable} is not the documented variable of {name} (warehouse.configuration.ALIASES)")
    found = Lookup(None, environ, providers=None if setting else False, error=error).first(name)
    if found is None:
        return [shipped]
    if isinstance(found.value, list) and all(isinstance(p, str) for p in found.value):
        names = list(found.value)
    else:
        names = as_text(found, error).split(os.pathsep)
    extra = [Path(p.strip()).expanduser() for p in names if p.strip()]
    for folder in extra:
        if not folder.is_dir():
            raise error(f"{found.name} names {folder}, which is not a folder ({found.place})")
    return [shipped, *extra]
