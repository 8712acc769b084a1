"""Every table, always: the columns each dataset's table is created with when the API has no rows
for it yet (a community with no bulk jobs, a window with no new logs), from the contract's record
fields (docs/returning-api.md section 7), named as the API names them (dlt normalises them). The
columns, personal data (`PII`, `PII_TEXT`, `MEMBER_ID`, applied by `pipelines/privacy.py`), child
tables and nullable objects are each dataset's declaration's (`pipelines/datasets.py`), as views.

`empty_table` is the one way a resource with no rows creates its table, in the form its rows take:
an empty Arrow table with these columns for the tables loaded from Arrow (`tables.ARROW_TABLES`, whose
column types come from here too: `arrow_types`), dlt's `materialize_table_schema` with them for
the others (a table dlt creates from Python rows has `_dlt_load_id` / `_dlt_id` columns that an
Arrow load would leave empty). When rows come, dlt types the columns from the data, as before;
resources whose columns may be null in every row of a load declare them to dlt (`column_hints`).
Nested objects that are often null (`creator`, `purchaseStatusOverride`, ...) are dropped from a
record while null (`drop_null_objects`), so dlt never sees a column it cannot type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dlt
import pyarrow as pa

from pipelines.dataset import BIGINT, BOOL, DAY, DOUBLE, TEXT, TSTZ
from pipelines.datasets import (
    ARROW_TABLES,
    CHILD_TABLES,
    DECLARED,
    MEMBER_ID,
    NULLABLE_OBJECTS,
    PII,
    PII_TEXT,
)
from pipelines.memo import RunMemo
from pipelines.shapes import BOOL as ARROW_BOOL
from pipelines.shapes import DATE, FLOAT, INT, STR, TS
from pipelines.tables import table

__all__ = ["ARROW", "CHILD_TABLES", "DECLARED", "MEMBER_ID", "NULLABLE_OBJECTS", "PII", "PII_TEXT", "arrow_schema",
           "arrow_types", "column_hints", "drop_null_objects", "empty_children", "empty_once", "empty_table"]

_CHILD_KEYS = {"_dlt_parent_id": TEXT, "_dlt_list_idx": BIGINT, "_dlt_id": TEXT, "_dlt_root_id": TEXT}

ARROW: dict[str, pa.DataType] = {TEXT: STR, BIGINT: INT, DOUBLE: FLOAT, BOOL: ARROW_BOOL, TSTZ: TS, DAY: DATE}


def column_hints(resource: str) -> dict[str, Any]:
    """dlt column hints of the declared columns: a column null in every row of a first load still
    gets its type (dlt would otherwise leave it out until a value arrives)."""
    return {name: {"data_type": kind} for name, kind in DECLARED.get(resource, {}).items()}


def arrow_types(resource: str) -> dict[str, pa.DataType]:
    """The declared columns as Arrow types, in their order (for `shapes.to_arrow`)."""
    if resource not in ARROW_TABLES:
        raise ValueError(f"{resource} is not loaded from Arrow tables (tables.ARROW_TABLES)")
    return {name: ARROW[kind] for name, kind in DECLARED[resource].items()}


def arrow_schema(resource: str) -> pa.Schema:
    """The declared columns as an Arrow schema, key columns not nullable as dlt declares them (and
    `shapes.to_arrow` makes them): otherwise dlt warns that the hints differ on every load."""
    keys = set(table(resource).key)
    return pa.schema([pa.field(n, t, nullable=n not in keys) for n, t in arrow_types(resource).items()])


def empty_table(resource: str) -> Any:
    """What a resource yields when it had no rows: its table, created with the declared columns."""
    if resource in ARROW_TABLES:
        return arrow_schema(resource).empty_table()
    return dlt.mark.with_hints(dlt.mark.materialize_table_schema(), dlt.mark.make_hints(columns=column_hints(resource)))


def empty_children(resource: str, rows: list[dict[str, Any]], held: set[str]) -> list[Any]:
    """The declared child tables (`CHILD_TABLES`) no row of `rows` brings and the warehouse does not
    hold yet (`held`: its table names), created empty with their columns and dlt's parent keys."""
    out = []
    for name, columns in CHILD_TABLES.get(resource, {}).items():
        child = f"{resource}__{name}"
        if child in held or any(isinstance(r.get(name), list) and r[name] for r in rows):
            continue
        hints = {c: {"name": c, "data_type": k} for c, k in {**columns, **_CHILD_KEYS}.items()}
        out.append(dlt.mark.with_hints(dlt.mark.materialize_table_schema(),
                                       dlt.mark.make_hints(table_name=child, columns=hints)))  # type: ignore[arg-type]
    return out


def drop_null_objects(resource: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    names = NULLABLE_OBJECTS.get(resource, ())
    if not names:
        return list(rows)
    return [{k: v for k, v in r.items() if not (v is None and k in names)} for r in rows]


def empty_once(memo: RunMemo, resource: str) -> Any:
    """For transformers (called once per parent page): the empty table the first time a page
    brings no rows in this run, None after. Declared types equal the ones the data brings."""
    if resource in memo.emptied:
        return None
    memo.emptied.add(resource)
    return empty_table(resource)
