"""API drift, made visible: a field the API adds, stops sending, or sends with another type.

Three sources, one table (`returning_raw._schema_changes`: `table_name`, `column_name`, `change`,
`before`, `after`, `load_id`):
- `added`: a column dlt added to a table that existed before the load (`load_info.load_packages[*]
  .schema_update`); a table's first load adds its columns and is not drift.
- `retyped`: a value whose type is not its column's. Rows are never dropped for it: dict rows are
  typed by dlt, which coerces what it can and keeps the rest in a variant column (`xp__v_text`, seen
  here as a new column); Arrow batches (`shapes.to_arrow`) coerce a number sent as text losslessly
  and keep what cannot be coerced in the same kind of variant column, and say so in the batch's
  schema metadata (`RETYPED_KEY`), which `Seen.observe` reads.
- `dropped`: a declared field (pipelines/declared.py) absent from rows the table loaded this run
  (`after` says from how many of them).
`Seen.observe` is mapped over every resource's items (pipelines/sync.py `make_source`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from pipelines.declared import DECLARED
from pipelines.shapes import RETYPED_KEY  # Arrow schema metadata: {column: [declared, seen, values]}
from warehouse.connection import append_rows

TABLE = "_schema_changes"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "TEXT"), ("column_name", "TEXT"), ("change", "TEXT"), ("before", "TEXT"), ("after", "TEXT"),
    ("load_id", "TEXT"))
VARIANT = "__v_"  # dlt's variant columns: `<column>__v_<type>`
# the Python types a dict row's value of each declared type arrives as (timestamps and days are
# parsed from text before dlt sees them, so text is their form too)
NATIVE: dict[str, tuple[type, ...]] = {"text": (str,), "bigint": (int,), "double": (int, float), "bool": (bool,)}


@dataclass(frozen=True)
class Change:
    table_name: str
    column_name: str
    change: str  # added | dropped | retyped
    before: str | None
    after: str | None
    load_id: str

    def line(self) -> str:
        if self.change == "added":
            return f"{self.table_name}.{self.column_name} added ({self.after})"
        return f"{self.table_name}.{self.column_name} {self.change}: {self.before} -> {self.after}"


@dataclass
class Seen:
    """What the rows of one run carried, per table (thread-safe: fan-outs yield from worker threads)."""

    rows: dict[str, int] = field(default_factory=dict)
    present: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> field -> rows carrying it
    retyped: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (table, field) -> [before, after, n]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observer(self, table: str) -> Any:
        def observe(item: Any) -> Any:
            self.observe(table, item)
            return item
        return observe

    def observe(self, table: str, item: Any) -> None:
        if isinstance(item, pa.Table):
            self._arrow(table, item)
        elif isinstance(item, dict):
            self._row(table, item)

    def _arrow(self, table: str, batch: pa.Table) -> None:
        if batch.num_rows == 0:
            return
        noted = orjson.loads((batch.schema.metadata or {}).get(RETYPED_KEY, b"{}"))
        with self.lock:
            self.rows[table] = self.rows.get(table, 0) + batch.num_rows
            present = self.present.setdefault(table, {})
            for name in batch.column_names:
                present[name] = present.get(name, 0) + batch.num_rows
            for name, (before, after, n) in noted.items():
                self._note(table, name, before, after, n)

    def _row(self, table: str, row: dict[str, Any]) -> None:
        declared = DECLARED.get(table, {})
        with self.lock:
            self.rows[table] = self.rows.get(table, 0) + 1
            present = self.present.setdefault(table, {})
            for name, value in _fields(row):
                present[name] = present.get(name, 0) + 1
                kinds = NATIVE.get(declared.get(name, ""))
                if kinds and value is not None and (not isinstance(value, kinds)
                                                    or (isinstance(value, bool) and bool not in kinds)):
                    self._note(table, name, declared[name], type(value).__name__, 1)

    def _note(self, table: str, name: str, before: str, after: str, n: int) -> None:
        held = self.retyped.setdefault((table, name), [before, after, 0])
        held[2] += n


def _fields(row: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """A row's fields as the declared columns name them: a nested object's fields as `parent__child`
    (dlt flattens them so), the object itself too."""
    for name, value in row.items():
        yield prefix + name, value
        if isinstance(value, dict):
            yield from _fields(value, f"{prefix}{name}__")


def changes(pipeline: Any, info: Any, seen: Seen, load_id: str) -> list[Change]:
    """This run's drift (see the module docstring), in table and column order."""
    naming = pipeline.default_schema.naming
    found: dict[tuple[str, str, str], Change] = {}
    for package in getattr(info, "load_packages", None) or []:
        for table_name, update in (package.schema_update or {}).items():
            if table_name.startswith("_dlt") or table_name.startswith("_"):
                continue
            new = {c for c in (update.get("columns") or {}) if not c.startswith("_dlt")}
            stored = pipeline.default_schema.tables.get(table_name, {}).get("columns", {})
            data_columns = {c for c in stored if not c.startswith("_dlt")}
            first_load = not (data_columns - new)
            for column in sorted(new):
                kind = stored.get(column, {}).get("data_type")
                if VARIANT in column:
                    base = column.split(VARIANT)[0]
                    before = stored.get(base, {}).get("data_type")
                    found[(table_name, base, "retyped")] = Change(
                        table_name, base, "retyped", before, f"{kind} (kept in {column})", load_id)
                elif not first_load:
                    found[(table_name, column, "added")] = Change(table_name, column, "added", None, kind, load_id)
    with seen.lock:
        for (table_name, name), (before, after, n) in seen.retyped.items():
            column = naming.normalize_identifier(name)
            key = (table_name, column, "retyped")
            if key not in found:
                found[key] = Change(table_name, column, "retyped", before, f"{after} in {n} value(s)", load_id)
        for table_name, rows in seen.rows.items():
            present = seen.present.get(table_name, {})
            for name, kind in DECLARED.get(table_name, {}).items():
                missing = rows - present.get(name, 0)
                if missing > 0:
                    column = naming.normalize_identifier(name)
                    found[(table_name, column, "dropped")] = Change(
                        table_name, column, "dropped", kind, f"absent from {missing} of {rows} rows", load_id)
    return [found[k] for k in sorted(found)]


def record(con: Any, rows: Iterable[Change], schema: str) -> None:
    """Append the changes to `<schema>._schema_changes` (created on first use)."""
    append_rows(con, schema, TABLE, COLUMNS, ([c.table_name, c.column_name, c.change, c.before, c.after, c.load_id]
                                                for c in rows))
