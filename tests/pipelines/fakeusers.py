"""An in-process fake of Get Users with Filters (7.1) for the sharded pass (httpx.MockTransport).

Members are served in id order under a cursor (the index after the last one sent), pages of `page`
records, every page carrying the `total` of its filter. `join_date` filters take `gte`/`lte` days
(YYYY-MM-DD, inclusive); a member may have no join date (no range holds him). `ignore_filter`
serves a server that drops the filter silently. `hooks[n]` runs before the n-th request is answered,
so a test can move, add or remove members during the pass."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from tests.pipelines.fakeapi import KEY

PATH = "/users"


@dataclass
class Member:
    index: int
    joined: date | None
    alive: bool = True

    @property
    def id(self) -> str:
        return f"{self.index:024x}"


@dataclass
class FakeUsers:
    members: list[Member]
    page: int = 200
    ignore_filter: bool = False
    hooks: dict[int, Callable[[FakeUsers], None]] = field(default_factory=dict)
    requests: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def joined_on(cls, days: list[date | None], **kw: Any) -> FakeUsers:
        return cls([Member(i, d) for i, d in enumerate(days)], **kw)

    def add(self, joined: date | None) -> Member:
        m = Member(len(self.members), joined)
        self.members.append(m)
        return m

    def live(self) -> list[Member]:
        return [m for m in self.members if m.alive]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json={"status": "error", "message": "Invalid API key"})
        body = json.loads(request.content)
        with self.lock:
            self.requests += 1
            self.bodies.append(body)
            hook = self.hooks.pop(self.requests, None)
            if hook is not None:
                hook(self)
            flt = {} if self.ignore_filter else (body.get("filter") or {}).get("join_date", {})
            lo = date.fromisoformat(flt["gte"]) if "gte" in flt else None
            hi = date.fromisoformat(flt["lte"]) if "lte" in flt else None

            def match(m: Member) -> bool:
                if not m.alive:
                    return False
                if lo is None and hi is None:
                    return True
                return m.joined is not None and (lo is None or m.joined >= lo) and (hi is None or m.joined <= hi)

            matching = [m for m in self.members if match(m)]
            start = int(body.get("cursor") or 0)
            after = [m for m in matching if m.index >= start]
            sent = after[:self.page]
            more = len(after) > self.page
            wanted = [f for f in body.get("fields", []) if f != "_id"]
            users = [{"_id": m.id, **({"join_date": f"{m.joined}T10:00:00.000Z" if m.joined else None}
                                      if "join_date" in wanted else {})} for m in sent]
            data = {"users": users, "next_cursor": str(sent[-1].index + 1) if more else None, "total": len(matching)}
        return httpx.Response(200, json={"status": "success", "data": data})


def spread(n: int, first: date, days: int) -> list[date | None]:
    """`n` join days spread evenly over `days` days from `first`, in order."""
    return [first + timedelta(days=i * days // max(n, 1)) for i in range(n)]
