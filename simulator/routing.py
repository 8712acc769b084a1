"""The route table: method, path template, permission and handler of every API endpoint."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from simulator.envelopes import bad_request

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams
    from starlette.requests import Request

    from simulator.state import Sim
    from simulator.world import World


@dataclass
class Call:
    sim: Sim
    method: str
    path: str
    params: dict[str, str]
    query: QueryParams
    raw: bytes
    request: Request

    @property
    def world(self) -> World:
        return self.sim.world

    def json(self) -> dict[str, Any]:
        """The JSON object body (an empty body reads as {}); 400 otherwise."""
        if not self.raw.strip():
            return {}
        try:
            body = orjson.loads(self.raw)
        except orjson.JSONDecodeError:
            raise bad_request("Invalid JSON body", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise bad_request("Invalid JSON body", "The request body must be a JSON object")
        return body


Handler = Callable[[Call], Any]


@dataclass
class Route:
    method: str
    template: str
    permission: str
    handler: Handler
    patterns: tuple[re.Pattern[str], ...]
    auth_in_body: bool = False  # key and permission failures answer HTTP 200 with an error body (8.4)


ROUTES: list[Route] = []


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$")


def route(method: str, template: str, permission: str, also: tuple[str, ...] = (),
          auth_in_body: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler. Partner templates (`/v1/...`) are also served without `/v1`."""
    def register(fn: Handler) -> Handler:
        alts = [template, *also]
        if template.startswith("/v1/"):
            alts.append(template[3:])
        ROUTES.append(Route(method, template, permission, fn, tuple(_compile(t) for t in alts), auth_in_body))
        return fn
    return register


def match(method: str, path: str, visible: Callable[[Route], bool] | None = None
          ) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, whether the path exists under another method), among the `visible` routes."""
    other = False
    for r in ROUTES:
        if visible is not None and not visible(r):
            continue
        for p in r.patterns:
            m = p.match(path)
            if m:
                if r.method == method:
                    return r, m.groupdict(), False
                other = True
    return None, {}, other
