"""Helpers for the simulator's tests: clients and walkers that check each pagination scheme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.simadmin import FULL_KEY

Json = dict[str, Any]


def client(base_url: str, key: str | None = FULL_KEY, timeout: float = 30) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout)


def ok(r: httpx.Response) -> Json:
    assert r.status_code == 200, r.text
    return r.json()


def walk_total_pages(fetch: Callable[[int], httpx.Response], limit: int) -> list[Json]:
    """Read a `page-total-pages` endpoint to its end, checking every page's pagination block."""
    rows: list[Json] = []
    page = 1
    while True:
        body = ok(fetch(page))
        assert body["status"] == "success"
        pag = body["data"]["pagination"]
        assert pag["page"] == page and pag["limit"] == limit
        assert pag["total_pages"] == -(-pag["found"] // limit)
        results = body["data"]["results"]
        assert len(results) == (limit if page < pag["total_pages"] else pag["found"] - limit * (page - 1))
        rows += results
        if page >= pag["total_pages"]:
            assert len(rows) == pag["found"]
            return rows
        page += 1


def walk_skip_limit(api: httpx.Client, path: str, limit: int, **params: Any) -> list[Json]:
    rows: list[Json] = []
    skip = 0
    while True:
        body = ok(api.get(path, params={"skip": skip, "limit": limit, **params}))
        meta = body["meta"]
        assert meta["status"] == "success" and meta["statusCode"] == 200
        assert (meta["skip"], meta["limit"]) == (skip, min(limit, 100))
        rows += body["data"]
        if skip + len(body["data"]) >= meta["total"]:
            assert len(rows) == meta["total"]
            return rows
        assert len(body["data"]) == meta["limit"]
        skip += len(body["data"])


def walk_page_meta(api: httpx.Client, path: str, limit: int, **params: Any) -> list[Json]:
    rows: list[Json] = []
    page = 1
    while True:
        body = ok(api.get(path, params={"page": page, "limit": limit, **params}))
        meta = body["meta"]
        assert (meta["status"], meta["statusCode"], meta["page"], meta["limit"]) == ("success", 200, page, min(limit, 100))
        rows += body["data"]
        if page * meta["limit"] >= meta["total"]:
            assert len(rows) == meta["total"]
            return rows
        page += 1


def by_id(rows: list[Json], key: str = "_id") -> dict[str, Json]:
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), "duplicate keys"
    return out

