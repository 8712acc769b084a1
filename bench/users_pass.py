"""The users pass against its floor, from the run files `bench.run` writes (issue 11).

    python -m bench.users_pass bench/results/runs/i11_users_pass-*/ bench/results/runs/i11_1m-<stamp>:8 \
        > bench/results/i11_users_pass_floor.md

Per run: the users pass time the sync reports (its summary's `seconds` for `users`: first request to
last page), the whole sync's wall time, the users requests, and the floor pages x latency / concurrency
(pages = the records loaded / 200, the fewest the pass can take). `bench/run_issue11.sh` has the runs.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

PAGE = 200


def row(rec: dict, concurrency: int) -> dict:
    found = re.search(r"^users\s+([\d,]+)\s+(\d+)\s+(\d+)\s+([\d.]+)", rec["stdout_tail"], re.M)
    users_s = float(found.group(4)) if found else None
    requests = sum(n for k, n in rec["by_endpoint"].items() if "/users/filter" in k)
    pages = math.ceil(rec["truth_counts"]["users"] / PAGE) if rec.get("truth_counts") else \
        math.ceil(rec["row_counts"].get("users", 0) / PAGE)
    latency = rec["knobs"]["latency_ms"] / 1000
    conc = concurrency
    floor = pages * latency / conc
    return {"users": rec["users"], "profile": rec["profile"], "pass_s": users_s, "wall_s": rec["wall_s"],
            "users_requests": requests, "min_pages": pages, "floor_s": round(floor, 2),
            "pass_over_floor": round(users_s / floor, 2) if users_s and floor else None,
            "rss_mb": rec["peak_rss_mb"], "load": rec["loadavg_before"][0]}


def main(dirs: list[str]) -> int:
    rows = []
    for arg in dirs:  # a run directory, optionally ":<concurrency>" (default 4, the client's default)
        d, _, conc = arg.partition(":")
        for f in sorted(Path(d).glob("*-ours-*.json")):
            rows.append(row(json.loads(f.read_text()), int(conc or 4)))
    print("| users | profile | pass s | floor s | pass / floor | wall s | users requests | min pages | peak RSS MB | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['users']:,} | {r['profile']} | {r['pass_s']} | {r['floor_s']} | {r['pass_over_floor']}x | "
              f"{r['wall_s']} | {r['users_requests']} | {r['min_pages']} | {r['rss_mb']:.0f} | {r['load']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
