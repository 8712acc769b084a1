"""The simulator as the benchmark drives it through `/__sim/...` (it runs in its own process:
`returning_sync.simulator_process.SimulatorProcess`)."""

from __future__ import annotations

from typing import Any

import httpx

PROFILES: dict[str, dict[str, Any]] = {
    "none": {"latency_ms": 0, "jitter_ms": 0, "rate_limit": 0},
    "lat50": {"latency_ms": 50, "jitter_ms": 0, "rate_limit": 0},
    "lat50rl20": {"latency_ms": 50, "jitter_ms": 0, "rate_limit": 20},
}
QUIET = {**PROFILES["none"], "faults": {"rate": 0, "kinds": [], "endpoints": []}}


class Sim:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=1800)

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.post(path, json=body or {})
        r.raise_for_status()
        return r.json()

    def reset(self, seed: int, users: int) -> Any:
        out = self.post("/__sim/reset", {"seed": seed, "users": users})
        self.knobs(QUIET)
        self.reset_counters()
        return out

    def knobs(self, knobs: dict[str, Any]) -> Any:
        return self.post("/__sim/knobs", knobs)

    def advance(self, hours: float) -> Any:
        return self.post("/__sim/advance", {"hours": hours})

    def clock(self) -> Any:
        return self.get("/__sim/clock")

    def counters(self) -> Any:
        return self.get("/__sim/counters")

    def reset_counters(self) -> Any:
        return self.post("/__sim/counters/reset")

    def truth(self) -> Any:
        return self.get("/__sim/truth")
