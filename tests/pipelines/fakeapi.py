"""A tiny in-process fake of the contract's list endpoints for unit tests (httpx.MockTransport).

Serves N numbered records under each pagination scheme, capping page sizes silently at `cap`
(so a client that trusts its requested limit skips records), and can inject failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY = "ab" * 32


@dataclass
class FakeApi:
    n: int = 53
    cap: int = 7
    failures: list[Callable[[httpx.Request], httpx.Response | None]] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def records(self, start: int, count: int) -> list[dict[str, Any]]:
        return [{"_id": f"{i:024x}", "n": i} for i in range(start, min(self.n, start + count))]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        args: dict[str, Any] = dict(request.url.params)
        if request.method == "POST" and request.content and request.headers.get("content-type", "").startswith("application/json"):
            args.update(json.loads(request.content))
        with self.lock:
            self.calls.append((request.method, request.url.path, args))
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            resp = failure(request)
            if resp is not None:
                return resp
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json={"status": "error", "message": "Invalid API key"})
        path = request.url.path
        limit = min(int(args.get("limit", 20)), self.cap)
        if path == "/cursor":
            start = int(args.get("cursor") or 0)
            recs = self.records(start, self.cap)
            nxt = str(start + self.cap) if start + self.cap < self.n else None
            return ok({"status": "success", "data": {"users": recs, "next_cursor": nxt}})
        if path == "/ptp":
            page = int(args.get("page", 1))
            total_pages = -(-self.n // limit)
            return ok({"status": "success", "data": {
                "pagination": {"page": page, "limit": limit, "total": self.n, "total_pages": total_pages,
                               "found": self.n},
                "results": self.records((page - 1) * limit, limit)}})
        if path == "/pmt":
            page = int(args.get("page", 1))
            return ok({"meta": {"status": "success", "statusCode": 200, "page": page, "limit": limit,
                                "total": self.n}, "data": self.records((page - 1) * limit, limit)})
        if path == "/skip":
            skip = int(args.get("skip", 0))
            return ok({"meta": {"status": "success", "statusCode": 200, "skip": skip, "limit": limit,
                                "total": self.n}, "data": self.records(skip, limit)})
        if path == "/hasnext":
            page = int(args.get("page", 1))
            total_pages = -(-self.n // limit)
            return ok({"meta": {"status": "success", "statusCode": 200}, "data": self.records((page - 1) * limit, limit),
                       "pagination": {"total": self.n, "currentPage": page, "totalPages": total_pages,
                                      "hasNextPage": page < total_pages, "hasPrevPage": page > 1}})
        if path == "/one":
            return ok({"status": "success", "message": "ok", "data": {"hello": "world"}})
        if path == "/upload":
            return ok({"status": "success", "data": {"message": "Bulk update user process is queued"}})
        return httpx.Response(404, json={"status": "error", "message": "Not found"})


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999"})


REGISTRY_OVERRIDES: dict[str, dict[str, Any]] = {
    "users_filter": {"path": "/cursor", "page_size": 50},
    "activity_logs": {"path": "/ptp", "page_size": 50},
    "leaderboards": {"path": "/pmt", "page_size": 50},
    "products": {"path": "/skip", "page_size": 50},
    "streaks": {"path": "/hasnext", "page_size": 50, "surface": "integration"},
    "tiers": {"path": "/one", "records": "data"},
    "bulk_update_users": {"path": "/upload"},
}
