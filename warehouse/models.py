"""SQL models: every `models/*.sql` file is one SELECT, built as a table in schema `analytics`.

A model's dependencies are read from its SQL with sqlglot: a schema-qualified table
(`returning_raw.users`) is a raw table; an unqualified name or `analytics.<name>` that matches
another model file is that model. Dropping a new `.sql` file in the folder adds a model;
`RETURNING_MODELS_DIR` names extra folders, read after the shipped one (a file of the same name
replaces the shipped model).

The SQL is written in DuckDB's dialect and transpiled by sqlglot to the warehouse's. A model is
materialized atomically, so a reader sees the old table or the new one, never a half-built one
(`materialization`): DuckDB, Snowflake and BigQuery replace the table in one statement
(`CREATE OR REPLACE TABLE`, in a transaction on DuckDB); Postgres and other engines with
transactional DDL build `analytics.<name>__building`, drop the old table and rename the new one in
one transaction; on Postgres the views that read the model (the share's, the union's, analysts' own)
are saved, dropped and created again in that transaction (`warehouse.dependent_views`), with their
grants. Day boundaries are UTC on every engine.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from returning_errors import ConfigError
from warehouse import dependent_views
from warehouse.connection import Connection
from warehouse.errors import WarehouseError
from warehouse.lineage import tables_read
from warehouse.location import MODELS_SCHEMA, RAW_SCHEMA, SQL_DIALECT, WarehouseLocation, user_folders

__all__ = ["MODELS_DIR", "MODELS_SCHEMA", "RAW_SCHEMA", "BuildResult", "Materialization", "Model",
           "ModelError", "build_all", "build_model", "discover_models", "materialization", "model_dirs",
           "select_models"]

MODELS_DIR = Path(__file__).parent / "models"
MODELS_DIR_ENV = "RETURNING_MODELS_DIR"
DIALECT = SQL_DIALECT
BUILDING_SUFFIX = "__building"
NAME = re.compile(r"[a-z_][a-z0-9_]*")  # the table name on every engine, unquoted

# engines where `CREATE OR REPLACE TABLE ... AS` swaps the table atomically
REPLACE_IN_ONE_STATEMENT = frozenset({"duckdb", "snowflake", "bigquery", "databricks"})
# statements that make timestamp -> date casts UTC days, as the API's dates (BigQuery: always UTC)
UTC_SESSION = {
    "duckdb": "SET TimeZone = 'UTC'",
    "postgres": "SET LOCAL TIME ZONE 'UTC'",
    "redshift": "SET TIME ZONE 'UTC'",
    "snowflake": "ALTER SESSION SET TIMEZONE = 'UTC'",
}


class ModelError(ConfigError):
    """A model folder or selection is wrong: unknown model, bad file name, a missing upstream model."""


@dataclass(frozen=True)
class Model:
    """One SQL model: its name (the file stem), its SELECT and the tables it reads."""

    name: str
    path: Path
    sql: str
    raw_deps: tuple[str, ...] = field(default_factory=tuple)  # tables in `returning_raw`
    model_deps: tuple[str, ...] = field(default_factory=tuple)  # other models

    @property
    def description(self) -> str:
        """The leading `--` comment block of the file, if any."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line.removeprefix("--").strip())
        return "\n".join(lines).strip()

    @property
    def table(self) -> str:
        return f"{MODELS_SCHEMA}.{self.name}"

    def transpile(self, dialect: str) -> str:
        """The SELECT rewritten for another engine (e.g. `postgres`, `snowflake`)."""
        if dialect == DIALECT:
            return self.sql
        return sqlglot.transpile(self.sql, read=DIALECT, write=dialect, pretty=True)[0]


# -- discovery ------------------------------------------------------------------------------------

