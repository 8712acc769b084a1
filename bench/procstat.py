"""Run one command in its own process and measure it: wall time and peak RSS of that process alone.

Peak RSS comes from the kernel (`wait4` returns the child's own `ru_maxrss`, its waited-for children
included), cross-checked by polling the process tree with psutil every 20 ms.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


def wait_until(proc: subprocess.Popen, deadline: float, clock: Any = time.perf_counter,
               poll_s: float = 0.01) -> tuple[int, Any]:
    """Wait for `proc`, killed once `clock()` passes `deadline`: its wait status and rusage (its own
    CPU and that of every process it waited for)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status, usage
        if clock() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            return status, usage
        time.sleep(poll_s)

@dataclass
class ProcResult:
    returncode: int
    wall_s: float
    peak_rss_mb: float  # kernel ru_maxrss of the child
    peak_rss_polled_mb: float  # psutil poll of the child and its descendants, summed
    stdout: str
    stderr: str
    killed_at_rss_cap: bool = False
    rss_timeline: list = None  # [(seconds since start, MB)] every ~0.5 s, to see which step peaks


def run_measured(cmd: list[str], env: dict[str, str], log_dir: Path, timeout_s: float,
                 rss_cap_mb: float = 0) -> ProcResult:
    """Run `cmd`; kill it past `timeout_s`, or once its tree's RSS passes `rss_cap_mb` (0: no cap)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        capped = False
        timeline: list[tuple[float, float]] = []
        done = threading.Event()

        def poll() -> None:
            nonlocal peak, capped
            try:
                p = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.is_set():
                try:
                    rss = p.memory_info().rss
                    for c in p.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            rss += c.memory_info().rss
                    peak = max(peak, rss)
                    now = time.perf_counter() - t0
                    if not timeline or now - timeline[-1][0] >= 0.5:
                        timeline.append((round(now, 2), round(rss / 2**20, 1)))
                    if rss_cap_mb and rss > rss_cap_mb * 2**20:
                        capped = True
                        proc.kill()
                        return
                except psutil.Error:
                    return
                done.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        status, usage = wait_until(proc, t0 + timeout_s)
        wall = time.perf_counter() - t0
        done.set()
        poller.join(timeout=1)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcResult(
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024.0,
        peak_rss_polled_mb=peak / 2**20,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        killed_at_rss_cap=capped,
        rss_timeline=timeline,
    )
