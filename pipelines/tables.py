"""The raw tables: one per dataset of the source `returning_ai` (`pipelines/datasets.py`), each in
the warehouse's raw schema (`warehouse.location.RAW_SCHEMA`).

A table is its dataset's declaration (`Table` is `pipelines.dataset.Dataset`): what it holds,
which endpoints its requests are charged to in the sync's summary, how it is loaded (`Load`), its
write disposition (`Write`) and primary key. The views below are the catalogue's, kept current when a
dataset is registered; the source's docstring table is checked against `markdown()` by a test.
"""

from __future__ import annotations

from pipelines.dataset import Dataset, Load, Write
from pipelines.datasets import (
    ARROW_TABLES,
    INCREMENTAL_TABLES,
    NEEDS,
    PARENTS,
    RESOURCES,
    SNAPSHOT_TABLES,
    TABLES,
)
from pipelines.datasets import CATALOGUE as BY_NAME

Table = Dataset

__all__ = ["ARROW_TABLES", "BY_NAME", "INCREMENTAL_TABLES", "NEEDS", "PARENTS", "RESOURCES", "SNAPSHOT_TABLES",
           "TABLES", "Load", "Table", "Write", "markdown", "table"]


def table(name: str) -> Table:
    return BY_NAME[name]


def markdown() -> str:
    """The table of tables, as the source's docstring shows it."""
    lines = ["| table | holds | read from | load | write | key |", "|---|---|---|---|---|---|"]
    for t in TABLES:
        read = "; ".join(filter(None, [", ".join(t.endpoints), t.read]))
        key = f"`({', '.join(t.key)})`" if len(t.key) > 1 else f"`{t.key[0]}`" if t.key else ""
        lines.append(f"| {t.name} | {t.holds} | {read} | {t.load} | {t.write} | {key} |")
    return "\n".join(lines)
