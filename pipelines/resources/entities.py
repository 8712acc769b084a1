"""The generic resources of the datasets declared without a builder (`Dataset.build=None`), read
whole each run: a paginated list (the store's products and categories, leaderboards, streaks, bulk
jobs), or one response's records (the store's config, tiers, redemption statuses). `generic` picks
one by the declared endpoint's pagination."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from pipelines.completeness import Count, announced
from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import CHILD_TABLES, column_hints, drop_null_objects, empty_children, empty_table
from pipelines.pagination import rows_of
from pipelines.registry import DEFAULT_REGISTRY
from pipelines.resources.common import or_empty, tracked, with_timestamps

_lock = threading.Lock()


def generic(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """The resource of a dataset without a builder: every page of a paginated endpoint, else the
    records of one response."""
    ep = DEFAULT_REGISTRY[dataset.endpoint_name or ""]
    one = ep.pagination.scheme == "none" or dataset.part is not None
    return (one_response_resource if one else entity_list_resource)(ctx, dataset, built)


def entity_list_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """A small entity list read whole each run and merged on its key."""
    name, endpoint = dataset.name, dataset.endpoint_name or ""

    @dlt.resource(**dataset.hints(), columns=column_hints(name))
    def entity_list() -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start(name)
        ep = ctx.settings.endpoint(endpoint)

        def first(payload: Any) -> None:
            total = announced(ep, payload)
            if total is not None:  # the list's `meta.total` / `pagination.total`: the whole list
                ctx.tracker.counts.state(Count(name, "all", total))

        pages = tracked(ctx, name, ctx.client.paginate(endpoint, first=first))
        yield from or_empty(name, (drop_null_objects(name, with_timestamps(page)) for page in pages))

    return entity_list()


def response_data(ctx: RunContext, endpoint: str) -> Any:
    """The endpoint's `data`, requested once per run (tiers and tiers_xp_settings share one call)."""
    with _lock:
        if endpoint not in ctx.memo.responses:
            ctx.memo.responses[endpoint] = ctx.client.request_json(endpoint)
        return ctx.memo.responses[endpoint]


def one_response_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    """One response's `data` (an object or a list) as the table's rows; the dataset's `part`: the
    field of its endpoint naming the part to load (default its records)."""
    name, endpoint, records = dataset.name, dataset.endpoint_name or "", dataset.part

    @dlt.resource(**dataset.hints(), columns=column_hints(name))
    def one_response() -> Iterator[list[dict[str, Any]]]:
        ctx.tracker.start(name)
        ep = ctx.settings.endpoint(endpoint)
        rows = rows_of(ep, response_data(ctx, endpoint), ep.name_for(records) if records else None)
        ctx.tracker.page(name, len(rows))
        yield drop_null_objects(name, with_timestamps(rows)) if rows else empty_table(name)
        held = {f"{name}__{child}" for child in CHILD_TABLES.get(name, {}) if ctx.columns(f"{name}__{child}")}
        yield from empty_children(name, rows, held)

    return one_response()