def model_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The shipped folder, then each folder of RETURNING_MODELS_DIR (os.pathsep-separated)."""
    return user_folders(MODELS_DIR, MODELS_DIR_ENV, ModelError, environ)


def load_model(path: Path, known_models: Iterable[str]) -> Model:
    if not NAME.fullmatch(path.stem) or path.stem.endswith(BUILDING_SUFFIX):
        raise ModelError(f"{path}: a model's file name is its table name: lowercase letters, digits and "
                         f"underscores, not ending in {BUILDING_SUFFIX}")
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    known = set(known_models)
    raw: set[str] = set()
    models: set[str] = set()
    try:
        tables = tables_read(sql)
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{path}: not a SELECT sqlglot can read as DuckDB SQL: "
                         f"{str(exc).splitlines()[0]}") from None
    for schema, name in tables:
        if schema == RAW_SCHEMA:
            raw.add(name)
        elif schema in ("", MODELS_SCHEMA) and name in known:
            models.add(name)
        elif schema == MODELS_SCHEMA:
            raise ModelError(f"{path.name}: reads {schema}.{name}, but no model file {name}.sql exists")
    return Model(name=path.stem, path=path, sql=sql, raw_deps=tuple(sorted(raw)),
                 model_deps=tuple(sorted(models - {path.stem})))


def discover_models(models_dir: Path | Sequence[Path] | None = None) -> list[Model]:
    """Every model, in dependency order. By default the shipped folder plus RETURNING_MODELS_DIR;
    given folders are read in order, a later file of the same name replacing an earlier one."""
    if models_dir is None:
        dirs = model_dirs()
    elif isinstance(models_dir, str | os.PathLike):
        dirs = [Path(models_dir)]
    else:
        dirs = [Path(d) for d in models_dir]
    paths: dict[str, Path] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.sql")):
            paths[path.stem] = path
    models = {m.name: m for m in (load_model(p, paths) for p in paths.values())}
    order = TopologicalSorter({m.name: set(m.model_deps) for m in models.values()}).static_order()
    return [models[name] for name in order]


def select_models(models: Sequence[Model], select: Iterable[str] | None) -> list[Model]:
    """The models a selection names, in dependency order: `name` is that model only, `+name` adds
    everything it reads (upstream), `name+` everything that reads it (downstream). None: all."""
    if select is None:
        return list(models)
    by_name = {m.name: m for m in models}
    downstream: dict[str, set[str]] = {m.name: set() for m in models}
    for m in models:
        for dep in m.model_deps:
            downstream[dep].add(m.name)

    def closure(start: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    upstream = {m.name: m.model_deps for m in models}
    chosen: set[str] = set()
    for raw in select:
        token = raw.strip()
        if not token:
            continue
        name = token.strip("+")
        if name not in by_name:
            raise ModelError(f"unknown model {name!r}; the models are: {', '.join(sorted(by_name))}")
        chosen.add(name)
        if token.startswith("+"):
            chosen |= closure(name, upstream)
        if token.endswith("+"):
            chosen |= closure(name, downstream)
    return [m for m in models if m.name in chosen]


# -- materialization ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Materialization:
    """The statements that (re)build one model, in the destination's dialect."""

    statements: tuple[str, ...]
    transaction: bool  # run them in one transaction (else each statement is atomic by itself)
    swap: int | None = None  # index of the statement that drops the old table (build-and-rename plans)


def _ddl(sql: str, dialect: str) -> str:
    return sql if dialect == DIALECT else sqlglot.transpile(sql, read=DIALECT, write=dialect)[0]


def _create_as(table: str, model: Model, dialect: str, *, replace: bool) -> str:
    """`CREATE [OR REPLACE] TABLE table AS <the model's SELECT>` in `dialect` (DuckDB: the file's text)."""
    if dialect == DIALECT:
        return f"CREATE {'OR REPLACE ' if replace else ''}TABLE {table} AS\n{model.sql}"
    select = sqlglot.parse_one(model.sql, read=DIALECT)
    create = exp.Create(this=exp.to_table(table), kind="TABLE", expression=select, replace=replace)
    return create.sql(dialect=dialect, pretty=True)


