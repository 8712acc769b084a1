"""Scale bench of the simulator: generation time and peak RSS at 100k and 1M users, and the server time
of a 200-user page at that size. Run: `.venv/bin/python bench/simulator_scale.py` (not part of the tests).

Each size runs in a fresh child process so its peak RSS is its own. Server time is what the app itself
reports in its `Server-Timing` header (dispatch, auth, handler, serialisation), measured in-process
through the ASGI interface, with the server's latency knobs off.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from returning_sync.simulator_process import FULL_KEY

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KEY = FULL_KEY
ALL_FIELDS = ["email", "first_name", "last_name", "join_date", "xp", "coins", "username", "display_name",
              "last_login", "tier", "level", "premium_currency", "language", "login_streak", "total_messages",
              "total_reactions", "visit_count", "is_deleted", "city", "favourite_game", "age", "newsletter_opt_in",
              "birthday", "loyalty_points"]
REPEAT = 60


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def page_times(app: Any, body: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms of the serving thread) per request, from the app's `Server-Timing` header."""
    import httpx

    wall: list[float] = []
    cpu: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"Authorization": f"Bearer {KEY}"}) as c:
        for _ in range(REPEAT + 5):
            r = await c.post("/apis/v1/users/filter", json=body)
            assert r.status_code == 200, r.text
            assert len(r.json()["data"]["users"]) == 200
            timing = dict(part.strip().split(";dur=") for part in r.headers["server-timing"].split(","))
            wall.append(float(timing["app"]))
            cpu.append(float(timing["cpu"]))
    return wall[5:], cpu[5:]


def p95(values: list[float]) -> float:
    return round(sorted(values)[int(len(values) * 0.95) - 1], 3)


def child(users: int, seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from simulator.app import build_app
    from simulator.state import Sim

    base = rss_mb()
    t = time.perf_counter()
    sim = Sim(seed, users)
    gen_s = time.perf_counter() - t
    gen_rss = rss_mb()
    w = sim.world
    app = build_app(sim)
    mid = base64.urlsafe_b64encode(f"u:{users // 2}".encode()).decode().rstrip("=")
    cases: dict[str, dict[str, Any]] = {
        "first page, default fields": {},
        "first page, all 24 fields": {"fields": ALL_FIELDS},
        "middle page (cursor), all fields": {"fields": ALL_FIELDS, "cursor": mid},
        f"page {users // 400} (page mode), all fields": {"fields": ALL_FIELDS, "page": users // 400},
        "filtered (xp >= 500), all fields": {"fields": ALL_FIELDS, "filter": {"xp": {"gte": 500}}},
    }
    pages = {}
    for name, body in cases.items():
        wall, cpu = asyncio.run(page_times(app, body))
        pages[name] = {"median_ms": round(statistics.median(wall), 3), "p95_ms": p95(wall),
                       "max_ms": round(max(wall), 3), "cpu_median_ms": round(statistics.median(cpu), 3),
                       "cpu_p95_ms": p95(cpu)}
    return {
        "users": users, "seed": seed, "generate_s": round(gen_s, 2), "rss_before_mb": round(base, 1),
        "peak_rss_after_generate_mb": round(gen_rss, 1), "peak_rss_after_serving_mb": round(rss_mb(), 1),
        "rows": {"users": w.n_users, "gamification_logs": w.logs.n, "user_field_histories": w.histories.n,
                 "orders": w.orders.n, "status_changes": w.changes.n, "streak_logs": w.streak_logs.n},
        "page_server_time": pages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seed)))
        return 0
    runs = []
    for n in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(json.dumps(run, indent=1), flush=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
              "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", "loadavg_at_end": load,
              "targets": {"generate_1m_s": 60, "peak_rss_1m_mb": 2048, "page_200_ms": 5}, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "simulator_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "simulator_scale.md").write_text(markdown(result))
    return 0


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Simulator scale", "",
             f"Measured {result['when']} on {result['machine']}, Python {result['python']} "
             f"(load average at the end: {' '.join(result['loadavg_at_end'])}). "
             "Targets: 1M users generate in < 60 s, peak RSS < 2 GB, a 200-user page in < 5 ms of server time.",
             "", "| users | generate (s) | peak RSS (MB) | logs | field histories | orders | streak logs |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        rows = r["rows"]
        lines.append(f"| {r['users']:,} | {r['generate_s']} | {r['peak_rss_after_serving_mb']:,} | "
                     f"{rows['gamification_logs']:,} | {rows['user_field_histories']:,} | {rows['orders']:,} | "
                     f"{rows['streak_logs']:,} |")
    for r in result["runs"]:
        lines += ["", f"Server time of `POST /apis/v1/users/filter` (200 users) at {r['users']:,} users, "
                  f"{REPEAT} requests each (wall time, and CPU time of the serving thread, which a busy "
                  "machine does not inflate):", "",
                  "| page | median ms | p95 ms | max ms | CPU median ms | CPU p95 ms |", "|---|---:|---:|---:|---:|---:|"]
        for name, t in r["page_server_time"].items():
            lines.append(f"| {name} | {t['median_ms']} | {t['p95_ms']} | {t['max_ms']} | {t['cpu_median_ms']} | "
                         f"{t['cpu_p95_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
