"""How long a sync process takes to end once its summary is printed, for two source trees side by side.

    python -m bench.exit_time --runs 4 --users 20000 --other /tmp/base --label i21_exit_time

`returning-sync sync --resources users` against the simulator, once on this checkout and once on
`--other` (another checkout of the project, put first on PYTHONPATH), alternating. Per run: the wall
time and the seconds from the summary's `total:` line reaching the pipe to the process' exit (the
interpreter's teardown). Results: bench/results/<label>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import BENCH
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess

RESULTS = BENCH / "results"


def one_sync(sim_url: str, pythonpath: str | None) -> dict[str, float]:
    exe = Path(sys.executable).with_name("returning-sync")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim_url,
               "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": f"{tmp}/w.duckdb",
               "RUNTIME__DLTHUB_TELEMETRY": "false"}
        env.pop("PYTHONPATH", None)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        started = time.monotonic()
        proc = subprocess.Popen([str(exe), "sync", "--resources", "users"], env=env, cwd=tmp,
                                stdout=subprocess.PIPE, text=True)
        summary = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("total: "):
                summary = time.monotonic()
        proc.wait()
        ended = time.monotonic()
    if proc.returncode != 0 or summary is None:
        raise RuntimeError(f"sync exited {proc.returncode} (PYTHONPATH={pythonpath})")
    return {"wall_s": round(ended - started, 3), "after_summary_s": round(ended - summary, 3),
            "load": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--other", required=True, help="another checkout of the project (e.g. main)")
    parser.add_argument("--label", default="exit_time")
    args = parser.parse_args()
    trees = {"this": None, "other": args.other}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with SimulatorProcess(users=args.users, seed=7) as sim:
        for rep in range(args.runs):
            for name in (list(trees) if rep % 2 == 0 else list(reversed(trees))):
                runs[name].append(one_sync(sim.url, trees[name]))
                print(name, runs[name][-1], flush=True)
    result = {"label": args.label, "users": args.users, "other": args.other, "runs": runs,
              "medians": {name: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "after_summary_s")}
                          for name, rs in runs.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.label}.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Summary to exit: {args.label}", "",
             f"`python -m bench.exit_time --runs {args.runs} --users {args.users} --other {args.other} "
             f"--label {args.label}`: `returning-sync sync --resources users`, this checkout and `--other` alternating.", "",
             "| tree | run | wall s | summary to exit s | load |", "|---|---:|---:|---:|---:|",
             *[f"| {name} | {i + 1} | {r['wall_s']:.3f} | {r['after_summary_s']:.3f} | {r['load']} |"
               for name, rs in runs.items() for i, r in enumerate(rs)], "",
             *[f"Median {name}: wall {m['wall_s']:.3f} s, summary to exit {m['after_summary_s']:.3f} s."
               for name, m in result["medians"].items()]]
    (RESULTS / f"{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
