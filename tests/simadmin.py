"""Test-side handle on a running simulator: its admin API (`/__sim/...`, see docs/simulator.md).

Test code only. The client under test never imports this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY  # noqa: F401 - the simulator's, re-exported here

READ_ONLY_KEY = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
EXPIRED_KEY = "00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef"

QUIET_KNOBS: dict[str, Any] = {
    "latency_ms": 0,
    "jitter_ms": 0,
    "rate_limit": 0,
    "faults": {"rate": 0, "kinds": [], "endpoints": []},
}


@dataclass
class SimAdmin:
    base_url: str
    seed: int = 7
    users: int = 400

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=120)

    def get(self, path: str) -> Any:
        with self._client() as c:
            r = c.get(path)
            r.raise_for_status()
            return r.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        with self._client() as c:
            r = c.post(path, json=body or {})
            r.raise_for_status()
            return r.json()

    def reset(self, seed: int | None = None, users: int | None = None) -> Any:
        out = self.post("/__sim/reset", {"seed": seed or self.seed, "users": users or self.users})
        self.knobs(**QUIET_KNOBS)
        self.reset_counters()
        return out

    def knobs(self, **knobs: Any) -> Any:
        return self.post("/__sim/knobs", knobs)

    def advance(self, hours: float) -> Any:
        return self.post("/__sim/advance", {"hours": hours})

    def clock(self) -> Any:
        return self.get("/__sim/clock")

    def counters(self) -> Any:
        return self.get("/__sim/counters")

    def reset_counters(self) -> Any:
        return self.post("/__sim/counters/reset")

    def keys(self) -> Any:
        return self.get("/__sim/keys")

    def truth(self) -> dict[str, dict[str, Any]]:
        return self.get("/__sim/truth")

    def truth_rows(self, dataset: str) -> list[dict[str, Any]]:
        with self._client() as c:
            r = c.get(f"/__sim/truth/{dataset}")
            r.raise_for_status()
            return [json.loads(line) for line in r.text.splitlines() if line.strip()]
