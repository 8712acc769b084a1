"""The simulator in a process of its own: the one launcher the demo, the UI command, the tests and the
benchmark share. It runs `python -m simulator` on a loopback port (0: a free one), reads the base URL
from the line the simulator prints once it accepts connections, and stops it on exit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

READY = re.compile(r"simulator listening on (http://\S+)")


class SimulatorProcess:
    """`python -m simulator --users N --seed S` (plus `extra` flags), run from `cwd` (None: this one)."""

    def __init__(self, users: int = 2000, seed: int = 7, port: int = 0, host: str = "127.0.0.1",
                 extra: Sequence[str] = (), cwd: Path | str | None = None) -> None:
        self.cmd = [sys.executable, "-m", "simulator", "--host", host, "--port", str(port),
                    "--users", str(users), "--seed", str(seed), *extra]
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> SimulatorProcess:
        """Start it and wait until it listens; RuntimeError with its last output when it exits first."""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=self.cwd)
        assert self.proc.stdout is not None
        seen: list[str] = []
        for line in self.proc.stdout:
            seen.append(line)
            found = READY.search(line)
            if found:
                self.url = found.group(1).rstrip("/")
                # keep draining its output so a chatty server never blocks on a full pipe
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("the simulator exited before it was ready:\n" + "".join(seen[-20:]))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 seconds."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def admin_get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.loads(response.read())

    def admin_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
