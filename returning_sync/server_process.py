"""A server in a process of its own, ready once it prints `<name> listening on <url>` (the simulator
and the webhook receiver both do). Everything it prints is kept; it is stopped on exit."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self


class ServerProcess:
    """`cmd` run from `cwd` (None: this one) with `env` (None: this one's)."""

    def __init__(self, name: str, cmd: Sequence[str], cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None, stop_timeout: float = 10) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.cwd = cwd
        self.env = env
        self.stop_timeout = stop_timeout
        self.ready = re.compile(re.escape(name) + r" listening on (http://\S+)")
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self) -> Self:
        """Start it and wait until it listens; RuntimeError with its last output when it exits first."""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=self.cwd, env=self.env)
        stdout = self.proc.stdout
        assert stdout is not None
        for line in stdout:
            self.output.append(line)
            found = self.ready.search(line)
            if found:
                self.url = found.group(1).rstrip("/")
                # keep reading its output so a chatty server never blocks on a full pipe
                threading.Thread(target=lambda: self.output.extend(stdout), daemon=True).start()
                return self
        self.kill()
        raise RuntimeError(f"the {self.name} process exited before it was ready:\n" + "".join(self.output[-20:]))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout` seconds."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
