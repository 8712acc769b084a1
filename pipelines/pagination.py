"""The five pagination schemes of the contract (section 5), as pure functions over payloads.

Each scheme says how to ask for the first page, reads a page's records and position from the
full response body, and tells the client either the next request (sequential schemes) or, once
the total is known after page 1, the requests for every remaining page (so they can be fetched
concurrently). Pages are counted by what came back, never by what was asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import ContractError
from pipelines.registry import Endpoint

MISSING = object()


def dig(payload: Any, path: str) -> Any:
    """Value at a dotted path, or MISSING."""
    node = payload
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


@dataclass
class Page:
    records: list[dict[str, Any]]
    number: int  # 1-based page number in the walk
    done: bool = False  # True: no page follows
    next_request: dict[str, Any] | None = None  # sequential schemes: what to merge into the next request
    remaining: list[dict[str, Any]] = field(default_factory=list)  # after page 1: every other page's request


def first_request(endpoint: Endpoint, page_size: int | None = None) -> dict[str, Any]:
    """Pagination parameters of the first call (merged into the body for POST, the query for GET)."""
    scheme = endpoint.pagination
    size = page_size or endpoint.page_size
    limit = {endpoint.f("limit", "limit"): size} if size and endpoint.name != "users_filter" else {}
    if scheme in ("page-total-pages", "page-meta-total", "has-next"):
        return {endpoint.f("page", "page"): 1, **limit}
    if scheme == "skip-limit":
        return {endpoint.f("skip", "skip"): 0, **limit}
    return {}


def records_of(endpoint: Endpoint, payload: Any, page: int | None = None) -> list[dict[str, Any]]:
    records = dig(payload, endpoint.records)
    if records is MISSING:
        raise ContractError(endpoint.name, f"response lacks '{endpoint.records}'", page)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ContractError(endpoint.name, f"'{endpoint.records}' is not a list of records", page)
    return records


def _int(endpoint: Endpoint, payload: Any, path: str, page: int) -> int:
    value = dig(payload, path)
    if value is MISSING or value is None:
        raise ContractError(endpoint.name, f"response lacks '{path}'", page)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(endpoint.name, f"'{path}' is not a number: {value!r}", page)
    return int(value)


def read_page(endpoint: Endpoint, payload: Any, number: int) -> Page:
    """Interpret one response body of `endpoint` as page `number` of a walk."""
    records = records_of(endpoint, payload, number)
    scheme = endpoint.pagination
    if scheme == "none":
        return Page(records, number, done=True)
    if scheme == "cursor":
        nxt = dig(payload, endpoint.f("next_cursor", "data.next_cursor"))
        if nxt is MISSING or nxt in (None, "") or not records:
            return Page(records, number, done=True)
        return Page(records, number, next_request={endpoint.f("cursor", "cursor"): nxt})
    if scheme == "page-total-pages":
        block = endpoint.f("pagination_block", "data.pagination")
        total_pages = _int(endpoint, payload, f"{block}.total_pages", number)
        current = _int(endpoint, payload, f"{block}.page", number)
        return _numbered(endpoint, records, number, current, total_pages)
    if scheme == "page-meta-total":
        total = _int(endpoint, payload, "meta.total", number)
        current = _int(endpoint, payload, "meta.page", number)
        served = dig(payload, "meta.limit")
        limit = int(served) if isinstance(served, int | float) and served > 0 else len(records)
        total_pages = math.ceil(total / limit) if limit else 0
        return _numbered(endpoint, records, number, current, total_pages)
    if scheme == "has-next":
        block = endpoint.f("pagination_block", "pagination")
        has_next = dig(payload, f"{block}.hasNextPage")
        if not isinstance(has_next, bool):
            raise ContractError(endpoint.name, f"response lacks boolean '{block}.hasNextPage'", number)
        current = _int(endpoint, payload, f"{block}.currentPage", number)
        total_pages_raw = dig(payload, f"{block}.totalPages")
        if not has_next or not records:
            return Page(records, number, done=True)
        if number == 1 and isinstance(total_pages_raw, int) and total_pages_raw > current:
            return _numbered(endpoint, records, number, current, total_pages_raw)
        return Page(records, number, next_request={endpoint.f("page", "page"): current + 1})
    if scheme == "skip-limit":
        total = _int(endpoint, payload, "meta.total", number)
        skip = _int(endpoint, payload, "meta.skip", number)
        step = len(records)
        key = endpoint.f("skip", "skip")
        if not records or skip + step >= total:
            return Page(records, number, done=True)
        if number == 1:
            offsets = range(skip + step, total, step)
            return Page(records, number, remaining=[{key: o} for o in offsets])
        return Page(records, number, next_request={key: skip + step})
    raise ContractError(endpoint.name, f"unknown pagination scheme {scheme!r}", number)


def _numbered(endpoint: Endpoint, records: list[dict[str, Any]], number: int, current: int, total_pages: int) -> Page:
    key = endpoint.f("page", "page")
    if current >= total_pages or not records:
        return Page(records, number, done=True)
    if number == 1:
        return Page(records, number, remaining=[{key: p} for p in range(current + 1, total_pages + 1)])
    return Page(records, number, next_request={key: current + 1})


TOTAL_PATHS: dict[str, str] = {
    "page-total-pages": "data.pagination.total",
    "page-meta-total": "meta.total",
    "skip-limit": "meta.total",
    "has-next": "pagination.total",
}


def total_of(endpoint: Endpoint, payload: Any) -> int:
    """The number of records the whole walk holds, as the first page announces it."""
    path = endpoint.f("total", TOTAL_PATHS.get(endpoint.pagination, ""))
    if not path:
        raise ContractError(endpoint.name, f"pagination {endpoint.pagination!r} announces no total", 1)
    return _int(endpoint, payload, path, 1)
