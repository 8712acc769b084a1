"""Many communities in one deployment: N simulated communities synced one after another, then all at
once, in the same invocation (issue 22).

    python -m bench.communities                                   # 8 x 2,000 members at 50 ms; --parallel 8, then 2
    python -m bench.communities --communities 2 --users 100 --fan-outs 2 --label communities_tiny

Each community is a simulator process of its own (its own community id, seed and API key: the
simulator's built-in keys are removed and one of its own added), configured as a user would: one
block in `.dlt/config.toml` (`community_id`, `base_url`, its own DuckDB file as `warehouse`) and one
secret in `.dlt/secrets.toml`, in a temporary project. Every phase gets a fresh project folder, so
fresh warehouses and fresh dlt working folders:

- singles: `returning-sync sync --community <slug>` for each community, one after another; the slowest
  one's wall time is the reference;
- fan-outs: `returning-sync sync --all-communities --parallel N` for each N of `--fan-outs`.

Per phase: wall time; CPU seconds of the sync processes (the kernel's rusage of the command and every
process it waited for); the sum of RSS over the command's whole process tree, sampled every 100 ms
(its peak is the deployment's peak; PSS, which counts shared pages once, sampled every second; and the
rise of the machine's memory in use, MemTotal - MemAvailable, over the phase); the
largest single process; the simulators' CPU seconds and RSS, apart; the machine's busy CPU seconds
over the phase (others' work included) and its load average. `--destination postgres` syncs every
community into its own schemas of one throwaway Postgres database per phase (`tests/pgcluster.py`)
instead of a DuckDB file each. Results: `bench/results/<label>.json` and `.md`; the figures and
their reading are in bench/README.md, "Issue 22: eight communities".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.procstat import wait_until
from returning_sync.simulator_process import SimulatorProcess

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SAMPLE_S = 0.1  # RSS of the process tree
PSS_EVERY = 10  # samples between two PSS sums (smaps_rollup is dearer than statm)
TREE_EVERY = 5  # samples between two walks of the process tree
MB = 2**20
# the simulator's built-in keys (docs/simulator.md): removed, so each community answers to its own key only
BUILT_IN_KEYS = ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
                 "00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef")
SUMMARY_ROW = re.compile(r"^(?P<slug>[a-z0-9_]+)\s+(?P<status>ok|partial|failed)\s+(?P<rows>[\d,-]+)\s+"
                         r"(?P<requests>[\d,-]+)\s+(?P<skipped>[\d,-]+)\s+(?P<seconds>[\d.]+)\s+(?P<exit>\d+)$")
TOTAL_LINE = re.compile(r"^total: ([\d,]+) requests? \((\d+) retried\), ([\d.]+) s")


@dataclass
class Community:
    slug: str
    community_id: str
    seed: int
    key: str = field(repr=False)
    sim: SimulatorProcess = field(repr=False)


def start_communities(count: int, users: int, latency_ms: int) -> list[Community]:
    """`count` simulators, each its own community: id, seed, added latency and a key of its own."""
    out: list[Community] = []
    try:
        for i in range(1, count + 1):
            cid = f"65a0c9e514a3e564c5c0{i:04x}"
            sim = SimulatorProcess(users=users, seed=100 + i,
                                   extra=["--community-id", cid, "--latency-ms", str(latency_ms)]).start()
            key = secrets.token_hex(32)
            out.append(Community(f"c{i:02d}", cid, 100 + i, key, sim))
            sim.admin_post("/__sim/keys", {"key": key, "permissions": "all"})
            for built_in in BUILT_IN_KEYS:
                admin_delete(sim, f"/__sim/keys/{built_in}")
            knobs = sim.admin_get("/__sim/knobs")
            if knobs.get("latency_ms") != latency_ms:
                raise RuntimeError(f"simulator {cid}: latency {knobs.get('latency_ms')} ms, wanted {latency_ms}")
    except BaseException:
        for c in out:
            c.sim.stop()
        raise
    return out


def admin_delete(sim: SimulatorProcess, path: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(sim.url + path, method="DELETE"), timeout=30):
        pass


def write_project(root: Path, fleet: list[Community], destination: str, db_url: str | None) -> Path:
    """A project as a user sets it up: one block and one secret per community (no `default`
    community: the top level holds only what they share)."""
    dlt_dir = root / ".dlt"
    dlt_dir.mkdir(parents=True)
    top = [f'warehouse = "{root / "warehouse" / "shared.duckdb"}"']  # the seeds of a fan-out land here
    if destination != "duckdb":
        top.append(f'destination = "{destination}"')
    config = ["[sources.returning_ai]", *top, ""]
    secret = []
    for c in fleet:
        config += [f"[sources.returning_ai.communities.{c.slug}]", f'community_id = "{c.community_id}"',
                   f'base_url = "{c.sim.url}"', f'warehouse = "{root / "warehouse" / (c.slug + ".duckdb")}"', ""]
        secret += [f"[sources.returning_ai.communities.{c.slug}]", f'api_key = "{c.key}"', ""]
    if db_url is not None:
        secret += ["[destination.postgres]", f'credentials = "{db_url}"', ""]
    (dlt_dir / "config.toml").write_text("\n".join(config), encoding="utf-8")
    (dlt_dir / "secrets.toml").write_text("\n".join(secret), encoding="utf-8")
    return root


def project_env(root: Path) -> dict[str, str]:
    """This environment without any setting of the project's, pointed at `root`'s `.dlt/`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETURNING_", "SOURCES__", "DESTINATION__", "DLT_"))}
    return {**env, "DLT_PROJECT_DIR": str(root), "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONUNBUFFERED": "1"}


