"""The pagination schemes of the contract (section 5): one class each, subclasses of dlt's
`BasePaginator` (`dlt.sources.helpers.rest_client.paginators`), so they follow its protocol:
`init_request` sets the first call's parameters, `update_state` reads a page's position, and
`update_request` sets the next call's. A dlt `RESTClient` can walk an endpoint with them as they are
(parameters go in the query of a GET and the JSON body of a POST).

A scheme is built with its named options (parameter names, where the position sits in the body)
and used as a template: `walk` copies it for one walk over an endpoint's pages. Our client parses
each body once and hands it to `update_from` (what `update_state` does with a response's JSON).
Once page 1 tells how many pages there are, `remaining` holds every other page's parameters, so
the client can fetch them concurrently. Pages are counted by what came back, never by what was
asked for.

`first_request`, `read_page` and `total_of` are what the client asks of an endpoint (anything with
the `Paged` attributes: `pipelines.endpoint.Endpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, Self

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from pipelines.errors import ContractError

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
class Paginator(BasePaginator):
    """What every scheme shares: the walk's state and dlt's three steps of a walk."""

    scheme: ClassVar[str] = ""
    # the walk, not options: set by `walk`, moved by `update_state`
    endpoint: str = field(default="", init=False, repr=False, compare=False)
    page_size: int | None = field(default=None, init=False, repr=False, compare=False)
    number: int = field(default=0, init=False, repr=False, compare=False)  # pages read
    next_params: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    remaining: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__init__()  # dlt's state: `_has_next_page`

    def walk(self, endpoint: str, page_size: int | None = None, read: int = 0) -> Self:
        """A fresh walk over `endpoint`'s pages with these options, `read` pages already read
        (a page fetched out of order reads as page `read + 1`)."""
        walk = replace(self)
        walk.endpoint, walk.page_size, walk.number = endpoint, page_size, read
        return walk

    # -- dlt's protocol ------------------------------------------------------------------------
    def init_request(self, request: Request) -> None:
        _into(request).update(self.first_params())

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self.update_from(response.json(), list(data or []))

    def update_request(self, request: Request) -> None:
        # after page 1 of a scheme that announces its pages, the next one is the first of them
        _into(request).update(self.next_params or (self.remaining[0] if self.remaining else {}))

    # -- the same steps on parsed bodies (our client) ------------------------------------------
    def first_params(self) -> dict[str, Any]:
        """The first call's pagination parameters."""
        return {}

    def update_from(self, payload: Any, records: list[dict[str, Any]]) -> None:
        """Read the position of the page `payload` (whose records are `records`)."""
        if not self.endpoint:
            self.endpoint = type(self).__name__  # walked by a dlt RESTClient: no walk() before
        self.number += 1
        self._has_next_page, self.next_params, self.remaining = False, {}, []
        self._position(payload, records)

    def total(self, payload: Any) -> int:
        """The number of records the whole walk holds, as its first page announces it."""
        raise ContractError(self.endpoint, f"pagination {self.scheme!r} announces no total", 1)

    # -- for the schemes -----------------------------------------------------------------------
    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        """Set `_has_next_page` and `next_params` (or, on page 1, `remaining`)."""

    def _next(self, params: dict[str, Any]) -> None:
        self._has_next_page, self.next_params = True, params

    def _onward(self, param: str, following: range) -> None:
        """Pages follow at `param` = each of `following`: after page 1 all of them (`remaining`),
        after a later page the next one."""
        if self.number == 1:
            self._has_next_page, self.remaining = True, [{param: value} for value in following]
        else:
            self._next({param: following[0]})

    def _int(self, payload: Any, path: str, page: int | None = None) -> int:
        page = self.number if page is None else page
        value = dig(payload, path)
        if value is MISSING or value is None:
            raise ContractError(self.endpoint, f"response lacks '{path}'", page, missing=path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError(self.endpoint, f"'{path}' is not a number: {value!r}", page)
        return int(value)


def _into(request: Request) -> dict[str, Any]:
    """Where a request's pagination parameters go: the JSON body of a POST, else the query."""
    if (request.method or "GET").upper() == "POST":
        if not isinstance(request.json, dict):
            request.json = {}
        return request.json  # type: ignore[no-any-return]
    if not isinstance(request.params, dict):
        request.params = {}
    return request.params  # type: ignore[no-any-return]


@dataclass
class SinglePage(Paginator):
    """The response is the whole collection: one call, no parameters (scheme "none")."""

    scheme: ClassVar[str] = "none"


@dataclass
class CursorPaginator(Paginator):
    """The next page's cursor is in the body (`cursor_path`), sent back as `cursor_param`; the
    page size is the server's (no limit parameter)."""

    scheme: ClassVar[str] = "cursor"
    cursor_param: str = "cursor"
    cursor_path: str = "data.next_cursor"
    total_path: str | None = None  # where a page tells the walk's total (None: it does not)

    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        nxt = dig(payload, self.cursor_path)
        if nxt is not MISSING and nxt not in (None, "") and records:
            self._next({self.cursor_param: nxt})

    def total(self, payload: Any) -> int:
        if self.total_path is None:
            return super().total(payload)
        return self._int(payload, self.total_path, 1)


@dataclass
class _InBlock(Paginator):
    """Schemes whose position sits in one block of the body, the walk's `total` with it."""

    limit_param: str = "limit"
    block: str = "meta"

    def total(self, payload: Any) -> int:
        return self._int(payload, f"{self.block}.total", 1)

    def _limit(self) -> dict[str, Any]:
        return {self.limit_param: self.page_size} if self.limit_param and self.page_size else {}


@dataclass
class _Numbered(_InBlock):
    """Schemes of numbered pages, from page 1."""

    page_param: str = "page"

    def first_params(self) -> dict[str, Any]:
        return {self.page_param: 1, **self._limit()}

    def _numbered(self, records: list[dict[str, Any]], current: int, total_pages: int) -> None:
        """Page `current` of `total_pages`: after page 1 every other page is known (`remaining`)."""
        if current < total_pages and records:
            self._onward(self.page_param, range(current + 1, total_pages + 1))


@dataclass
class TotalPagesPaginator(_Numbered):
    """Numbered pages; `block` holds `page`, `total_pages` and `total` (scheme "page-total-pages")."""

    scheme: ClassVar[str] = "page-total-pages"
    block: str = "data.pagination"

    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        total_pages = self._int(payload, f"{self.block}.total_pages")
        current = self._int(payload, f"{self.block}.page")
        self._numbered(records, current, total_pages)


@dataclass
class MetaTotalPaginator(_Numbered):
    """Numbered pages; `block` holds `page`, `limit` and the record `total` (scheme "page-meta-total")."""

    scheme: ClassVar[str] = "page-meta-total"

    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        total = self._int(payload, f"{self.block}.total")
        current = self._int(payload, f"{self.block}.page")
        served = dig(payload, f"{self.block}.limit")
        limit = int(served) if isinstance(served, int | float) and served > 0 else len(records)
        total_pages = math.ceil(total / limit) if limit else 0
        self._numbered(records, current, total_pages)


@dataclass
class HasNextPaginator(_Numbered):
    """Numbered pages; `block` holds `hasNextPage`, `currentPage`, maybe `totalPages` (scheme "has-next")."""

    scheme: ClassVar[str] = "has-next"
    block: str = "pagination"

    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        has_next = dig(payload, f"{self.block}.hasNextPage")
        if not isinstance(has_next, bool):
            raise ContractError(self.endpoint, f"response lacks boolean '{self.block}.hasNextPage'", self.number)
        current = self._int(payload, f"{self.block}.currentPage")
        total_pages = dig(payload, f"{self.block}.totalPages")
        if not has_next or not records:
            return
        if self.number == 1 and isinstance(total_pages, int) and total_pages > current:
            self._numbered(records, current, total_pages)
            return
        self._next({self.page_param: current + 1})


@dataclass
class SkipLimitPaginator(_InBlock):
    """Offsets; `block` holds `skip` and the record `total` (scheme "skip-limit")."""

    scheme: ClassVar[str] = "skip-limit"
    skip_param: str = "skip"

    def first_params(self) -> dict[str, Any]:
        return {self.skip_param: 0, **self._limit()}

    def _position(self, payload: Any, records: list[dict[str, Any]]) -> None:
        total = self._int(payload, f"{self.block}.total")
        skip = self._int(payload, f"{self.block}.skip")
        step = len(records)
        if records and skip + step < total:
            self._onward(self.skip_param, range(skip + step, total, step))


SCHEMES: dict[str, type[Paginator]] = {
    cls.scheme: cls for cls in (SinglePage, CursorPaginator, TotalPagesPaginator, MetaTotalPaginator,
                                SkipLimitPaginator, HasNextPaginator)
}


class Paged(Protocol):
    """What reading an endpoint's pages needs of it (`pipelines.endpoint.Endpoint` has it)."""

    name: str
    records: str
    page_size: int | None
    record_names: Mapping[str, str]

    @property
    def pagination(self) -> Paginator: ...

    def arrived(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


@dataclass
class Page:
    records: list[dict[str, Any]]
    number: int  # 1-based page number in the walk
    done: bool = False  # True: no page follows
    next_request: dict[str, Any] | None = None  # sequential schemes: what to merge into the next request
    remaining: list[dict[str, Any]] = field(default_factory=list)  # after page 1: every other page's request


def first_request(endpoint: Paged, page_size: int | None = None) -> dict[str, Any]:
    """Pagination parameters of the first call (merged into the body for POST, the query for GET)."""
    return endpoint.pagination.walk(endpoint.name, page_size or endpoint.page_size).first_params()


def containers(payload: Any, prefix: str = "") -> dict[str, str]:
    """The lists of records and the objects an answer holds, by dotted path from its root
    (`{"data.rows": "list", "data": "object"}`): where a missing records path may have gone."""
    out: dict[str, str] = {}
    if isinstance(payload, dict):
        for key, value in payload.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                out[path] = "object"
                out.update(containers(value, path + "."))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                out[path] = "list"
    return out


def records_of(endpoint: Paged, payload: Any, page: int | None = None) -> list[dict[str, Any]]:
    records = dig(payload, endpoint.records)
    if records is MISSING:
        raise ContractError(endpoint.name, f"response lacks '{endpoint.records}' (its records path)", page,
                            missing=endpoint.records, found=containers(payload))
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ContractError(endpoint.name, f"'{endpoint.records}' (its records path) is not a list of records", page)
    return endpoint.arrived(records) if endpoint.record_names else records


def rows_of(endpoint: Paged, data: Any, path: str | None = None) -> list[dict[str, Any]]:
    """The rows of a one-response endpoint (`data`: the envelope's `data`): the object or the list of
    objects at its records path (or at `path`; null: none), renamed as `records_of` renames them."""
    path = path or endpoint.records
    found = dig({"data": data}, path)
    if found is MISSING:
        raise ContractError(endpoint.name, f"response lacks '{path}' (its records path)", missing=path,
                            found=containers({"data": data}))
    if found is None:
        return []
    rows = [found] if isinstance(found, dict) else found
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ContractError(endpoint.name, f"'{path}' (its records path) is not a record or a list of records")
    return endpoint.arrived(rows) if endpoint.record_names and path == endpoint.records else rows


def read_page(endpoint: Paged, payload: Any, number: int) -> Page:
    """Interpret one response body of `endpoint` as page `number` of a walk."""
    records = records_of(endpoint, payload, number)
    walk = endpoint.pagination.walk(endpoint.name, endpoint.page_size, read=number - 1)
    walk.update_from(payload, records)
    return Page(records, number, done=not walk.has_next_page, next_request=dict(walk.next_params) or None,
                remaining=walk.remaining)


def total_of(endpoint: Paged, payload: Any) -> int:
    """The number of records the whole walk holds, as the first page announces it."""
    return endpoint.pagination.walk(endpoint.name).total(payload)
