"""The Starlette application: one dispatcher in front of the route table and the admin API.

Per API request: bulk jobs catch up, latency, 401 (key), 429 (rate), 403 (permission), faults, handler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from simulator import admin, bulk, routing, surface
from simulator import routes_activity as _routes_activity  # noqa: F401  (registers routes)
from simulator import routes_bulk as _routes_bulk  # noqa: F401
from simulator import routes_gamification as _routes_gamification  # noqa: F401
from simulator import routes_messages as _routes_messages  # noqa: F401
from simulator import routes_minigames as _routes_minigames  # noqa: F401
from simulator import routes_redemptions as _routes_redemptions  # noqa: F401
from simulator import routes_store as _routes_store  # noqa: F401
from simulator import routes_users as _routes_users  # noqa: F401
from simulator.auth import authenticate, authorize
from simulator.envelopes import ApiError, Reply
from simulator.faults import DATA
from simulator.state import Sim

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class SimulatedReset(Exception):
    """Raised after part of a body went out: uvicorn then drops the connection."""


class _QuietReset(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, SimulatedReset):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietReset())
log = logging.getLogger("simulator")


class ResetResponse(Response):
    """Declares the full Content-Length, sends part of the body, then aborts the connection."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        super().__init__(body, 200, headers, "application/json")
        self.full = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.full[: max(1, len(self.full) // 3)], "more_body": True})
        raise SimulatedReset("simulated connection reset")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, "application/json")


def build_app(sim: Sim) -> Starlette:
    async def dispatch(request: Request) -> Response:
        path = request.url.path
        if path.startswith("/__sim"):
            response = await admin.handle(sim, request)
        else:
            response = await api(request, path)
        sim.webhooks.pump(sim.world)  # events the call made (clock, Send Message) go out
        return response

    def error_in_body(endpoint: str, message: str, headers: dict[str, str]) -> Response:
        """Send Message's documented failures: HTTP 200, `{"status": "error", "message": ...}`."""
        sim.counters.record(endpoint, 200)
        return json_response({"status": "error", "message": message}, 200, headers)

    async def api(request: Request, path: str) -> Response:
        t0, c0 = time.perf_counter(), time.thread_time()
        method = request.method
        shown = sim.knobs.surface  # fixed for the whole request, even if a knob call lands meanwhile
        r, params, other, used = surface.resolve(shown, method, path)
        endpoint = f"{method} {used}" if r else f"{method} {path}"
        headers: dict[str, str] = {}
        try:
            bulk.tick(sim)
            k = sim.knobs
            delay = k.latency_ms + (random.uniform(0, k.jitter_ms) if k.jitter_ms else 0)
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            if r is None:
                raise ApiError(405 if other else 404, "Method not allowed" if other else "Not found",
                               f"No endpoint {method} {path}")
            try:
                key = authenticate(sim.keys, request.headers.get("authorization"))
            except ApiError:
                if not r.auth_in_body:
                    raise
                return error_in_body(endpoint, "Invalid token", headers)
            headers = sim.limiter.check(key.key, k.rate_limit)
            try:
                authorize(key, r.permission)
            except ApiError:
                if not r.auth_in_body:
                    raise
                return error_in_body(endpoint, "Insufficient permission", headers)
            fault = sim.faults.pick(k, method, r.template, path)
            if fault in ("500", "502", "503"):
                msgs = {"500": "Internal server error", "502": "Bad gateway: upstream unavailable",
                        "503": "Service unavailable"}
                raise ApiError(int(fault), msgs[fault], "Simulated fault")
            if fault == "slow":
                await asyncio.sleep(k.slow_ms / 1000)
            query, raw = surface.rewrite_request(shown, r, request.query_params, await request.body())
            call = routing.Call(sim, method, path, params, query, raw, request)
            reply = r.handler(call)
            if inspect.isawaitable(reply):
                reply = await reply
            assert isinstance(reply, Reply)
            surface.rewrite_reply(shown, r, reply)
            if fault in DATA and reply.records is not None:
                sim.faults.apply_data(fault, key.key, r.template, reply.records)
            sim.faults.remember(key.key, r.template, reply.records)
            body = orjson.dumps(reply.body)
            headers.update(reply.headers)
            headers["Server-Timing"] = (f"app;dur={(time.perf_counter() - t0) * 1000:.3f}, "
                                        f"cpu;dur={(time.thread_time() - c0) * 1000:.3f}")
            sim.counters.record(endpoint, reply.status)
            if fault == "truncate":
                return Response(body[: max(1, len(body) // 2)], reply.status, headers, "application/json")
            if fault == "reset":
                return ResetResponse(body, headers)
            return Response(body, reply.status, headers, "application/json")
        except ApiError as e:
            headers.update(e.headers)
            sim.counters.record(endpoint, e.status)
            return json_response(e.body(), e.status, headers)
        except Exception as e:  # a simulator bug: answer like the real API would, and say so on stderr
            log.exception("unhandled error in %s", endpoint)
            sim.counters.record(endpoint, 500)
            return json_response(ApiError(500, "Internal server error", f"{type(e).__name__}: {e}").body(), 500,
                                 headers)

    return Starlette(routes=[StarletteRoute("/{path:path}", dispatch, methods=METHODS)])
