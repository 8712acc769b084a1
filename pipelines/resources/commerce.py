"""Redemptions (orders and their status history) and purchase histories: incremental reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, announced
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import column_hints, drop_null_objects, empty_once, empty_table
from pipelines.resources.common import (
    feeding,
    incremental,
    windowed_list,
    with_timestamps,
)
from pipelines.shapes import parse_ts


def redemption_orders_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    def remember_mark(cursor: dlt.sources.incremental[Any]) -> None:
        # the high-water mark before this run: orders at or below it were seen already
        ctx.memo.orders_prev_high = None if ctx.backfill else (cursor.get_state() or {}).get("last_value")

    return windowed_list(ctx, dataset, "redemption_transactions",
                         lambda page: drop_null_objects("redemption_orders", with_timestamps(page)), remember_mark)


def redemption_status_history_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """Status history only for orders changed since the last run: orders above the previous
    high-water mark, and orders in the lookback window that are new or changed in the warehouse."""
    ep = ctx.settings.endpoint("redemption_transactions")
    key, cursor = ep.name_for("key"), ep.name_for("cursor")
    history = ctx.settings.endpoint("redemption_status_history")

    def fetch(transaction_id: str) -> list[dict[str, Any]]:
        data = ctx.client.request_json("redemption_status_history", path_params={"transactionId": transaction_id})
        ctx.tracker.page("redemption_status_history", len(data or []))
        return with_timestamps(history.arrived([r for r in data or [] if isinstance(r, dict)]))

    @dlt.transformer(data_from=feeding(dataset, built), **dataset.hints(),
                     columns=column_hints("redemption_status_history"))
    def redemption_status_history(page: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start("redemption_status_history")
        prev_high = parse_ts(ctx.memo.orders_prev_high)
        changed = [o for o in page if o.get(key)]
        if isinstance(prev_high, datetime):
            recent = [o for o in changed if not isinstance(o.get(cursor), datetime) or o[cursor] > prev_high]
            older = [o for o in changed if o not in recent]
            if older:
                stored = dict(ctx.query(
                    "redemption_orders",
                    "SELECT transaction_id, updated_at FROM {table} WHERE transaction_id IN ?",
                    ([str(o[key]) for o in older],)))
                recent += [o for o in older if stored.get(str(o[key])) != o.get(cursor)]
            changed = recent
        rows = [r for result in ctx.client.map_ordered(fetch, [str(o[key]) for o in changed]) for r in result]
        if rows:
            yield rows
        elif (empty := empty_once(ctx.memo, "redemption_status_history")) is not None:
            yield empty

    return redemption_status_history


def purchase_histories_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """Walks newest first and stops at the stored high-water mark of `updatedAt`."""
    ep = ctx.settings.endpoint("purchase_histories")
    cursor_f = ep.name_for("cursor")

    @dlt.resource(**dataset.hints(), columns=column_hints("purchase_histories"))
    def purchase_histories(
        cursor: dlt.sources.incremental[datetime] = incremental(ctx, ep),  # noqa: B008
    ) -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start("purchase_histories")
        start = cursor.start_value

        def first(payload: Any) -> None:
            # `meta.total` counts every record, however early the walk stops: compared with the whole
            # table, unless the run is bounded (`--since`, an end), which loads only part of them
            total = announced(ep, payload)
            if total is not None and ctx.start is None and ctx.end is None:
                ctx.tracker.counts.state(Count("purchase_histories", "all", total))

        # always one page after the other: a concurrent walk by offsets over a newest-first list
        # loses the records pushed past its last page by records arriving meanwhile, and the next
        # run (which stops at the high-water mark) never reads them
        pages = ctx.client.paginate("purchase_histories", params={ep.param("sort"): ep.name_for("sort")},
                                    sequential=True, first=first)
        empty = True
        try:
            for page in pages:
                rows = with_timestamps(page)
                ctx.tracker.page("purchase_histories", len(rows))
                if rows:
                    # rows older than the window are dropped by dlt's incremental: not new ones
                    empty = empty and isinstance(start, datetime) and all(
                        isinstance(r.get(cursor_f), datetime) and r[cursor_f] < start for r in rows)
                    yield drop_null_objects("purchase_histories", rows)
                stamps = [r[cursor_f] for r in rows if isinstance(r.get(cursor_f), datetime)]
                if isinstance(start, datetime) and stamps and min(stamps) < start:
                    break
        finally:
            pages.close()
        if empty:
            yield empty_table("purchase_histories")
    return purchase_histories()
