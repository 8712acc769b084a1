"""The raw tables: one per dataset of the source `returning_ai` (`pipelines/datasets.py`), each in
the warehouse's raw schema (`warehouse.location.RAW_SCHEMA`).

A table is its dataset's declaration (`Table` is `pipelines.dataset.Dataset`): what it holds,
which endpoints its requests are charged to in the sync's summary, how it is loaded (`Load`), its
write disposition (`Write`) and primary key. The views below are the catalogue's, kept current when a
dataset is registered; the source's docstring table is checked against `markdown()` by a test.
"""

from __future__ import annotations

from collections.abc import Iterable

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
from pipelines.errors import ConfigError

Table = Dataset

__all__ = ["ARROW_TABLES", "BY_NAME", "INCREMENTAL_TABLES", "NEEDS", "PARENTS", "RESOURCES", "SNAPSHOT_TABLES",
           "TABLES", "Load", "Table", "Write", "markdown", "select_resources", "table"]


def table(name: str) -> Table:
    return BY_NAME[name]


def select_resources(resources: Iterable[str] | None) -> list[str]:
    """Validated resource names, in source order, with the parents some transformers need (here, not in
    `pipelines.pipeline`: a fan-out's parent checks `--resources` without importing dlt's source,
    pyarrow and duckdb, about 67 MB it would hold while its children run)."""
    if resources is None:
        return list(RESOURCES)
    wanted = {r.strip() for r in resources if r.strip()}
    unknown = sorted(wanted - set(RESOURCES))
    if unknown:
        raise ConfigError(f"unknown resource(s): {', '.join(unknown)}; known: {', '.join(RESOURCES)}")
    if not wanted:
        raise ConfigError("no resources selected")
    wanted |= {PARENTS[r] for r in wanted if r in PARENTS}
    return [r for r in RESOURCES if r in wanted]


def markdown() -> str:
    """The table of tables, as the source's docstring shows it."""
    lines = ["| table | holds | read from | load | write | key |", "|---|---|---|---|---|---|"]
    for t in TABLES:
        read = "; ".join(filter(None, [", ".join(t.endpoints), t.read]))
        key = f"`({', '.join(t.key)})`" if len(t.key) > 1 else f"`{t.key[0]}`" if t.key else ""
        lines.append(f"| {t.name} | {t.holds} | {read} | {t.load} | {t.write} | {key} |")
    return "\n".join(lines)
