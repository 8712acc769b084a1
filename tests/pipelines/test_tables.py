"""The table of raw tables (pipelines/tables.py) is what the source loads and what its docs say."""

from __future__ import annotations

import pipelines.source
from assets.ingest import _definition_settings
from pipelines.sync import make_source
from pipelines.tables import INCREMENTAL_TABLES, RESOURCES, SNAPSHOT_TABLES, TABLES, Write, markdown


def test_every_resource_has_one_row_and_takes_its_hints_from_it() -> None:
    source = make_source(_definition_settings())
    assert sorted(source.resources) == sorted(RESOURCES)
    for row in TABLES:
        schema = source.resources[row.name].compute_table_schema()
        keys = tuple(c for c, hints in schema["columns"].items() if hints.get("primary_key"))
        assert keys == row.key, row.name
        expected = "merge" if row.write is Write.DELETE_INSERT else str(row.write)
        assert schema["write_disposition"] == expected, row.name
        assert (schema.get("x-merge-strategy") == "delete-insert") == (row.write is Write.DELETE_INSERT), row.name


def test_each_table_is_incremental_or_snapshot_once() -> None:
    assert sorted(INCREMENTAL_TABLES + SNAPSHOT_TABLES) == sorted(RESOURCES)
    assert not set(INCREMENTAL_TABLES) & set(SNAPSHOT_TABLES)
    assert len(RESOURCES) == len(set(RESOURCES))


def test_the_source_docstring_shows_the_table() -> None:
    assert markdown() in (pipelines.source.__doc__ or "")
