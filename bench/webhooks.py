"""Benchmark of the webhook receiver: deliveries per second and latency, with real fsyncs.

The receiver (`python -m webhooks`) runs in its own process on loopback, landing into a folder on the
real disk; the load runs in another process: raw HTTP/1.1 on keep-alive connections (asyncio), each
connection sending one delivery at a time. Two kinds of scenario:
- closed loop (`rate 0`): every connection sends its next delivery as soon as the last is answered —
  the most the receiver takes;
- open loop (`--rate R`): deliveries are due at a fixed rate R spread over the connections; a latency
  is counted from when the delivery was due, so a stalled receiver cannot hide its queue (no
  coordinated omission).
Each scenario checks afterwards that every acknowledged delivery is on disk (the receiver is stopped,
its segments read back).

    python -m bench.webhooks                        # the default scenarios, results in bench/results/
    python -m bench.webhooks --scenarios closed-plain --deliveries 500 --out /tmp/x --label smoke
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

if __package__ in (None, ""):  # `python bench/webhooks.py` as well as `python -m bench.webhooks`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from returning_sync.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-webhook-key-6d2f0c9a41b7e853"
AES_KEY = "bench-aes-key-32-characters-long"
PATH = "/webhooks/returning-ai"


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # plain | gcm | cbc | mix (a third each)
    connections: int
    rate: float  # deliveries/s due; 0 = closed loop


SCENARIOS = {
    "closed-plain": Scenario("closed-plain", "plain", 16, 0),
    "closed-mix": Scenario("closed-mix", "mix", 16, 0),
    "open-1000-plain": Scenario("open-1000-plain", "plain", 32, 1000),
    "open-2000-plain": Scenario("open-2000-plain", "plain", 32, 2000),
    "open-2000-mix": Scenario("open-2000-mix", "mix", 32, 2000),
}
DEFAULT = "closed-plain,closed-mix,open-1000-plain,open-2000-plain,open-2000-mix"


# ---------------------------------------------------------------- the load process

def _event(i: int) -> bytes:
    return json.dumps({
        "id": f"{i:024x}", "event": "message.posted", "communityId": "6502c9e514a3e564c5c09c0a",
        "createdAt": "2026-05-18T12:00:00.000Z",
        "data": {"message": {"id": f"m{i}", "message": "hello there, a typical short chat line " * 3,
                             "timestamp": "2026-05-18T12:00:00.000Z", "parentId": None},
                 "user": {"user_id": f"{i + 7:024x}", "email": f"member{i}@example.com"},
                 "channel": {"channel_id": "c42", "name": "general"}},
    }, separators=(",", ":")).encode()


def _encrypt(plain: bytes, mode: str) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = AES_KEY.encode()
    if mode == "gcm":
        iv = os.urandom(12)
        data = AESGCM(key).encrypt(iv, plain, None)
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        data = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    return json.dumps({"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()}).encode()


def _request(i: int, mode: str, port: int) -> bytes:
    kind = ("plain", "gcm", "cbc")[i % 3] if mode == "mix" else mode
    body = _event(i) if kind == "plain" else _encrypt(_event(i), kind)
    head = (f"POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"x-api-key: {KEY}\r\n" + ("x-encrypted: true\r\n" if kind != "plain" else "")
            + f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending its deliveries one at a time (a protocol, not streams: the load
    process should spend as little CPU per delivery as it can, the receiver shares the machine)."""

    def __init__(self, requests: list[bytes], due: list[float] | None, latencies: list[float],
                 statuses: dict[int, int], done: asyncio.Future[None]) -> None:
        self.requests, self.due, self.latencies, self.statuses, self.done = requests, due, latencies, statuses, done
        self.k = 0
        self.buf = b""
        self.start = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's transports are not asyncio's classes)
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        if self.k >= len(self.requests):
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        if self.due is not None:
            delay = self.due[self.k] - time.perf_counter()
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._send)
                return
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.start = self.due[self.k] if self.due is not None else time.perf_counter()
        self.transport.write(self.requests[self.k])

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        m = _LENGTH.search(self.buf, 0, end)
        total = end + 4 + (int(m.group(1)) if m else 0)
        if len(self.buf) < total:
            return
        status = int(self.buf[9:12])
        self.buf = self.buf[total:]
        self.latencies.append(time.perf_counter() - self.start)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.k += 1
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost after {self.k} deliveries: {exc}"))


