"""Process start to first API request of a sync (issue 11: goal <= 0.8 s), measured from outside.

    python -m bench.startup --runs 9 --label i11_startup

A loopback TCP relay stands in front of the simulator and notes when the first connection of each
sync arrives; the sync (`returning-sync sync --resources tiers`, one request) is started with
`subprocess.Popen` in the same process, so both instants are on the same monotonic clock. Beside it,
in the same minutes, the interpreter's own floor: `python -c "import socket; socket.create_connection(...)"`
to the same relay. Results: bench/results/<label>.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.run import BENCH
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess

RESULTS = BENCH / "results"


class FirstContact:
    """A relay on a free loopback port to `target`; `arrived` is set at each new connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.arrivals: list[float] = []
        self.arrived = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.arrivals.append(time.monotonic())
            self.arrived.set()
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def reset(self) -> None:
        self.arrivals.clear()
        self.arrived.clear()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def time_to_first_contact(relay: FirstContact, argv: list[str], env: dict[str, str], cwd: str) -> float:
    relay.reset()
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    relay.arrived.wait(timeout=60)
    first = relay.arrivals[0] - started if relay.arrivals else float("nan")
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[-3:]} exited {proc.returncode}: {err[-500:]}")
    return first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--label", default="startup")
    args = parser.parse_args()
    with SimulatorProcess(users=2000, seed=7) as sim:
        host, port = sim.url.removeprefix("http://").split(":")
        relay = FirstContact((host, int(port)))
        base = f"http://127.0.0.1:{relay.port}"
        load_before = os.getloadavg()
        sync_s, floor_s = [], []
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": base,
                   "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": f"{tmp}/w.duckdb",
                   "RUNTIME__DLTHUB_TELEMETRY": "false"}
            exe = Path(sys.executable).with_name("returning-sync")
            sync_argv = [str(exe), "sync", "--resources", "tiers"]
            floor_argv = [sys.executable, "-c",
                          f"import socket; socket.create_connection(('127.0.0.1', {relay.port})).close()"]
            time_to_first_contact(relay, sync_argv, env, tmp)  # warm the OS file cache once, not counted
            for _ in range(args.runs):  # alternating, so both see the same minutes
                sync_s.append(time_to_first_contact(relay, sync_argv, env, tmp))
                floor_s.append(time_to_first_contact(relay, floor_argv, env, tmp))
        load_after = os.getloadavg()
    result = {
        "label": args.label, "runs": args.runs, "sync_s": [round(s, 3) for s in sync_s],
        "interpreter_floor_s": [round(s, 3) for s in floor_s],
        "sync_median_s": round(statistics.median(sync_s), 3),
        "floor_median_s": round(statistics.median(floor_s), 3),
        "within_0_8_s": sum(s <= 0.8 for s in sync_s), "loadavg_before": load_before, "loadavg_after": load_after,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.label}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Process start to first API request: {args.label}", "",
        f"`python -m bench.startup --runs {args.runs} --label {args.label}`; a one-request sync "
        "(`returning-sync sync --resources tiers`, DuckDB file) against the simulator through a loopback relay "
        "that notes each connection's arrival; alternating with the interpreter's floor (start python, connect). "
        f"Load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.", "",
        "| run | sync s | interpreter floor s |", "|---:|---:|---:|",
        *[f"| {i + 1} | {s:.3f} | {f:.3f} |" for i, (s, f) in enumerate(zip(sync_s, floor_s, strict=True))], "",
        f"Median {result['sync_median_s']:.3f} s (floor {result['floor_median_s']:.3f} s); "
        f"{result['within_0_8_s']} of {args.runs} runs within the 0.8 s goal.",
    ]
    (RESULTS / f"{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
