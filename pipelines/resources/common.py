"""Helpers shared by the resource modules: incremental cursors, half-open windows, day spans,
fan-outs (write modes: pipelines/tables.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, announced
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_types, column_hints, empty_once, empty_table
from pipelines.endpoint import Endpoint
from pipelines.memo import Span
from pipelines.shapes import iso, parse_day, parse_ts, timestamps, to_arrow
from pipelines.tables import table

T = TypeVar("T")

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def incremental(ctx: RunContext, ep: Endpoint, *, row_order: str | None = None) -> dlt.sources.incremental[Any]:
    """`dlt.sources.incremental` on the endpoint's timestamp cursor: `initial_value=start`,
    `end_value=end`, half-open, re-reading a lookback window before the stored high-water mark
    (late data): `settings.lookback_seconds`, or the endpoint's own `lookback_seconds` field.
    A backfill (`--since`) reads from its start to the end without touching the stored mark."""
    lookback = lookback_seconds(ctx, ep)
    end = ctx.end
    if ctx.backfill and ctx.start is not None and end is None:
        end = FAR_FUTURE
    return dlt.sources.incremental(
        ep.name_for("cursor"), initial_value=ctx.start, end_value=end, lag=lookback or None,
        range_start="closed", range_end="open", on_cursor_value_missing="include",
        row_order=row_order,  # type: ignore[arg-type]
    )


def lookback_seconds(ctx: RunContext, ep: Endpoint) -> float:
    """How far back the endpoint's timestamp cursor re-reads: its own `lookback_seconds`, or the setting."""
    return ctx.settings.lookback_seconds if ep.lookback_seconds is None else ep.lookback_seconds


def window(inc: dlt.sources.incremental[Any]) -> tuple[str | None, str | None]:
    """The request's half-open [from, to) range as API timestamps (None: unbounded)."""
    start = inc.start_value
    end = inc.end_value
    start_s = iso(start) if isinstance(start, datetime) else None
    end_s = iso(end) if isinstance(end, datetime) and end < FAR_FUTURE else None
    return start_s, end_s


def window_count(ctx: RunContext, ep: Endpoint, dataset: str, start: str | None,
                 end: str | None) -> Callable[[Any], None]:
    """For `client.paginate(first=...)`: the walk's total is the server's count of the rows of the
    half-open window [start, end) on the endpoint's cursor (pipelines/completeness.py)."""
    def first(payload: Any) -> None:
        total = announced(ep, payload)
        if total is not None:
            ctx.tracker.counts.state(Count(dataset, server_count=total, **in_window(ep, start, end)))

    return first


def in_window(ep: Endpoint, start: str | None, end: str | None) -> dict[str, Any]:
    """The scope, condition and parameters of a Count over the half-open window [start, end) on the
    endpoint's cursor, as its table names it."""
    column = NamingConvention().normalize_identifier(ep.name_for("cursor"))
    parts, params = [], []
    for bound, op in ((start, ">="), (end, "<")):
        if bound is not None:
            parts.append(f'"{column}" {op} ?')
            params.append(parse_ts(bound))
    return {"scope": f"{column} in [{start or 'start'}, {end or 'now'})", "where": " AND ".join(parts),
            "params": tuple(params)}


def with_timestamps(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [timestamps(dict(r)) for r in rows]


def tracked(ctx: RunContext, dataset: str, pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """The pages of a walk that hold rows, each page counted in the dataset's progress (empty ones too)."""
    for page in pages:
        ctx.tracker.page(dataset, len(page))
        if page:
            yield page


def or_empty(dataset: str, batches: Iterable[Any]) -> Iterator[Any]:
    """`batches` as they come; none at all: the dataset's declared empty table (every table, always)."""
    empty = True
    for batch in batches:
        empty = False
        yield batch
    if empty:
        yield empty_table(dataset)


def windowed_list(ctx: RunContext, dataset: Dataset, endpoint: str,
                  shape: Callable[[list[dict[str, Any]]], Any],
                  on_start: Callable[[dlt.sources.incremental[Any]], None] | None = None) -> DltResource:
    """A dataset read as one GET list over its cursor's window [from, to), sorted on the cursor:
    each page `shape`d; `on_start` sees the cursor before the walk."""
    ep = ctx.settings.endpoint(endpoint)
    name = dataset.name

    @dlt.resource(**dataset.hints(), columns=column_hints(name))
    def windowed(
        cursor: dlt.sources.incremental[datetime] = incremental(ctx, ep),  # noqa: B008
    ) -> Iterator[Any]:
        ctx.tracker.start(name)
        if on_start is not None:
            on_start(cursor)
        start, end = window(cursor)
        params = {ep.name_for("from"): start, ep.name_for("to"): end, ep.param("sort"): ep.name_for("sort")}
        first = window_count(ctx, ep, name, start, end)
        pages = tracked(ctx, name, ctx.client.paginate(endpoint, params=params, first=first))
        yield from or_empty(name, (shape(page) for page in pages))

    return windowed()


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def fan_out(ctx: RunContext, fetch: Callable[[T], list[dict[str, Any]]], tasks: list[T], resource: str) -> Any:
    """The calls of one users page, deferred: dlt evaluates them in its worker threads (each using
    the client's bounded pool) while the next users page is read, and loads the Arrow table
    (the first time a page brings nothing: the resource's empty table, so it always exists), typed
    and keyed as `pipelines/declared.py` and `pipelines/tables.py` say."""
    types, keys = arrow_types(resource), table(resource).key

    @dlt.defer
    def run() -> Any:
        rows = [row for result in ctx.client.map_ordered(fetch, tasks) for row in result]
        return to_arrow(rows, types, keys=keys) if rows else empty_once(ctx.memo, resource)

    return run()


def day_span(ctx: RunContext, key: str, lookback: int) -> Span:
    """The days this resource reads this run. Computed once per run; moves the stored day."""
    if key not in ctx.memo.spans:
        state = dlt.current.resource_state()
        today = ctx.today()
        last = today if ctx.end is None else min(today, ctx.end.date() - timedelta(days=1))
        first_ever = ctx.start.date() if ctx.start else today - timedelta(days=ctx.settings.history_days)
        first = first_ever
        stored = parse_day(state.get("last_day"))
        if stored is not None and not ctx.backfill:
            first = max(first, stored - timedelta(days=lookback)) if ctx.start else stored - timedelta(days=lookback)
        if ctx.end is None:
            state["last_day"] = last.isoformat()
        ctx.memo.spans[key] = Span(first, last, first_ever, stored)
    return ctx.memo.spans[key]


def feeding(dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """The resource a transformer reads from: its parent's, or the one it needs (a fan-out's users)."""
    return built[dataset.parent or dataset.needs or ""]
