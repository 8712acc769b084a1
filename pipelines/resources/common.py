"""Helpers shared by the resource modules: incremental cursors, half-open windows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import dlt
import pyarrow as pa

from pipelines.context import RunContext
from pipelines.declared import empty_once
from pipelines.registry import Endpoint
from pipelines.shapes import iso, timestamps, to_arrow

T = TypeVar("T")

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def incremental(ctx: RunContext, ep: Endpoint, *, row_order: str | None = None) -> dlt.sources.incremental[Any]:
    """`dlt.sources.incremental` on the endpoint's timestamp cursor: `initial_value=start`,
    `end_value=end`, half-open, re-reading a lookback window before the stored high-water mark
    (late data): `settings.lookback_seconds`, or the endpoint's own `lookback_seconds` field.
    A backfill (`--since`) reads from its start to the end without touching the stored mark."""
    lookback = float(ep.f("lookback_seconds", str(ctx.settings.lookback_seconds)))
    end = ctx.end
    if ctx.backfill and ctx.start is not None and end is None:
        end = FAR_FUTURE
    return dlt.sources.incremental(
        ep.f("cursor"), initial_value=ctx.start, end_value=end, lag=lookback or None,
        range_start="closed", range_end="open", on_cursor_value_missing="include",
        row_order=row_order,  # type: ignore[arg-type]
    )


def window(inc: dlt.sources.incremental[Any]) -> tuple[str | None, str | None]:
    """The request's half-open [from, to) range as API timestamps (None: unbounded)."""
    start = inc.start_value
    end = inc.end_value
    start_s = iso(start) if isinstance(start, datetime) else None
    end_s = iso(end) if isinstance(end, datetime) and end < FAR_FUTURE else None
    return start_s, end_s


def with_timestamps(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [timestamps(dict(r)) for r in rows]


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def fan_out(ctx: RunContext, fetch: Callable[[T], list[dict[str, Any]]], tasks: list[T],
            types: dict[str, pa.DataType], keys: tuple[str, ...], resource: str) -> Any:
    """The calls of one users page, deferred: dlt evaluates them in its worker threads (each using
    the client's bounded pool) while the next users page is read, and loads the Arrow table
    (the first time a page brings nothing: the resource's empty table, so it always exists)."""

    @dlt.defer
    def run() -> Any:
        rows = [row for result in ctx.client.map_ordered(fetch, tasks) for row in result]
        return to_arrow(rows, types, keys=keys) if rows else empty_once(ctx.memo, resource)

    return run()
