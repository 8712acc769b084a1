"""Push definitions: SQL files under `warehouse/reverse_etl/` with a header naming what to push where.

A definition is one `.sql` file. Its leading `--` comment block (or a sidecar `<stem>.toml` with the
same keys, which wins) says:

    -- target: users                 users (8.1 bulk update) or premium_currency (8.2)
    -- key: email                    the key column (only `email` is supported by the API)
    -- columns: coins=add, segment   each column to push and its operator (add|subtract|overwrite);
    --                               a column without `=op` is overwritten
    -- period: week_start            a column of the result naming the period a delta belongs to
    --                               (required when any column adds or subtracts)
    -- schedule: 0 6 * * 1           cron expression for the Dagster schedule (optional)
    -- retries: 2                    how many later runs retry a row the server rejected
    -- description: ...              one line for people

The query's other columns (like the period column) are read but never sent.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "reverse_etl"

OPERATORS = ("add", "subtract", "overwrite")
DELTA_OPERATORS = ("add", "subtract")
TARGETS = ("users", "premium_currency")
DEFAULT_RETRIES = 2

_HEADER_LINE = re.compile(r"^-- ?([a-z_]+):\s*(.*?)\s*$")  # `-- key: value`; indented lines continue
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class DefinitionError(ValueError):
    """A definition file is malformed. Configuration error: exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Definition:
    name: str
    path: Path
    sql: str
    target: str
    key: str
    columns: dict[str, str]  # column -> operator, in CSV order
    period: str | None = None
    schedule: str | None = None
    retries: int = DEFAULT_RETRIES
    description: str = ""
    tables: tuple[str, ...] = field(default=())  # "schema.table" the SQL reads

    @property
    def delta_columns(self) -> list[str]:
        return [c for c, op in self.columns.items() if op in DELTA_OPERATORS]

    @property
    def overwrite_columns(self) -> list[str]:
        return [c for c, op in self.columns.items() if op == "overwrite"]

    @property
    def endpoint(self) -> str:
        return "bulk_update_users" if self.target == "users" else "bulk_update_premium_currency"


def _parse_header(sql: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    last: str | None = None
    for raw in sql.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        m = _HEADER_LINE.match(line)
        if m:
            last = m.group(1).lower()
            out[last] = m.group(2)
        elif last == "description":  # continuation lines of the description
            out[last] = f"{out[last]} {line.lstrip('-').strip()}".strip()
    return out


def _parse_columns(spec: Any, where: str) -> dict[str, str]:
    if isinstance(spec, dict):
        items = [(str(k), str(v)) for k, v in spec.items()]
    else:
        items = []
        for part in str(spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            col, _, op = part.partition("=")
            items.append((col.strip(), (op.strip() or "overwrite")))
    columns: dict[str, str] = {}
    for col, op in items:
        if not col:
            raise DefinitionError(f"{where}: empty column name in `columns`")
        if op not in OPERATORS:
            raise DefinitionError(f"{where}: column {col!r} has operator {op!r}; use one of {', '.join(OPERATORS)}")
        if col in columns:
            raise DefinitionError(f"{where}: column {col!r} listed twice")
        columns[col] = op
    if not columns:
        raise DefinitionError(f"{where}: no `columns` to push")
    return columns


def tables_read(sql: str) -> tuple[str, ...]:
    """The `schema.table` names a query reads (CTE names excluded), sorted."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise DefinitionError(f"SQL does not parse: {exc}") from exc
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    names = set()
    for t in tree.find_all(exp.Table):
        if not t.db and t.name in ctes:
            continue
        names.add(f"{t.db}.{t.name}" if t.db else t.name)
    return tuple(sorted(names))


def load_definition(path: Path) -> Definition:
    sql = path.read_text(encoding="utf-8")
    meta: dict[str, Any] = _parse_header(sql)
    sidecar = path.with_suffix(".toml")
    if sidecar.exists():
        meta.update(tomllib.loads(sidecar.read_text(encoding="utf-8")))
    where = str(path.name)
    name = str(meta.get("name") or path.stem)
    if not _NAME.match(name):
        raise DefinitionError(f"{where}: name {name!r} must be lowercase letters, digits and _")
    target = str(meta.get("target", "users"))
    if target not in TARGETS:
        raise DefinitionError(f"{where}: target {target!r}; use one of {', '.join(TARGETS)}")
    key = str(meta.get("key", "email"))
    if key != "email":
        raise DefinitionError(f"{where}: key column {key!r}; the bulk-update API keys on `email`")
    columns = _parse_columns(meta.get("columns"), where)
    if target == "premium_currency" and list(columns) != ["premium_currency"]:
        raise DefinitionError(f"{where}: a premium_currency push sends exactly the column `premium_currency`")
    period = str(meta["period"]) if meta.get("period") else None
    if period is None and any(op in DELTA_OPERATORS for op in columns.values()):
        raise DefinitionError(f"{where}: add/subtract columns need a `period` column for the push key")
    try:
        retries = int(meta.get("retries", DEFAULT_RETRIES))
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{where}: retries must be a whole number") from exc
    if retries < 0:
        raise DefinitionError(f"{where}: retries must be 0 or more")
    schedule = str(meta["schedule"]).strip() if meta.get("schedule") else None
    if schedule and len(schedule.split()) != 5:
        raise DefinitionError(f"{where}: schedule {schedule!r} is not a 5-field cron expression")
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--")).strip()
    body = body.rstrip(";").strip()
    if not body:
        raise DefinitionError(f"{where}: no SQL after the header")
    return Definition(
        name=name, path=path, sql=body, target=target, key=key, columns=columns, period=period,
        schedule=schedule, retries=retries, description=str(meta.get("description", "")),
        tables=tables_read(body),
    )


def list_definitions(directory: Path | None = None) -> list[Definition]:
    """Every definition in `directory` (default `warehouse/reverse_etl/`), sorted by name."""
    directory = directory or DEFINITIONS_DIR
    defs = [load_definition(p) for p in sorted(directory.glob("*.sql"))]
    seen: set[str] = set()
    for d in defs:
        if d.name in seen:
            raise DefinitionError(f"two definitions are named {d.name!r}")
        seen.add(d.name)
    return sorted(defs, key=lambda d: d.name)


def get_definition(name: str, directory: Path | None = None) -> Definition:
    for d in list_definitions(directory):
        if d.name == name:
            return d
    known = ", ".join(d.name for d in list_definitions(directory)) or "none"
    raise DefinitionError(f"no push definition named {name!r} (known: {known})")
