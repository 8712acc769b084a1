"""Completeness against the server's own counts.

Wherever the API states how many records it has (the users filter's `total`, a channel's message
`total` in Get Messages, a list's `meta.total` or `pagination.total`, a window's total, `found` in
daily history, each member's mini-game logs summed over the members read), the
resource reading it states that count here (`Counts.state`, on the run's tracker) with the question
that tells how many of them the warehouse holds. After the load the question is asked
(`measure`), and each (dataset, scope) becomes one row of `returning_raw._sync_completeness`
(`record`): the server's count, what is held, the shortfall (the count less what is held, never
below 0) and, when there is a shortfall, its reason. The sync's summary and an asset check read
those rows, so a shortfall is never silent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import ContractError
from pipelines.pagination import MISSING, dig, total_of
from pipelines.registry import Endpoint
from warehouse.connection import append_rows

TABLE = "_sync_completeness"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dataset", "TEXT"), ("scope", "TEXT"), ("server_count", "BIGINT"), ("held", "BIGINT"),
    ("shortfall", "BIGINT"), ("reason", "TEXT"), ("load_id", "TEXT"))
NOT_HELD = "the warehouse holds fewer rows than the server counts"


@dataclass
class Count:
    """One count the server stated: `where` (DuckDB dialect, `?` placeholders) selects the rows of
    `dataset` that answer it."""

    dataset: str
    scope: str
    server_count: int
    where: str = ""
    params: tuple[Any, ...] = ()
    reason: str = NOT_HELD  # what a shortfall here means
    # a count summed over per-member calls: the held rows are those whose `member_column` is one of
    # `members` (the members this run read), besides `where`
    member_column: str = ""
    members: set[str] = field(default_factory=set)


@dataclass
class Counts:
    """The counts one run's resources stated (thread-safe: fan-outs state from worker threads)."""

    by_scope: dict[tuple[str, str], Count] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def state(self, count: Count) -> None:
        """The server's count for (dataset, scope); a later statement of the same scope replaces it."""
        with self.lock:
            self.by_scope[(count.dataset, count.scope)] = count

    def add(self, count: Count) -> None:
        """Part of a count (daily history's `found`, one call per 100 members; a member's total):
        summed per scope. A member already counted in the scope is not counted again."""
        with self.lock:
            held = self.by_scope.get((count.dataset, count.scope))
            if held is None:
                self.by_scope[(count.dataset, count.scope)] = count
            elif not count.members or not count.members <= held.members:
                held.server_count += count.server_count
                held.members |= count.members

    def explain(self, dataset: str, scope: str, reason: str) -> None:
        with self.lock:
            if (dataset, scope) in self.by_scope:
                self.by_scope[(dataset, scope)].reason = reason

    def all(self) -> list[Count]:
        with self.lock:
            return list(self.by_scope.values())


def announced(ep: Endpoint, payload: Any) -> int | None:
    """The walk's total as its first page states it (None: the scheme or the page states none)."""
    try:
        return total_of(ep, payload)
    except ContractError:
        return None


def number_at(payload: Any, path: str) -> int | None:
    value = dig(payload, path)
    if value is MISSING or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


@dataclass(frozen=True)
class Row:
    dataset: str
    scope: str
    server_count: int
    held: int
    shortfall: int
    reason: str | None
    load_id: str

    def line(self) -> str:
        return (f"{self.dataset} ({self.scope}): the server counts {self.server_count:,}, the warehouse holds "
                f"{self.held:,}: {self.shortfall:,} short ({self.reason})")


def measure(con: Any, counts: Iterable[Count], load_id: str, schema: str) -> list[Row]:
    """Each count against what the warehouse holds now (`con`: a `warehouse.connection.Connection`)."""
    rows = []
    for c in sorted(counts, key=lambda c: (c.dataset, c.scope)):
        held = 0
        if con.table_exists(schema, c.dataset):
            held = _held(con, schema, c)
        short = max(0, c.server_count - held)
        rows.append(Row(c.dataset, c.scope, c.server_count, held, short, c.reason if short else None, load_id))
    return rows


MEMBERS_PER_QUERY = 1000  # members named in one `IN (...)` (Postgres takes at most 65,535 parameters)


def _held(con: Any, schema: str, c: Count) -> int:
    """The rows of `c.dataset` that answer `c` (0: a column the table lacks, never loaded)."""
    members = sorted(c.members)
    batches = [members[i:i + MEMBERS_PER_QUERY] for i in range(0, len(members), MEMBERS_PER_QUERY)] or [[]]
    held = 0
    for batch in batches:
        parts = [c.where] if c.where else []
        if c.member_column:
            parts.append(f'"{c.member_column}" IN ({", ".join("?" * len(batch))})' if batch else "false")
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        try:
            found = con.fetchone(f'SELECT count(*) FROM {schema}."{c.dataset}"{where}', [*c.params, *batch])
        except Exception:  # noqa: BLE001 - a column the table lacks (never loaded): nothing of it held
            return 0
        held += int(found[0]) if found and found[0] is not None else 0
    return held


def record(con: Any, rows: list[Row], schema: str) -> None:
    """Append the rows to `<schema>._sync_completeness` (created on first use)."""
    append_rows(con, schema, TABLE, COLUMNS, ([r.dataset, r.scope, r.server_count, r.held, r.shortfall, r.reason,
                                                r.load_id] for r in rows))