def materialization(model: Model, dialect: str) -> Materialization:
    """How `model` is built atomically on `dialect` (a sqlglot dialect, `WarehouseLocation.dialect`)."""
    setup = [UTC_SESSION[dialect]] if dialect in UTC_SESSION else []
    if dialect in REPLACE_IN_ONE_STATEMENT:
        # DuckDB's file admits one writer: a transaction there keeps readers of the old table whole;
        # Snowflake and BigQuery commit each DDL statement, and CREATE OR REPLACE is atomic there
        replace = _create_as(model.table, model, dialect, replace=True)
        return Materialization((*setup, replace), transaction=dialect == "duckdb")
    building = f"{model.table}{BUILDING_SUFFIX}"
    lock = ([f"SELECT pg_advisory_xact_lock(hashtext('returning_models.{model.name}'))"]
            if dialect == "postgres" else [])  # two builds of one model queue instead of colliding
    return Materialization((
        *setup,
        *lock,
        _ddl(f"DROP TABLE IF EXISTS {building}", dialect),
        _create_as(building, model, dialect, replace=False),
        _ddl(f"DROP TABLE IF EXISTS {model.table}", dialect),
        _ddl(f"ALTER TABLE {building} RENAME TO {model.name}", dialect),
    ), transaction=True, swap=len(setup) + len(lock) + 2)


@dataclass(frozen=True)
class BuildResult:
    model: str
    rows: int
    columns: list[tuple[str, str]]
    seconds: float


def _port(con: Any) -> Connection:
    """The port's connection; a bare DuckDB connection (scripts, older callers) is wrapped."""
    return con if isinstance(con, Connection) else Connection(WarehouseLocation(destination="duckdb"), con)


def ensure_schema(con: Connection) -> None:
    """Schema `analytics`, created outside the build's transaction (two first builds may race)."""
    exists = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?"
    row = con.fetchone(exists, [MODELS_SCHEMA])
    if row and row[0]:
        return
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {MODELS_SCHEMA}")
    except WarehouseError:
        row = con.fetchone(exists, [MODELS_SCHEMA])
        if not (row and row[0]):
            raise


def build_model(con: Connection, model: Model) -> BuildResult:
    """(Re)build `analytics.<model>` atomically on the connection's warehouse."""
    con = _port(con)
    started = time.monotonic()
    plan = materialization(model, con.dialect)
    ensure_schema(con)
    try:
        if plan.transaction:
            with con.transaction():
                _run_plan(con, plan, model)
        else:
            for statement in plan.statements:
                con.execute_native(statement)
    except WarehouseError as exc:
        exc.args = (f"model {model.name} ({model.path}): {exc}",)
        raise
    rows = con.fetchone(f"SELECT count(*) FROM {model.table}")
    return BuildResult(model.name, int(rows[0]) if rows else 0, con.columns(MODELS_SCHEMA, model.name),
                       time.monotonic() - started)


def _run_plan(con: Connection, plan: Materialization, model: Model) -> None:
    """The plan's statements, in the open transaction. Where views bind to their tables (Postgres),
    the views that read the model are saved before the swap and created again after it, and the old
    table's owner, grants and comments go to the new one (`warehouse.dependent_views`): the
    analysts' share and union views, and what was granted on the model, survive the rebuild."""
    keep = plan.swap is not None and dependent_views.binds_views(con.dialect)
    schema = con.schema(MODELS_SCHEMA)
    rights: dependent_views.Rights | None = None
    views: list[dependent_views.SavedView] = []
    for i, statement in enumerate(plan.statements):
        if keep and i == plan.swap:
            rights = dependent_views.table_rights(con, schema, model.name)
            views = dependent_views.save(con, schema, model.name)
            dependent_views.drop(con, views)
        con.execute_native(statement)
    if keep:
        if rights is not None:
            dependent_views.restore_table(con, schema, model.name, rights)
        dependent_views.restore(con, views, f"{schema}.{model.name}")


def build_all(con: Connection, models_dir: Path | Sequence[Path] | None = None,
              select: Iterable[str] | None = None) -> list[BuildResult]:
    """Build the models (all, or a `select_models` selection) in dependency order, outside Dagster."""
    con = _port(con)
    return [build_model(con, m) for m in select_models(discover_models(models_dir), select)]