class TreeSampler:
    """Every `SAMPLE_S`: the RSS summed over `pid` and all its descendants, and over the simulators."""

    def __init__(self, pid: int, sims: list[psutil.Process]) -> None:
        self.root = psutil.Process(pid)
        self.sims = sims
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self.largest: dict[int, tuple[int, str]] = {}  # pid -> (peak RSS, what it is)
        self.sims_peak_rss = 0
        self.machine_start = machine_in_use()
        self.machine_peak = self.machine_start
        self.timeline: list[tuple[float, float, int]] = []  # (s, MB of the tree, processes) every ~1 s
        self._known: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _process(self, pid: int) -> psutil.Process | None:
        if pid not in self._known:
            try:
                self._known[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return self._known[pid]

    def _run(self) -> None:
        n = 0
        members: list[int] = []
        while not self._stop.is_set():
            if n % TREE_EVERY == 0:  # a sync process lives seconds: found within 0.5 s, before its imports end
                members = tree(self.root.pid)
            procs = [p for p in map(self._process, members) if p is not None and p.is_running()]
            rss = pss = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    mine = p.memory_info().rss
                    rss += mine
                    if mine > self.largest.get(p.pid, (0, ""))[0]:
                        self.largest[p.pid] = (mine, self.largest.get(p.pid, (0, ""))[1] or _what(p))
                    if n % PSS_EVERY == 0:
                        pss += p.memory_full_info().pss
            self.machine_peak = max(self.machine_peak, machine_in_use())
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(procs))
            sims = 0
            for s in self.sims:
                with contextlib.suppress(psutil.Error):
                    sims += s.memory_info().rss
            self.sims_peak_rss = max(self.sims_peak_rss, sims)
            now = time.monotonic() - self.started
            if procs and (not self.timeline or now - self.timeline[-1][0] >= 1.0):
                self.timeline.append((round(now, 1), round(rss / MB, 1), len(procs)))
            n += 1
            self._stop.wait(SAMPLE_S)


def machine_in_use() -> int:
    """The machine's memory in use, in bytes: MemTotal - MemAvailable (what `free` calls used, page
    cache that can be dropped excluded). Its rise over a run counts every page the run's processes hold
    once, however many of them map it."""
    fields: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
    return fields["MemTotal"] - fields["MemAvailable"]


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, from the kernel's per-thread `children` lists (psutil's
    `children(recursive=True)` reads every process on the machine: ~15 ms a sample under load)."""
    out, todo = [], [pid]
    while todo:
        here = todo.pop()
        try:
            tids = os.listdir(f"/proc/{here}/task")
        except OSError:
            continue
        out.append(here)
        for tid in tids:
            with contextlib.suppress(OSError), open(f"/proc/{here}/task/{tid}/children") as f:
                todo += [int(c) for c in f.read().split()]
    return out


def _what(p: psutil.Process) -> str:
    try:
        args = p.cmdline()
    except psutil.Error:
        return "?"
    if "--community" in args:
        return "sync --community " + args[args.index("--community") + 1]
    if "--all-communities" in args:
        return "sync --all-communities (the parent)"
    if "returning_sync.fork_server" in args:  # the server and its children share a command line
        with contextlib.suppress(psutil.Error):
            parent = p.parent()
            if parent is not None and "returning_sync.fork_server" in parent.cmdline():
                return "a community's sync, forked"
        return "the fork server"
    return " ".join(Path(a).name for a in args[:3])


def busy_cpu_s() -> float:
    """The machine's busy CPU seconds so far, all cores."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def sims_cpu_s(sims: list[psutil.Process]) -> float:
    total = 0.0
    for s in sims:
        with contextlib.suppress(psutil.Error):
            c = s.cpu_times()
            total += c.user + c.system
    return total


