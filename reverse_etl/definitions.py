"""Push definitions: SQL files under `warehouse/reverse_etl/` (and the folders of RETURNING_PUSH_DIR)
with a header naming what to push where.

A definition is one `.sql` file. Its leading `--` comment block (or a sidecar `<stem>.toml` with the
same keys, which wins) says:

    -- target: users                 users (8.1 bulk update), premium_currency (8.2), or a per-row
    --                               target: message (8.4), redemption_status (8.5), purchase_history (8.6)
    -- key: email                    the key column (only `email` is supported by the API)
    -- columns: coins=add, segment   each column to push and its operator (add|subtract|overwrite);
    --                               a column without `=op` is overwritten
    -- period: week_start            a column of the result naming the period a delta belongs to
    --                               (required when any column adds or subtracts)
    -- schedule: 0 6 * * 1           cron expression for the Dagster schedule (optional)
    -- retries: 2                    how many later runs retry a row the server rejected
    -- description: ...              one line for people

The query's other columns (like the period column) are read but never sent.

Per-row targets (one API call per row, `ROW_TARGETS`) take their key and columns from the target
(docs/interfaces.md, Push targets); `columns:` may name a subset (purchase_history), `key:` if given
must be the target's, and only `message` takes a `period:` (part of its push key).

`RETURNING_PUSH_DIR` names extra folders (os.pathsep-separated) read after the shipped one; a file of
the same name there replaces the shipped definition.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot

from reverse_etl.errors import DefinitionError
from warehouse import lineage
from warehouse.location import user_folders

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "reverse_etl"
PUSH_DIR_ENV = "RETURNING_PUSH_DIR"

OPERATORS = ("add", "subtract", "overwrite")
DELTA_OPERATORS = ("add", "subtract")
CSV_TARGETS = ("users", "premium_currency")


@dataclass(frozen=True)
class RowTarget:
    """A per-row target: the endpoint (pipelines/registry.py), the key column, the sendable columns."""

    endpoint: str
    key: str | None  # None: message, whose push key is (definition, channel, sender, period)
    columns: tuple[str, ...]


ROW_TARGETS: dict[str, RowTarget] = {
    "message": RowTarget("message_send", None, ("channel_id", "sender", "message")),
    "redemption_status": RowTarget("redemption_status_update", "transaction_id", ("status_id",)),
    "purchase_history": RowTarget("purchase_history_update", "purchase_history_id",
                                  ("voucher_code", "voucher_expiry_date", "redemption_instructions")),
}
TARGETS = (*CSV_TARGETS, *ROW_TARGETS)
DEFAULT_RETRIES = 2

_HEADER_LINE = re.compile(r"^-- ?([a-z_]+):\s*(.*?)\s*$")  # `-- key: value`; indented lines continue
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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
    def per_row(self) -> bool:
        """One API call per row (message, redemption_status, purchase_history), not a CSV upload."""
        return self.target in ROW_TARGETS

    @property
    def endpoint(self) -> str:
        if self.target in ROW_TARGETS:
            return ROW_TARGETS[self.target].endpoint
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
        tables = lineage.tables_read(sql)
    except sqlglot.errors.ParseError as exc:
        raise DefinitionError(f"SQL does not parse: {exc}") from exc
    return tuple(sorted(f"{schema}.{name}" if schema else name for schema, name in tables))


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
    period = str(meta["period"]) if meta.get("period") else None
    if target in ROW_TARGETS:
        key, columns = _row_target_columns(target, meta, period, where)
    else:
        key = str(meta.get("key", "email"))
        if key != "email":
            raise DefinitionError(f"{where}: key column {key!r}; the bulk-update API keys on `email`")
        columns = _parse_columns(meta.get("columns"), where)
    if target == "premium_currency" and list(columns) != ["premium_currency"]:
        raise DefinitionError(f"{where}: a premium_currency push sends exactly the column `premium_currency`")
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


def _row_target_columns(target: str, meta: Mapping[str, Any], period: str | None,
                        where: str) -> tuple[str, dict[str, str]]:
    spec = ROW_TARGETS[target]
    key = spec.key or "channel_id"
    if meta.get("key") and str(meta["key"]) != key:
        raise DefinitionError(f"{where}: a {target} push is keyed by its target; key column {meta['key']!r} "
                              f"is not {key!r}")
    if meta.get("columns"):
        columns = _parse_columns(meta["columns"], where)
        bad = [c for c in columns if c not in spec.columns]
        if bad:
            raise DefinitionError(f"{where}: a {target} push sends {', '.join(spec.columns)}; not {', '.join(bad)}")
        if any(op != "overwrite" for op in columns.values()):
            raise DefinitionError(f"{where}: a {target} push takes no operators (its values are sent as they are)")
        if target == "message" and list(columns) != list(spec.columns):
            raise DefinitionError(f"{where}: a message push sends exactly {', '.join(spec.columns)}")
    else:
        columns = {c: "overwrite" for c in spec.columns}
    if period and target != "message":
        raise DefinitionError(f"{where}: a {target} push is an overwrite; `period` belongs to message pushes")
    return key, columns


def push_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The shipped folder, then each folder of RETURNING_PUSH_DIR (os.pathsep-separated)."""
    return user_folders(DEFINITIONS_DIR, PUSH_DIR_ENV, DefinitionError, environ)


def definition_files(directory: Path | None = None) -> list[Path]:
    """The `.sql` files of `directory`, or of the shipped folder and RETURNING_PUSH_DIR's (a later
    folder's file replaces an earlier one of the same name)."""
    by_name: dict[str, Path] = {}
    for folder in [directory] if directory else push_dirs():
        for path in sorted(folder.glob("*.sql")):
            by_name[path.name] = path
    return [by_name[n] for n in sorted(by_name)]


def list_definitions(directory: Path | None = None) -> list[Definition]:
    """Every definition in `directory` (default: `warehouse/reverse_etl/` and RETURNING_PUSH_DIR),
    sorted by name."""
    defs = [load_definition(p) for p in definition_files(directory)]
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