async def _connection(port: int, requests: list[bytes], due: list[float] | None, latencies: list[float],
                      statuses: dict[int, int]) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    await loop.create_connection(lambda: _Connection(requests, due, latencies, statuses, done), "127.0.0.1", port)
    await done


def load_process(port: int, scenario: Scenario, deliveries: int, first_id: int, out: Any) -> None:
    """Runs in its own process: build every request first, then send them and report the timings."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    reqs = [_request(first_id + i, scenario.mode, port) for i in range(deliveries)]
    per_conn = [reqs[j::scenario.connections] for j in range(scenario.connections)]
    latencies: list[list[float]] = [[] for _ in per_conn]
    statuses: dict[int, int] = {}

    async def main() -> float:
        t0 = time.perf_counter() + 0.05
        dues: list[list[float] | None] = [None] * len(per_conn)
        if scenario.rate > 0:
            dues = [[t0 + (j + k * scenario.connections) / scenario.rate for k in range(len(rs))]
                    for j, rs in enumerate(per_conn)]
        started = t0 if scenario.rate > 0 else time.perf_counter()  # open loop: from the first due time
        await asyncio.gather(*(_connection(port, rs, dues[j], latencies[j], statuses)
                               for j, rs in enumerate(per_conn)))
        return time.perf_counter() - started

    wall = asyncio.run(main())
    out.put({"wall_s": wall, "latencies": [x for lat in latencies for x in lat], "statuses": statuses})


# ---------------------------------------------------------------- the receiver process

def start_receiver(directory: Path) -> ServerProcess:
    env = {**os.environ, "RETURNING_WEBHOOK_KEY": KEY, "RETURNING_WEBHOOK_AES_KEY": AES_KEY,
           "RETURNING_WEBHOOK_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    return ServerProcess("webhooks", [sys.executable, "-m", "webhooks", "--port", "0"], cwd=ROOT, env=env,
                         stop_timeout=30).start()


def landed_ids(directory: Path) -> list[str]:
    ids = []
    for path in sorted(directory.glob("*.jsonl")):
        for raw in path.read_bytes().split(b"\n"):
            if raw:
                ids.append(json.loads(raw)["payload"]["id"])
    return ids


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


class FsyncProbe(threading.Thread):
    """Beside the receiver, on the same disk: a 300-byte append + fsync every 20 ms, timed. Tells a stall of
    the disk (other work's writes share the journal) from a stall of the receiver."""

    def __init__(self, directory: Path) -> None:
        super().__init__(daemon=True)
        self.path = directory / "fsync-probe"
        self.times: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while not self.stop.wait(0.02):
                os.write(fd, b"x" * 300)
                t = time.perf_counter()
                os.fsync(fd)
                self.times.append(time.perf_counter() - t)
        finally:
            os.close(fd)
            os.unlink(self.path)

    def summary(self) -> dict[str, float]:
        times = sorted(self.times)
        return {"samples": len(times), "p50_ms": round(percentile(times, 50) * 1e3, 2),
                "p99_ms": round(percentile(times, 99) * 1e3, 2), "max_ms": round(times[-1] * 1e3, 2) if times else 0}


def run_scenario(scenario: Scenario, deliveries: int, warmup: int, workdir: Path) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"{scenario.name}-", dir=workdir))
    receiver = start_receiver(directory)
    port = int(receiver.url.rsplit(":", 1)[1])
    ctx = multiprocessing.get_context("spawn")
    try:
        assert receiver.proc is not None
        receiver_ps = psutil.Process(receiver.proc.pid)
        results = []
        for phase, count, first in (("warmup", warmup, 0), ("measured", deliveries, warmup)):
            if count == 0:
                continue
            loadavg = round(os.getloadavg()[0], 2)
            queue = ctx.Queue()
            worker = ctx.Process(target=load_process, args=(port, scenario, count, first, queue))
            cpu_before = receiver_ps.cpu_times()
            probe = FsyncProbe(workdir)
            probe.start()
            worker.start()
            result = None
            while result is None:
                try:
                    result = queue.get(timeout=1)
                except Empty:
                    if not worker.is_alive():
                        raise RuntimeError(f"the load process died (exit {worker.exitcode})") from None
            worker.join(60)
            cpu_after = receiver_ps.cpu_times()
            probe.stop.set()
            probe.join()
            result["phase"] = phase
            result["loadavg_1m_before"] = loadavg
            result["disk_fsync"] = probe.summary()
            result["receiver_cpu_s"] = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            results.append(result)
    finally:
        receiver.stop()
    measured = results[-1]
    lat = sorted(measured["latencies"])
    acked = sum(n for s, n in measured["statuses"].items() if 200 <= int(s) < 300)
    on_disk = landed_ids(directory)
    expected = {f"{i:024x}" for i in range(warmup + deliveries)}
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "scenario": scenario.name, "mode": scenario.mode, "connections": scenario.connections,
        "rate_due": scenario.rate or None, "deliveries": deliveries, "warmup": warmup,
        "acked": acked, "statuses": {str(k): v for k, v in sorted(measured["statuses"].items())},
        "wall_s": round(measured["wall_s"], 3),
        "deliveries_per_s": round(acked / measured["wall_s"], 1),
        "latency_ms": {"p50": round(percentile(lat, 50) * 1e3, 2), "p90": round(percentile(lat, 90) * 1e3, 2),
                       "p99": round(percentile(lat, 99) * 1e3, 2), "max": round(lat[-1] * 1e3, 2),
                       "mean": round(statistics.fmean(lat) * 1e3, 2)},
        "receiver_cpu_s": round(measured["receiver_cpu_s"], 2),
        "receiver_cpu_per_delivery_us": round(measured["receiver_cpu_s"] / max(1, acked) * 1e6, 1),
        "landed_lines": len(on_disk), "all_acked_on_disk": set(on_disk) >= expected,
        "loadavg_1m_before": measured["loadavg_1m_before"],
        "disk_fsync_probe_ms": measured["disk_fsync"],
    }