def measured(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, sims: list[psutil.Process],
             timeout_s: float) -> dict[str, Any]:
    """Run `cmd`; its wall time, exit code, CPU and memory (see the module docstring)."""
    load = [round(x, 2) for x in os.getloadavg()]
    busy0, sims0 = busy_cpu_s(), sims_cpu_s(sims)
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        with TreeSampler(proc.pid, sims) as sampler:
            status, usage = wait_until(proc, started + timeout_s, time.monotonic, 0.02)
            wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    largest_pid = max(sampler.largest, key=lambda p: sampler.largest[p][0], default=None)
    return {
        "cmd": " ".join(cmd[1:]), "exit": proc.returncode, "wall_s": round(wall, 2),
        "sync_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(sampler.peak_rss / MB, 1), "peak_pss_mb": round(sampler.peak_pss / MB, 1),
        "peak_processes": sampler.peak_processes,
        "largest_process_mb": round(sampler.largest[largest_pid][0] / MB, 1) if largest_pid else 0.0,
        "largest_process": sampler.largest[largest_pid][1] if largest_pid else "",
        "per_process_peak_mb": sorted((round(v[0] / MB, 1) for v in sampler.largest.values()), reverse=True),
        "simulators_cpu_s": round(sims_cpu_s(sims) - sims0, 2),
        "simulators_peak_rss_mb": round(sampler.sims_peak_rss / MB, 1),
        "machine_memory_rise_mb": round((sampler.machine_peak - sampler.machine_start) / MB, 1),
        "machine_busy_cpu_s": round(busy_cpu_s() - busy0, 2),
        "load_start": load, "load_end": [round(x, 2) for x in os.getloadavg()],
        "rss_timeline": sampler.timeline,
        "log": str(log),
    }


def summary_rows(output: str) -> dict[str, dict[str, Any]]:
    """A fan-out's summary: slug -> status, rows, requests, seconds, exit."""
    rows = {}
    for line in output.splitlines():
        m = SUMMARY_ROW.match(line.strip())
        if m:
            rows[m["slug"]] = {"status": m["status"], "rows": _int(m["rows"]), "requests": _int(m["requests"]),
                               "seconds": float(m["seconds"]), "exit": int(m["exit"])}
    return rows


def total_requests(output: str) -> int | None:
    for line in output.splitlines():
        m = TOTAL_LINE.match(line.strip())
        if m:
            return _int(m[1])
    return None


def _int(text: str) -> int | None:
    return None if text == "-" else int(text.replace(",", ""))


class Warehouses:
    """A fresh warehouse per phase: a folder of DuckDB files, or a new Postgres database."""

    def __init__(self, destination: str, pg_url: str | None) -> None:
        self.destination = destination
        self.cluster: Any = None
        self.owned = False
        if destination == "postgres":
            sys.path.insert(0, str(ROOT))
            from tests import pgcluster

            self.cluster = pgcluster.Cluster(url=pg_url) if pg_url else pgcluster.start()
            self.owned = pg_url is None

    def database(self) -> str | None:
        return self.cluster.create_database() if self.cluster is not None else None

    def drop(self, db_url: str | None) -> None:
        if self.cluster is not None and db_url is not None:
            self.cluster.drop_database(db_url)

    def stop(self) -> None:
        if self.owned:
            self.cluster.stop()


def run_phase(name: str, cmds: list[list[str]], fleet: list[Community], warehouses: Warehouses,
              work: Path, timeout_s: float) -> dict[str, Any]:
    """`cmds` one after another in one fresh project; each measured."""
    root = work / name
    db_url = warehouses.database()
    write_project(root, fleet, warehouses.destination, db_url)
    sims = [psutil.Process(c.sim.proc.pid) for c in fleet if c.sim.proc is not None]
    out: list[dict[str, Any]] = []
    try:
        for i, cmd in enumerate(cmds):
            log = root / f"run{i + 1}.log"
            figures = measured(cmd, root, project_env(root), log, sims, timeout_s)
            text = log.read_text(errors="replace")
            figures["requests"] = total_requests(text)
            figures["communities"] = summary_rows(text)
            out.append(figures)
            print(f"{name}: {figures['cmd']}: exit {figures['exit']}, {figures['wall_s']} s, "
                  f"CPU {figures['sync_cpu_s']} s, peak RSS {figures['peak_rss_mb']} MB", flush=True)
            if figures["exit"] not in (0, 5):
                print(text[-3000:], file=sys.stderr)
    finally:
        warehouses.drop(db_url)
    return {"phase": name, "runs": out}


