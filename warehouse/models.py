"""SQL models: every `models/*.sql` file is one SELECT, built as a table in schema `analytics`.

A model's dependencies are read from its SQL with sqlglot: a schema-qualified table
(`returning_raw.users`) is a raw table; an unqualified name or `analytics.<name>` that matches
another model file is that model. Dropping a new `.sql` file in the folder adds a model.
The SQL is written in DuckDB's dialect, kept to what sqlglot transpiles to postgres and snowflake.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

MODELS_DIR = Path(__file__).parent / "models"
MODELS_SCHEMA = "analytics"
RAW_SCHEMA = "returning_raw"
DIALECT = "duckdb"


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

    def transpile(self, dialect: str) -> str:
        """The SELECT rewritten for another engine (e.g. `postgres`, `snowflake`)."""
        return sqlglot.transpile(self.sql, read=DIALECT, write=dialect, pretty=True)[0]


def _tables_read(sql: str) -> set[tuple[str, str]]:
    """(schema, table) pairs a SELECT reads, without its CTE names; schema '' when unqualified."""
    tree = sqlglot.parse_one(sql, read=DIALECT)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    out: set[tuple[str, str]] = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        schema = (table.db or "").lower()
        if not name or (not schema and name in ctes):
            continue
        out.add((schema, name))
    return out


def load_model(path: Path, known_models: Iterable[str]) -> Model:
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    known = set(known_models)
    raw: set[str] = set()
    models: set[str] = set()
    for schema, name in _tables_read(sql):
        if schema == RAW_SCHEMA:
            raw.add(name)
        elif schema in ("", MODELS_SCHEMA) and name in known:
            models.add(name)
        elif schema == MODELS_SCHEMA:
            raise ValueError(f"{path.name}: reads {schema}.{name}, but no model file {name}.sql exists")
    return Model(name=path.stem, path=path, sql=sql, raw_deps=tuple(sorted(raw)),
                 model_deps=tuple(sorted(models - {path.stem})))


def discover_models(models_dir: Path = MODELS_DIR) -> list[Model]:
    """Every model in the folder, in dependency order."""
    paths = sorted(models_dir.glob("*.sql"))
    names = [p.stem for p in paths]
    models = {m.name: m for m in (load_model(p, names) for p in paths)}
    order = TopologicalSorter({m.name: set(m.model_deps) for m in models.values()}).static_order()
    return [models[name] for name in order]


@dataclass(frozen=True)
class BuildResult:
    model: str
    rows: int
    columns: list[tuple[str, str]]
    seconds: float


def build_model(con: duckdb.DuckDBPyConnection, model: Model) -> BuildResult:
    """(Re)build `analytics.<model>` from its SELECT in one transaction."""
    started = time.monotonic()
    target = f'{MODELS_SCHEMA}."{model.name}"'
    con.execute("SET TimeZone = 'UTC'")  # timestamptz -> date casts are UTC days, as the API's dates
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {MODELS_SCHEMA}")
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {model.sql}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    rows = con.execute(f"SELECT count(*) FROM {target}").fetchone()
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [MODELS_SCHEMA, model.name],
    ).fetchall()
    return BuildResult(model.name, int(rows[0]) if rows else 0, [(c, t) for c, t in columns],
                       time.monotonic() - started)


def build_all(con: duckdb.DuckDBPyConnection, models_dir: Path = MODELS_DIR) -> list[BuildResult]:
    """Build every model in dependency order (outside Dagster: scripts and tests)."""
    return [build_model(con, m) for m in discover_models(models_dir)]
