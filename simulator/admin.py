"""The admin API under `/__sim` (loopback only, no key): reset, clock, knobs, keys, counters, truth,
webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulator import bulk, clock, surface, truth
from simulator.auth import ALL_PERMISSIONS, ApiKey
from simulator.catalog import is_community_id
from simulator.timefmt import CLOCK_START_MS, HISTORY_START_MS, iso
from simulator.webhooks import Receiver

if TYPE_CHECKING:
    from simulator.state import Sim

_LINE_BREAKS = [("\u0085".encode(), b"\\u0085"), ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029")]
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
MAX_USERS = 5_000_000


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"status": "error", "message": message}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def handle(sim: Sim, request: Request) -> Response:
    host = request.client.host if request.client else ""
    if host not in LOOPBACK:
        return _error(403, "admin API is loopback-only")
    path = request.url.path.rstrip("/")
    method = request.method
    try:
        body = await _body(request) if method in ("POST", "PUT") else {}
    except (orjson.JSONDecodeError, ValueError) as e:
        return _error(400, f"invalid JSON body: {e}")
    bulk.tick(sim)
    w = sim.world
    try:
        if path == "/__sim/reset" and method == "POST":
            seed = body.get("seed", sim.seed)
            users = body.get("users", w.n_users)
            community_id = body.get("community_id")
            if not isinstance(seed, int) or not isinstance(users, int) or not 0 < users <= MAX_USERS:
                return _error(400, f"seed must be an integer and users an integer in 1..{MAX_USERS}")
            if community_id is not None and not is_community_id(community_id):
                return _error(400, "community_id must be 24 lowercase hex characters (a MongoDB ObjectId)")
            out = sim.reset(seed, users, community_id)
            return _json({**out, "now": iso(sim.world.clock_ms)})
        if path == "/__sim/clock" and method == "GET":
            return _json({"now": iso(w.clock_ms), "start": iso(CLOCK_START_MS), "history_start": iso(HISTORY_START_MS)})
        if path == "/__sim/advance" and method == "POST":
            return _json(clock.advance(w, body.get("hours", 24)))
        if path == "/__sim/knobs" and method == "POST":
            sim.knobs.update(body)
            if "faults" in body:
                sim.faults.reseed(sim.seed)
            if "rate_limit" in body:
                sim.limiter.reset()
            return _json(sim.knobs.as_dict())
        if path == "/__sim/surface" and method == "GET":
            return _json(surface.describe(sim.knobs.surface))
        if path == "/__sim/knobs" and method == "GET":
            return _json(sim.knobs.as_dict())
        if path == "/__sim/counters" and method == "GET":
            return _json(sim.counters.as_dict())
        if path == "/__sim/counters/reset" and method == "POST":
            sim.counters.reset()
            return _json(sim.counters.as_dict())
        if path == "/__sim/keys" and method == "GET":
            return _json({"keys": [k.as_dict() for k in sim.keys.values()]})
        if path == "/__sim/keys" and method == "POST":
            return _set_key(sim, body)
        if path.startswith("/__sim/keys/") and method == "DELETE":
            key = path.removeprefix("/__sim/keys/")
            if sim.keys.pop(key, None) is None:
                return _error(404, "no such key")
            return _json({"deleted": key})
        if path == "/__sim/webhooks" and method == "POST":
            return _json(sim.webhooks.register(w, Receiver.parse(body)))
        if path == "/__sim/webhooks" and method == "GET":
            return _json(sim.webhooks.status(w))
        if path == "/__sim/webhooks" and method == "DELETE":
            sim.webhooks.stop()
            w.record_events = False
            return _json(sim.webhooks.status(w))
        if path == "/__sim/webhooks/flush" and method == "POST":
            timeout = body.get("timeout_s", 30)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 3600:
                return _error(400, "timeout_s must be a number in [0, 3600]")
            return _json(await sim.webhooks.flush(w, timeout))
        if path == "/__sim/truth" and method == "GET":
            return _json(truth.summary(w, sim.knobs.surface))
        if path.startswith("/__sim/truth/") and method == "GET":
            name = path.removeprefix("/__sim/truth/")
            if name not in truth.DATASETS:
                return _error(404, f"unknown dataset {name!r}; known: {sorted(truth.DATASETS)}")
            lines = b"".join(orjson.dumps(r) + b"\n" for r in truth.rows(w, name, sim.knobs.surface))
            for raw, escaped in _LINE_BREAKS:  # keep one row per line even for str.splitlines()
                lines = lines.replace(raw, escaped)
            return Response(lines, media_type="application/x-ndjson")
    except ValueError as e:
        return _error(400, str(e))
    return _error(404, f"no admin endpoint {method} {path}")


def _set_key(sim: Sim, body: dict[str, Any]) -> Response:
    key = body.get("key")
    if not isinstance(key, str) or not key or " " in key:
        return _error(400, "key must be a non-empty string without spaces")
    old = sim.keys.get(key)
    perms = body.get("permissions", old.permissions if old else ALL_PERMISSIONS)
    if perms == "all":
        perms = list(ALL_PERMISSIONS)
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        return _error(400, "permissions must be a list of permission names or \"all\"")
    expired = body.get("expired", old.expired if old else False)
    if not isinstance(expired, bool):
        return _error(400, "expired must be a boolean")
    sim.keys[key] = ApiKey(key, list(perms), expired)
    return _json(sim.keys[key].as_dict())