def exe() -> str:
    return shutil.which("returning-sync", path=str(Path(sys.executable).parent)) or "returning-sync"


def machine() -> dict[str, Any]:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    import dlt
    import duckdb

    code = subprocess.run([sys.executable, "-c", "import pipelines; print(pipelines.__file__)"], capture_output=True,
                          text=True, check=False, cwd=tempfile.gettempdir()).stdout.strip()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "dlt": dlt.__version__, "code": code,
            "duckdb": duckdb.__version__, "commit": commit, "uptime": uptime,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}


def slug_of(run: dict[str, Any]) -> str:
    return str(run["cmd"].split("--community ")[1].split()[0])


def analyse(singles: dict[str, Any] | None, fan_outs: list[dict[str, Any]], cpus: int) -> dict[str, Any]:
    """The ratios (without singles: none) and the CPU floor of each fan-out on this machine's cores."""
    walls = {slug_of(r): r["wall_s"] for r in singles["runs"]} if singles else {}
    slowest = max(walls.values()) if walls else None
    per_single_cpu = [r["sync_cpu_s"] + r["simulators_cpu_s"] for r in singles["runs"]] if singles else []
    out: dict[str, Any] = {"slowest_single_s": slowest,
                           "slowest_single": max(walls, key=walls.__getitem__) if walls else None,
                           "sum_of_singles_s": round(sum(walls.values()), 2) if walls else None,
                           "cpu_per_community_s": round(sum(per_single_cpu) / len(per_single_cpu), 2) if walls else None,
                           "fan_outs": {}}
    for phase in fan_outs:
        run = phase["runs"][0]
        cpu = run["sync_cpu_s"] + run["simulators_cpu_s"]
        out["fan_outs"][phase["phase"]] = {
            "wall_s": run["wall_s"], "ratio_to_slowest_single": round(run["wall_s"] / slowest, 3) if slowest else None,
            "ratio_to_sum_of_singles": round(run["wall_s"] / sum(walls.values()), 3) if walls else None,
            "cpu_s_sync_and_simulators": round(cpu, 2),
            # the least wall time this CPU work can take on this machine's cores (if nothing else ran)
            "cpu_floor_s": round(cpu / cpus, 2),
            "peak_rss_mb": run["peak_rss_mb"], "peak_pss_mb": run["peak_pss_mb"],
            "machine_memory_rise_mb": run["machine_memory_rise_mb"],
            "simulators_peak_rss_mb": run["simulators_peak_rss_mb"],
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    m, a, args = result["machine"], result["analysis"], result["args"]
    lines = [f"# Communities: {result['label']}", "",
             f"`python -m bench.communities {' '.join(result['argv'])}` ({result['started']} to {result['ended']}; "
             f"{m['cpus']} CPUs, {m['memory_gb']} GB; commit {m['commit']}; dlt {m['dlt']}, duckdb {m['duckdb']}).",
             f"{args['communities']} communities x {args['users']:,} members, {args['latency_ms']} ms per request, "
             f"destination {args['destination']}; each community its own simulator process and key.", "",
             f"Uptime at the start: `{m['uptime']}`. The sync's code: `{m['code']}`.", "",
             "| run | exit | wall s | / slowest single | sync CPU s | simulators CPU s | machine busy CPU s "
             "| peak RSS, sync tree | peak PSS | machine memory rise | largest process | simulators RSS "
             "| load 1-min start / end |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    slowest = a["slowest_single_s"]
    for phase in result["phases"]:
        for r in phase["runs"]:
            ratio = f"{r['wall_s'] / slowest:.2f}x" if slowest else "-"
            lines.append(f"| {r['cmd'].split('sync ', 1)[1]} | {r['exit']} | {r['wall_s']:.1f} | {ratio} "
                         f"| {r['sync_cpu_s']:.1f} | {r['simulators_cpu_s']:.1f} | {r['machine_busy_cpu_s']:.1f} "
                         f"| {r['peak_rss_mb']:,.0f} MB | {r['peak_pss_mb']:,.0f} MB | {r['machine_memory_rise_mb']:,.0f} MB "
                         f"| {r['largest_process_mb']:,.0f} MB "
                         f"| {r['simulators_peak_rss_mb']:,.0f} MB | {r['load_start'][0]} / {r['load_end'][0]} |")
    lines.append("")
    if slowest:
        lines += [f"Slowest single community: {a['slowest_single']} in {slowest:.1f} s; all singles one after "
                  f"another: {a['sum_of_singles_s']:.1f} s; CPU per community (its sync + its simulator): "
                  f"{a['cpu_per_community_s']:.1f} s.", ""]
    for name, f in a["fan_outs"].items():
        ratios = (f"**{f['ratio_to_slowest_single']:.2f}x** the slowest single ({f['ratio_to_sum_of_singles']:.2f}x "
                  "the singles' sum)") if slowest else "(no singles in this run)"
        lines.append(f"- {name}: {f['wall_s']:.1f} s = {ratios}; CPU of syncs and simulators "
                     f"{f['cpu_s_sync_and_simulators']:.1f} s, which {m['cpus']} cores need at least "
                     f"{f['cpu_floor_s']:.1f} s for; peak RSS of the sync processes {f['peak_rss_mb']:,.0f} MB "
                     f"(PSS {f['peak_pss_mb']:,.0f} MB; the machine's memory in use rose by "
                     f"{f['machine_memory_rise_mb']:,.0f} MB, simulators included), simulators {f['simulators_peak_rss_mb']:,.0f} MB apart.")
    fan = [p for p in result["phases"] if p["phase"] != "singles"]
    if fan:
        slugs = sorted({s for p in fan for s in p["runs"][0]["communities"]})
        singles = {slug_of(r): r for p in result["phases"] if p["phase"] == "singles" for r in p["runs"]}
        lines += ["", "Per community: alone (wall, CPU, requests) and its own seconds inside each fan-out "
                      "(the fan-out's summary row):", "",
                  "| community | alone wall s | alone CPU s | alone peak RSS | requests | "
                  + " | ".join(f"{p['phase']} s" for p in fan) + " |",
                  "|---|---:|---:|---:|---:|" + "---:|" * len(fan)]
        for slug in slugs:
            s = singles.get(slug, {})
            cells = [str(p["runs"][0]["communities"].get(slug, {}).get("seconds", "-")) for p in fan]
            lines.append(f"| {slug} | {s.get('wall_s', '-')} | {s.get('sync_cpu_s', '-')} | {s.get('peak_rss_mb', '-')} MB "
                         f"| {s.get('requests', '-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=8)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--fan-outs", default="8,2", help="the --parallel limits to run --all-communities with")
    parser.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--pg-url", default=None, help="a Postgres superuser URL (default: start a throwaway one)")
    parser.add_argument("--singles", choices=("first", "last", "none"), default="first",
                        help="when the communities run one after another: before the fan-outs, after them, or not")
    parser.add_argument("--timeout-s", type=float, default=3600)
    parser.add_argument("--label", default="communities")
    args = parser.parse_args()
    fan_outs = [int(n) for n in args.fan_outs.split(",") if n]
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    warehouses = Warehouses(args.destination, args.pg_url)
    fleet = start_communities(args.communities, args.users, args.latency_ms)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-communities-") as tmp:
            work = Path(tmp)
            singles_cmds = [[exe(), "sync", "--community", c.slug] for c in fleet]
            plan = [(f"all at once, --parallel {n}", [[exe(), "sync", "--all-communities", "--parallel", str(n)]])
                    for n in fan_outs]
            if args.singles != "none":
                plan.insert(0 if args.singles == "first" else len(plan), ("singles", singles_cmds))
            phases = {name: run_phase(name, cmds, fleet, warehouses, work, args.timeout_s) for name, cmds in plan}
    finally:
        for c in fleet:
            c.sim.stop()
        warehouses.stop()
    ordered = [phases[name] for name, _ in plan if name == "singles"] + \
        [phases[name] for name, _ in plan if name != "singles"]
    result = {"label": args.label, "argv": sys.argv[1:], "started": started,
              "ended": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": info,
              "args": {k: v for k, v in vars(args).items() if k != "pg_url"},
              "phases": ordered, "analysis": analyse(phases.get("singles"), [p for p in ordered if p["phase"] != "singles"],
                                                    info["cpus"] or 1)}
    failed = [r["cmd"] for p in ordered for r in p["runs"] if r["exit"] not in (0, 5)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.label}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    text = markdown(result)
    (RESULTS / f"{args.label}.md").write_text(text, encoding="utf-8")
    print(text)
    for name, f in result["analysis"]["fan_outs"].items():
        print(f"{name}: {f['ratio_to_slowest_single'] or '-'}x the slowest single; peak RSS {f['peak_rss_mb']:,.0f} MB")
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
