"""What a sync records once its load is committed, beside the data: completeness against the
server's counts (pipelines/completeness.py) and the API's drift (pipelines/drift.py). One call,
`bookkeep`, from the command-line sync and from the Dagster ingest assets alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipelines import completeness, drift
from pipelines.config import Settings
from pipelines.context import Tracker
from warehouse.connection import Connection, connect
from warehouse.location import RAW_SCHEMA


@dataclass
class Bookkeeping:
    completeness: list[completeness.Row] = field(default_factory=list)
    schema_changes: list[drift.Change] = field(default_factory=list)

    @property
    def shortfalls(self) -> list[completeness.Row]:
        return [r for r in self.completeness if r.shortfall]

    def lines(self) -> list[str]:
        """The summary's lines: every shortfall and every schema change (none: a clean sync)."""
        return [f"incomplete: {r.line()}" for r in self.shortfalls] + \
            [f"schema change: {c.line()}" for c in self.schema_changes]


@contextmanager
def _connection(settings: Settings, held: Any) -> Iterator[Connection]:
    """The warehouse: the sync's held DuckDB connection, or a new login on a server."""
    if held is not None:
        yield Connection(settings.location, held)
        return
    con = connect(settings.location)
    try:
        yield con
    finally:
        con.close()


def bookkeep(settings: Settings, held: Any, pipeline: Any, tracker: Tracker, info: Any,
             loaded: Iterable[str]) -> Bookkeeping:
    """Measure and record, after the load `info` of the datasets `loaded` committed (`held`: the
    DuckDB connection the sync holds, None on a server)."""
    load_ids = list(getattr(info, "loads_ids", None) or [])
    load_id = load_ids[-1] if load_ids else ""
    changes = drift.changes(pipeline, info, tracker.seen, load_id)
    # a count says something only of a dataset this run loaded: not of a skipped one, nor of one read
    # only to feed another (the users a fan-out reads its members from when users is not selected)
    skipped = {s.dataset for s in tracker.skips.all()}
    loaded = set(loaded) - skipped
    counted = [c for c in tracker.counts.all() if c.dataset in loaded]
    with _connection(settings, held) as con:
        rows = completeness.measure(con, counted, load_id, RAW_SCHEMA)
        completeness.record(con, rows, RAW_SCHEMA)
        drift.record(con, changes, RAW_SCHEMA)
    return Bookkeeping(rows, changes)
