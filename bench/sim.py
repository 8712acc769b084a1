"""The simulator as the benchmark uses it: its own process on loopback, driven through `/__sim/...`."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

FULL_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
COMMUNITY_ID = "6502c9e514a3e564c5c09c0a"

PROFILES: dict[str, dict[str, Any]] = {
    "none": {"latency_ms": 0, "jitter_ms": 0, "rate_limit": 0},
    "lat50": {"latency_ms": 50, "jitter_ms": 0, "rate_limit": 0},
    "lat50rl20": {"latency_ms": 50, "jitter_ms": 0, "rate_limit": 20},
}
QUIET = {**PROFILES["none"], "faults": {"rate": 0, "kinds": [], "endpoints": []}}


def start_simulator(users: int, seed: int, python: str = sys.executable, ready_timeout: float = 1800
                    ) -> tuple[subprocess.Popen, str]:
    """Start `python -m simulator` on a free loopback port; return the process and its base URL."""
    proc = subprocess.Popen(
        [python, "-m", "simulator", "--host", "127.0.0.1", "--port", "0", "--users", str(users),
         "--seed", str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    t0 = time.monotonic()
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"simulator listening on (http://\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1).rstrip("/")
        if time.monotonic() - t0 > ready_timeout:
            break
    proc.kill()
    raise RuntimeError("simulator did not start:\n" + "".join(lines[-20:]))


def stop_simulator(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
