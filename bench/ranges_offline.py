"""How well a first users pass picks its `join_date` ranges, without the network (issue 11).

    python -m bench.ranges_offline --label i11s4_ranges_offline

`pipelines.shards.UsersPass` runs against an in-process Get Users with Filters (7.1): members served in
`_id` order (join order, as the simulator does), every answer held for `--latency` seconds plus up to
`--jitter` of it at random, so a request costs the same whatever it carries. Per join-date shape and
community size: the requests made against the fewest pages, and the pass's time over the floor
(pages x mean latency / concurrency). Two clocks: ours on the server's day, and ours six months ahead
(the simulator's clock runs behind the wall clock). Results: bench/results/<label>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.run import BENCH
from pipelines.config import Settings
from pipelines.shards import UsersPass

EPOCH = date(1970, 1, 1)
SERVER_DAY = date(2026, 6, 1)


class FakeUsersApi:
    """The `ReturningClient` surface the pass uses: `settings` and `read_payload`."""

    def __init__(self, days: np.ndarray, settings: Settings, latency: float, jitter: float) -> None:
        self.days = np.sort(days.astype(np.int64))  # index = member, in join order
        self.settings = settings
        self.latency, self.jitter = latency, jitter
        self.requests = 0
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(len(days))

    def read_payload(self, name: str, json: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        with self._lock:
            self.requests += 1
            hold = self.latency * (1 + self.jitter * float(self._rng.random()))
        bounds = (json.get("filter") or {}).get("join_date", {})
        # sorted days: the members a range holds are one run of indices [low, high)
        low = int(np.searchsorted(self.days, (date.fromisoformat(bounds["gte"]) - EPOCH).days, "left")) \
            if "gte" in bounds else 0
        high = int(np.searchsorted(self.days, (date.fromisoformat(bounds["lte"]) - EPOCH).days, "right")) \
            if "lte" in bounds else len(self.days)
        start = max(low, int(json.get("cursor") or 0))
        end = min(start + 200, high)
        users = [{"_id": f"{i:024x}", "join_date": f"{EPOCH + timedelta(days=int(self.days[i]))}T10:00:00.000Z"}
                 for i in range(start, end)]
        data = {"users": users, "next_cursor": str(end) if end < high else None, "total": max(high - low, 0)}
        time.sleep(max(hold - (time.monotonic() - started), 0.0))
        return {"status": "success", "data": data}


def shapes(n: int, now: date, rng: np.random.Generator) -> dict[str, np.ndarray]:
    day = (now - EPOCH).days
    old = round(n * 0.65)
    return {
        "simulator": np.r_[rng.integers(day - 90 - 730, day - 90, old), rng.integers(day - 90, day, n - old)],
        "uniform, 10 years": rng.integers(day - 3650, day, n),
        "90% in one month": np.r_[rng.integers(day - 1095, day - 60, n // 10), rng.integers(day - 45, day - 15, n - n // 10)],
        "60 days old": rng.integers(day - 60, day, n),
        "exponential growth": day - rng.exponential(120, n).astype(int),
    }


def measure(days: np.ndarray, today: date, concurrency: int, latency: float, jitter: float) -> dict[str, Any]:
    s = Settings.from_env({}, api_key="offline", integration_url="http://offline", partner_url="http://offline",
                          application_url="http://offline", concurrency=concurrency)
    api = FakeUsersApi(days, s, latency, jitter)
    shard_pass = UsersPass(api, s.endpoint("users_filter"), {"fields": ["join_date"]}, today=today)  # type: ignore[arg-type]
    started = time.monotonic()
    read = sum(len(page) for page in shard_pass.pages())
    seconds = time.monotonic() - started
    if read != len(days) or not shard_pass.complete:
        raise SystemExit(f"the pass read {read:,} of {len(days):,} members (complete: {shard_pass.complete})")
    pages = math.ceil(len(days) / 200)
    floor = pages * latency * (1 + jitter / 2) / concurrency
    return {"requests": api.requests, "pages": pages, "ranges": len(shard_pass.ranges),
            "seconds": round(seconds, 3), "floor_s": round(floor, 3), "over_floor": round(seconds / floor, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", default="20000,100000")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--jitter", type=float, default=0.3)
    p.add_argument("--label", default="ranges_offline")
    p.add_argument("--out", default=str(Path(BENCH) / "results"), help="where the .md and .json go")
    args = p.parse_args(argv)
    rows = []
    for n in (int(u) for u in args.users.split(",")):
        for shape, days in shapes(n, SERVER_DAY, np.random.default_rng(5)).items():
            for clock, today in (("ours = server's", SERVER_DAY), ("ours 183 days ahead", SERVER_DAY + timedelta(days=183))):
                row = {"users": n, "shape": shape, "clock": clock,
                       **measure(days, today, args.concurrency, args.latency, args.jitter)}
                rows.append(row)
                print(row, flush=True)
    out = Path(args.out)
    (out / f"{args.label}.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    lines = [f"# First users pass, ranges chosen offline: {args.label}", "",
             f"`python -m bench.ranges_offline --users {args.users} --concurrency {args.concurrency} "
             f"--latency {args.latency} --jitter {args.jitter} --label {args.label}`", "",
             "| users | join dates | clock | requests | fewest pages | ranges | pass s | floor s | pass / floor |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['users']:,} | {r['shape']} | {r['clock']} | {r['requests']} | {r['pages']} | {r['ranges']} | "
              f"{r['seconds']} | {r['floor_s']} | {r['over_floor']}x |" for r in rows]
    for n in sorted({r["users"] for r in rows}):
        ratios = [r["over_floor"] for r in rows if r["users"] == n]
        lines.append(f"\n{n:,} members: mean {sum(ratios) / len(ratios):.3f}x the floor, worst {max(ratios):.3f}x.")
    (out / f"{args.label}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