def write_results(runs: list[dict[str, Any]], out: Path, label: str, meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{label}.json").write_text(json.dumps({**meta, "runs": runs}, indent=2) + "\n")
    lines = [
        f"# Webhook receiver benchmark ({label})",
        "",
        f"{meta['when']} · {meta['machine']} · {meta['cpus']} CPUs · load average before "
        f"{meta['loadavg_before']} · receiver and load in separate processes on loopback, real fsyncs "
        f"(landing on {meta['landing_fs']}).",
        "Goal: >= 2,000 deliveries/s at p99 < 50 ms.",
        "",
        "| scenario | bodies | connections | due rate/s | deliveries | delivered/s | p50 ms | p90 ms | p99 ms | "
        "max ms | receiver CPU µs/delivery | all acked on disk | load avg (1 min) before | "
        "disk fsync p99 / max ms (probe) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lat = r["latency_ms"]
        lines.append(
            f"| {r['scenario']} | {r['mode']} | {r['connections']} | {r['rate_due'] or 'closed loop'} | "
            f"{r['deliveries']} | {r['deliveries_per_s']:.0f} | {lat['p50']} | {lat['p90']} | {lat['p99']} | "
            f"{lat['max']} | {r['receiver_cpu_per_delivery_us']} | {'yes' if r['all_acked_on_disk'] else 'NO'} | "
            f"{r['loadavg_1m_before']} | {r['disk_fsync_probe_ms']['p99_ms']} / {r['disk_fsync_probe_ms']['max_ms']} |")
    lines += ["", "Closed loop: each connection sends its next delivery when the last is answered (the most "
              "the receiver takes). Open loop: deliveries due at the rate, latency counted from when each was "
              "due. `mix`: a third each plain, AES-256-GCM, AES-256-CBC. Disk fsync probe: a separate 300-byte "
              "append + fsync every 20 ms on the same disk during the measured phase.", ""]
    (out / f"{label}.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=DEFAULT, help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--deliveries", type=int, default=40_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=1, help="run each scenario this many times (alternating)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--label", default="webhooks")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-webhooks",
                        help="landing folders are made here: on the disk being measured (default under the "
                             "system temporary folder)")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    fs = next((p for p in sorted(psutil.disk_partitions(all=True), key=lambda p: -len(p.mountpoint))
               if str(args.workdir.resolve()).startswith(p.mountpoint)), None)
    meta = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.platform(),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "landing_fs": f"{fs.fstype} {fs.device}" if fs else "unknown",
    }
    runs = []
    for repeat in range(1, args.repeat + 1):
        for name in names:
            r = run_scenario(SCENARIOS[name], args.deliveries, args.warmup, args.workdir)
            r["repeat"] = repeat
            runs.append(r)
            lat = r["latency_ms"]
            print(f"{name}: {r['deliveries_per_s']:.0f} deliveries/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
                  f"statuses {r['statuses']}, all acked on disk: {r['all_acked_on_disk']}", flush=True)
    write_results(runs, args.out, args.label, meta)
    ok = all(r["all_acked_on_disk"] and r["acked"] == r["deliveries"] for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
