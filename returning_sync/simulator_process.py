"""The simulator in a process of its own: the one launcher the demo, the UI command, the tests and the
benchmark share. It runs `python -m simulator` on a loopback port (0: a free one) and takes the base
URL from the line the simulator prints once it accepts connections."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from returning_sync.server_process import ServerProcess

# the simulator's seeded community and its all-permission key (docs/simulator.md): the demo, the
# tests and the benchmarks sync with these; the simulator itself states them on its own side
COMMUNITY_ID = "6502c9e514a3e564c5c09c0a"
FULL_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


class SimulatorProcess(ServerProcess):
    """`python -m simulator --users N --seed S` (plus `extra` flags), run from `cwd` (None: this one)."""

    def __init__(self, users: int = 2000, seed: int = 7, port: int = 0, host: str = "127.0.0.1",
                 extra: Sequence[str] = (), cwd: Path | str | None = None) -> None:
        super().__init__("simulator", [sys.executable, "-m", "simulator", "--host", host, "--port", str(port),
                                       "--users", str(users), "--seed", str(seed), *extra], cwd=cwd)

    def admin_get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.loads(response.read())

    def admin_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
