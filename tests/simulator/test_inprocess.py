"""In-process checks through the ASGI interface: what a socket test cannot easily set up."""

from __future__ import annotations

import asyncio

import httpx

from simulator.app import build_app
from simulator.state import Sim
from tests.simadmin import FULL_KEY


def get(app: object, path: str, client: tuple[str, int], key: str | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
            return await c.get(path, headers=headers)
    return asyncio.run(run())


def test_admin_api_is_loopback_only_and_the_api_is_not() -> None:
    app = build_app(Sim(7, 50))
    assert get(app, "/__sim/clock", ("127.0.0.1", 5000)).status_code == 200
    assert get(app, "/__sim/clock", ("::1", 5000)).status_code == 200
    r = get(app, "/__sim/clock", ("10.1.2.3", 5000))
    assert r.status_code == 403 and r.json()["message"] == "admin API is loopback-only"
    assert get(app, "/apis/v1/tiers", ("10.1.2.3", 5000), FULL_KEY).status_code == 200


def test_server_timing_reports_wall_and_cpu() -> None:
    app = build_app(Sim(7, 50))
    r = get(app, "/apis/v1/tiers", ("127.0.0.1", 5000), FULL_KEY)
    parts = dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))
    assert set(parts) == {"app", "cpu"} and all(float(v) >= 0 for v in parts.values())
