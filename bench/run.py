"""Benchmark harness: `returning-sync sync` against the peer (dlt's generic rest_api source) and the floors.

Each scenario (community size x network profile x run kind) runs every contender in the same invocation,
alternating their order per repeat; the simulator runs in its own process on loopback and every sync in
its own subprocess, so peak RSS is that process's alone. One JSON file per run, then a summary
(`<label>.json`) and the markdown table the README quotes (`<label>.md`).

    python -m bench.run                                   # 100k users, 3 profiles, full/noop/day, 3 repeats
    python -m bench.run --users 100000,1000000 --profiles none --runs full --repeat 1 \\
        --resources users --label scale                   # memory growth with users (longer)

A chain per (contender, repeat): reset the community, full sync, no-change sync, advance one simulated
day, sync again; the profile's knobs are set and the counters reset just before each measured sync.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procstat import run_measured
from bench.sim import PROFILES, Sim
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HEAD_TO_HEAD = "users,store_products,store_categories,gamification_daily"
RUN_KINDS = ("full", "noop", "day")
USERS_PAGE = 200  # users_filter page size, fixed by the API
PEER_PAR_WORKERS = 5  # dlt's default extract workers, which run rest_api's parallelized resources
# the headline peer is dlt's defaults; the variants show what two well-known switches change
PEER_VARIANTS = {"peer": [], "peer_par": ["--parallelized"], "peer_pq": ["--loader-file-format", "parquet"]}


# ---------------------------------------------------------------- contenders

def ours_cmd(resources: str, start: date, kind: str) -> list[str]:
    """The first sync reads the day range from `start`; later ones go on from their stored cursors."""
    exe = shutil.which("returning-sync", path=str(Path(sys.executable).parent)) or "returning-sync"
    cmd = [exe, "sync"]
    if resources != "all":
        cmd += ["--resources", resources]
    if kind == "full" and resources != "all":  # (all: RETURNING_SYNC_HISTORY_DAYS bounds the first sync)
        cmd += ["--since", start.isoformat()]
    return cmd


def peer_cmd(resources: str, start: date, end: date, warehouse: Path, pipelines_dir: Path) -> list[str]:
    res = HEAD_TO_HEAD if resources == "all" else resources
    return [sys.executable, str(BENCH / "peer_rest_api.py"), "--start", start.isoformat(),
            "--end", end.isoformat(), "--warehouse", str(warehouse), "--pipelines-dir", str(pipelines_dir),
            "--resources", res]


# ---------------------------------------------------------------- dlt traces

def read_traces(pipelines_dirs: list[Path], since: datetime) -> dict[str, Any]:
    """Sum the dlt traces written by pipelines that ran after `since` (step durations and row counts)."""
    from dlt.pipeline.trace import load_trace

    steps: dict[str, float] = {}
    spans: list[tuple[str, float, float]] = []  # (step, start, end) in seconds after `since`
    rows: dict[str, int] = {}
    names = []
    dirs = [d for pd in pipelines_dirs if pd.exists() for d in sorted(pd.iterdir()) if d.is_dir()]
    for d in dirs:
        trace = load_trace(str(d))
        if trace is None or trace.started_at is None:
            continue
        started = trace.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started < since - timedelta(seconds=1):
            continue
        names.append(d.name)
        for s in trace.steps:
            if s.started_at and s.finished_at:
                steps[s.step] = steps.get(s.step, 0.0) + (s.finished_at - s.started_at).total_seconds()
                st = s.started_at if s.started_at.tzinfo else s.started_at.replace(tzinfo=UTC)
                fi = s.finished_at if s.finished_at.tzinfo else s.finished_at.replace(tzinfo=UTC)
                spans.append((s.step, round((st - since).total_seconds(), 2), round((fi - since).total_seconds(), 2)))
            info = s.step_info
            if s.step == "normalize" and info is not None and getattr(info, "row_counts", None):
                for t, n in info.row_counts.items():
                    rows[t] = rows.get(t, 0) + int(n)
    return {"steps_s": steps, "row_counts": rows, "pipelines": names, "spans": spans}


def peak_step(timeline: list[tuple[float, float]] | None, spans: list[tuple[str, float, float]]) -> str | None:
    """The dlt step (extract, normalize, load) running when the polled RSS peaked."""
    if not timeline:
        return None
    t, _ = max(timeline, key=lambda x: x[1])
    inner = [sp for sp in spans if sp[0] != "run" and sp[1] <= t <= sp[2]]
    return inner[0][0] if inner else ("before the pipeline" if spans and t < min(sp[1] for sp in spans)
                                      else "outside the dlt steps")


def data_rows(row_counts: dict[str, int]) -> tuple[int, int]:
    """(rows of top-level tables, rows of all tables incl. nested), dlt's own tables left out."""
    top = sum(n for t, n in row_counts.items() if not t.startswith("_dlt") and "__" not in t)
    allr = sum(n for t, n in row_counts.items() if not t.startswith("_dlt"))
    return top, allr


# ---------------------------------------------------------------- floors

def raw_ingest_seconds(warehouse: Path, tables: list[str], workdir: Path, schema: str = "returning_raw") -> dict:
    """Load floor: read the rows a sync wrote, re-ingest them into a fresh DuckDB from Arrow, time that."""
    import duckdb

    src = duckdb.connect(str(warehouse), read_only=True)
    present = {r[0] for r in src.execute(
        "select table_name from information_schema.tables where table_schema = ?", [schema]).fetchall()}
    arrow = {}
    for t in tables:
        if t in present:
            arrow[t] = src.sql(f'select * from "{schema}"."{t}"').to_arrow_table()
    src.close()
    dst_path = workdir / "raw_ingest.duckdb"
    if dst_path.exists():
        dst_path.unlink()
    t0 = time.perf_counter()
    dst = duckdb.connect(str(dst_path))
    dst.execute(f"create schema {schema}")
    for t, tbl in arrow.items():
        dst.register("arrow_in", tbl)
        dst.execute(f'create table "{schema}"."{t}" as select * from arrow_in')
        dst.unregister("arrow_in")
    dst.execute("checkpoint")
    dst.close()
    secs = time.perf_counter() - t0
    dst_path.unlink(missing_ok=True)
    return {"raw_ingest_s": secs, "raw_ingest_rows": sum(t.num_rows for t in arrow.values()),
            "raw_ingest_tables": sorted(arrow)}


# ---------------------------------------------------------------- one chain

def sim_today(sim: Sim) -> date:
    clock = sim.clock()
    vals = clock.values() if isinstance(clock, dict) else [clock]
    for v in vals:
        if isinstance(v, str) and len(v) >= 10 and v[4] == "-":
            return date.fromisoformat(v[:10])
    raise RuntimeError(f"cannot read the simulator clock: {clock}")


def run_chain(sim: Sim, contender: str, users: int, seed: int, profile: str, kinds: list[str], rep: int,
              args: argparse.Namespace, run_dir: Path) -> list[dict[str, Any]]:
    records = []
    sim.reset(seed, users)
    today = sim_today(sim)
    start = today - timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix=f"bench-{contender}-", dir=args.workdir))
    warehouse = work / "warehouse" / "returning.duckdb"
    warehouse.parent.mkdir(parents=True)
    dlt_dir = work / "dlt"
    env = {**os.environ,
           "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim.base_url,
           "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(warehouse),
           "DLT_DATA_DIR": str(dlt_dir), "RUNTIME__DLTHUB_TELEMETRY": "false",
           "PYTHONUNBUFFERED": "1"}
    if args.resources == "all":
        # --since is a backfill that leaves stored cursors alone; a first sync bounded by the history
        # setting stores them like any scheduled run would
        env["RETURNING_SYNC_HISTORY_DAYS"] = str(args.days)
    try:
        for kind in ["full"] + [k for k in ("noop", "day") if k in kinds]:  # a full sync always comes first
            measured = kind in kinds
            if kind == "day":
                sim.knobs(PROFILES["none"])
                sim.advance(24)
                today = sim_today(sim)
            end = today + timedelta(days=1)
            sim.knobs(PROFILES[profile] if measured else PROFILES["none"])
            sim.reset_counters()
            if contender == "ours":
                cmd = ours_cmd(args.resources, start, kind)
            else:
                cmd = peer_cmd(args.resources, start, end, warehouse, dlt_dir / "pipelines")
                cmd += PEER_VARIANTS[contender]
            load_before = os.getloadavg()
            started = datetime.now(UTC)
            res = run_measured(cmd, env, work / f"log-{kind}", args.timeout,
                               args.rss_cap_mb if contender.startswith("peer") else 0)
            counters = sim.counters()
            load_after = os.getloadavg()
            traces = read_traces([dlt_dir / "pipelines", warehouse.parent / ".dlt" / "pipelines"], started)
            top, allr = data_rows(traces["row_counts"])
            by_status = {str(k): int(v) for k, v in counters.get("by_status", {}).items()}
            client_requests = None
            if contender.startswith("peer"):
                for line in reversed(res.stdout.splitlines()):
                    if line.startswith("{"):
                        client_requests = json.loads(line)["requests"]
                        break
            else:  # ours prints "total: N requests (R retried), S s"
                found = re.search(r"total: (\d+) requests", res.stdout)
                client_requests = int(found.group(1)) if found else None
            rec = {
                "users": users, "seed": seed, "profile": profile, "knobs": PROFILES[profile], "run": kind,
                "contender": contender, "repeat": rep, "measured": measured,
                "resources": args.resources, "days": [start.isoformat(), end.isoformat()],
                "exit_code": res.returncode, "killed_at_rss_cap": res.killed_at_rss_cap, "wall_s": round(res.wall_s, 3),
                "requests": int(counters.get("total", 0)),
                "status_429": by_status.get("429", 0),
                "by_status": by_status, "by_endpoint": counters.get("by_endpoint", {}),
                "client_requests": client_requests,
                "rows_loaded": top, "rows_loaded_incl_nested": allr, "row_counts": traces["row_counts"],
                "rows_per_s": round(top / res.wall_s, 1) if res.wall_s else None,
                "peak_rss_mb": round(res.peak_rss_mb, 1), "peak_rss_polled_mb": round(res.peak_rss_polled_mb, 1),
                "steps_s": {k: round(v, 3) for k, v in traces["steps_s"].items()},
                "load_s": round(traces["steps_s"]["load"], 3) if "load" in traces["steps_s"] else None,
                "dlt_pipelines": traces["pipelines"],
                "step_spans_s": traces["spans"],  # seconds after the process started
                "rss_timeline_mb": res.rss_timeline,
                "peak_rss_step": peak_step(res.rss_timeline, traces["spans"]),
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in load_after],
                "cmd": [os.path.basename(cmd[0]), *cmd[1:]] if contender == "ours" else ["python", *cmd[1:2], "..."],
                "stdout_tail": res.stdout[-1500:], "stderr_tail": res.stderr[-1500:],
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            if res.returncode != 0:
                print(f"  ! {contender} {kind} exited {res.returncode}: {res.stderr[-600:]}", file=sys.stderr)
            if measured and kind == "full" and contender == "ours" and res.returncode == 0 and args.floors:
                tables = [t for t in traces["row_counts"] if not t.startswith("_dlt")]
                rec.update(raw_ingest_seconds(warehouse, tables, work))
            if measured and args.truth:
                rec["truth_counts"] = {k: v.get("count") for k, v in sim.truth().items()}
            if measured:
                fn = run_dir / f"u{users}-{profile}-{kind}-{contender}-r{rep}.json"
                fn.write_text(json.dumps(rec, indent=1))
                records.append(rec)
                print(f"  {contender:5s} {kind:5s} wall {rec['wall_s']:8.2f}s  req {rec['requests']:6d}  "
                      f"429 {rec['status_429']:3d}  rows {top:8d}  rss {rec['peak_rss_mb']:7.1f}MB  "
                      f"load {rec['load_s']}  exit {res.returncode}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return records


# ---------------------------------------------------------------- summary

def med(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(records: list[dict[str, Any]], args: argparse.Namespace, concurrency: dict[str, int]) -> dict:
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["users"], r["profile"], r["run"], r["contender"]), []).append(r)
    medians = []
    for (u, prof, run, c), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], list(PROFILES).index(kv[0][1]),
                                                                           RUN_KINDS.index(kv[0][2]), kv[0][3])):
        ok = [r for r in rs if r["exit_code"] == 0]
        m = {
            "users": u, "profile": prof, "run": run, "contender": c, "n": len(rs), "failed": len(rs) - len(ok),
            "wall_s": med([r["wall_s"] for r in ok]),
            "requests": med([r["requests"] for r in ok]),
            "requests_min_max": [min((r["requests"] for r in ok), default=None),
                                 max((r["requests"] for r in ok), default=None)],
            "status_429_max": max((r["status_429"] for r in ok), default=None),
            "status_429_median": med([r["status_429"] for r in ok]),
            "rows_loaded": med([r["rows_loaded"] for r in ok]),
            "rows_per_s": med([r["rows_per_s"] for r in ok]),
            "peak_rss_mb": med([r["peak_rss_mb"] for r in ok]),
            "load_s": med([r["load_s"] for r in ok]),
            "extract_s": med([r["steps_s"].get("extract") for r in ok]),
            "normalize_s": med([r["steps_s"].get("normalize") for r in ok]),
            "raw_ingest_s": med([r.get("raw_ingest_s") for r in ok]),
            "req_per_s": med([r["requests"] / r["wall_s"] for r in ok if r["wall_s"]]),
            "loadavg_1m": med([r["loadavg_before"][0] for r in rs]),
        }
        knobs = PROFILES[prof]
        if m["requests"] is not None:
            floors = {}
            if knobs["rate_limit"]:
                floors["rate_floor_s"] = round(m["requests"] / knobs["rate_limit"], 2)
            if knobs["latency_ms"]:
                floors["latency_floor_s"] = round(m["requests"] * knobs["latency_ms"] / 1000 / concurrency[c], 2)
                floors["concurrency"] = concurrency[c]
                # the users cursor is a chain: each page needs the one before, whatever the concurrency
                chain = med([sum(n for k, n in r["by_endpoint"].items() if "/users/filter" in k) for r in ok])
                if chain:
                    floors["cursor_chain_floor_s"] = round(chain * knobs["latency_ms"] / 1000, 2)
            m["floors"] = floors
        medians.append(m)
    idx = {(m["users"], m["profile"], m["run"], m["contender"]): m for m in medians}
    ratios = []

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    pairs = [(key, m, peer) for key, m in idx.items() for peer in PEER_VARIANTS
             if key[3] == "ours" and (*key[:3], peer) in idx]
    for (u, prof, run, _), m, peer in pairs:
        p = idx[(u, prof, run, peer)]
        ratios.append({"users": u, "profile": prof, "run": run, "peer": peer,
                       "speedup_wall_peer_over_ours": ratio(p["wall_s"], m["wall_s"]),
                       "requests_ours_over_peer": ratio(m["requests"], p["requests"]),
                       "rss_ours_over_peer": ratio(m["peak_rss_mb"], p["peak_rss_mb"]),
                       "load_ours_over_peer": ratio(m["load_s"], p["load_s"])})
    return {"medians": medians, "ratios": ratios, "goals": goals(idx, records)}


def memory_goal(idx: dict[tuple, dict]) -> list[dict]:
    """Peak memory of a 1M-user full sync < 1 GB, and sub-linear growth with users (ours, same profile)."""
    out = []
    for prof in PROFILES:
        cells = sorted((u, m) for (u, pr, run, c), m in idx.items()
                       if c == "ours" and pr == prof and run == "full" and m["peak_rss_mb"])
        if len(cells) < 2:
            continue
        (u0, m0), (u1, m1) = cells[0], cells[-1]
        growth, users_growth = m1["peak_rss_mb"] / m0["peak_rss_mb"], u1 / u0
        sizes = ", ".join(f"{u:,} users {m['peak_rss_mb']:.0f} MB" for u, m in cells)
        if u1 >= 1_000_000:
            out.append({"goal": "peak memory of a 1M-user full sync < 1 GB", "users": u1, "profile": prof,
                        "run": "full", "met": m1["peak_rss_mb"] < 1024,
                        "figure": f"{m1['peak_rss_mb']:.0f} MB at {u1:,} users"})
        out.append({"goal": "peak memory grows sub-linearly with users", "users": u1, "profile": prof,
                    "run": "full", "met": growth < users_growth,
                    "figure": f"{sizes}; x{growth:.1f} memory for x{users_growth:.0f} users"})
    return out


def goals(idx: dict[tuple, dict], records: list[dict]) -> list[dict]:
    out = memory_goal(idx)
    for (u, prof, run, c), m in idx.items():
        if c != "ours":
            continue
        knobs = PROFILES[prof]
        if prof == "lat50rl20" and run == "full" and m["req_per_s"] is not None:
            thr = m["req_per_s"] / knobs["rate_limit"]
            ok = thr >= 0.9 and (m["status_429_max"] or 0) <= 1
            out.append({"goal": "rate-limited throughput >= 90% of the limit, <= 1 429 per run",
                        "users": u, "profile": prof, "run": run, "met": ok,
                        "figure": f"{m['req_per_s']:.1f} req/s over the whole run = {thr:.0%} of {knobs['rate_limit']}/s"
                                  + (f" ({m['requests'] / m['extract_s']:.1f} req/s over the extract step)"
                                     if m["extract_s"] else "")
                                  + f"; max 429s per run {m['status_429_max']}"})
        for peer in PEER_VARIANTS:
            p = idx.get((u, prof, run, peer))
            if prof == "lat50" and run == "full" and p and p["wall_s"] and m["wall_s"]:
                sp = p["wall_s"] / m["wall_s"]
                out.append({"goal": f"50 ms profile full sync >= 4x faster than the {peer}", "users": u,
                            "profile": prof, "run": run, "met": sp >= 4,
                            "figure": f"{peer} {p['wall_s']:.1f}s / ours {m['wall_s']:.1f}s = {sp:.2f}x"})
        if run == "full" and m["load_s"] and m["raw_ingest_s"]:
            # per run: the load step and its raw ingestion were measured back to back
            rs = sorted(r["load_s"] / r["raw_ingest_s"] for r in records if r.get("raw_ingest_s") and r["load_s"]
                        and (r["users"], r["profile"], r["run"], r["contender"]) == (u, prof, run, c))
            if rs:
                med_r = statistics.median(rs)
                out.append({"goal": "load step within 3x of raw DuckDB ingestion from Arrow", "users": u,
                            "profile": prof, "run": run, "met": med_r <= 3,
                            "figure": f"load step {m['load_s']:.2f}s / raw ingest {m['raw_ingest_s']:.2f}s (medians); "
                                      f"per-run ratio median {med_r:.2f}x, range {rs[0]:.2f}-{rs[-1]:.2f}x over {len(rs)} run(s)"})
        if run == "noop":
            rs = [r for r in records if (r["users"], r["profile"], r["run"], r["contender"]) == (u, prof, run, c)
                  and r["exit_code"] == 0]
            if rs:
                be = rs[0]["by_endpoint"]
                users_req = sum(n for k, n in be.items() if "/users/filter" in k)
                others = {k: n for k, n in be.items() if "/users/filter" not in k}
                expected_users = math.ceil(u / USERS_PAGE)
                over = {k: n for k, n in others.items() if n > 1}
                out.append({"goal": "no-change sync: requests = users pass + one page per incremental dataset",
                            "users": u, "profile": prof, "run": run, "met": not over and users_req <= expected_users + 1,
                            "figure": f"users pass {users_req} requests (~{expected_users} pages), other endpoints "
                                      f"{sum(others.values())} requests over {len(others)} endpoints; "
                                      f"more than one page: {over or 'none'}"})
    return out


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if x.is_integer() and nd <= 1 and abs(x) >= 100:
            return f"{int(x)}"
        return f"{x:.{nd}f}"
    return str(x)


def write_markdown(path: Path, summary: dict, meta: dict) -> None:
    L = [f"# Benchmark results: {meta['label']}", "",
         f"Measured {meta['started_at']} – {meta['finished_at']} on {meta['machine']['cpus']} CPUs shared with "
         f"other work ({meta['machine']['platform']}); dlt {meta['versions']['dlt']}, duckdb {meta['versions']['duckdb']}, "
         f"commit {meta['git_commit']}. Resources: `{meta['resources']}`; daily history over {meta['days']} day(s) "
         f"ending at the simulated clock's day. Medians of {meta['repeat']} run(s) per cell, contenders alternating; "
         "the last column is the machine's 1-minute load average just before the run (median).", ""]
    for part in meta.get("parts", []):
        L.append(f"- `{part['command']}` ({part['started_at']} – {part['finished_at']}, load average "
                 f"{part['loadavg_start']} at start, {part['loadavg_end']} at end)")
    L.append("")
    L += [
         "| users | profile | run | contender | wall s | requests | 429s (max) | rows loaded | rows/s | peak RSS MB | load step s | raw ingest s | floor s | load avg |",
         "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in summary["medians"]:
        fl = m.get("floors", {})
        floor = max([v for k, v in fl.items() if k.endswith("_floor_s")], default=None)
        L.append(f"| {m['users']} | {m['profile']} | {m['run']} | {m['contender']}"
                 f"{' (' + str(m['failed']) + ' of ' + str(m['n']) + ' failed)' if m['failed'] else ''} | {fmt(m['wall_s'], 2)} | "
                 f"{fmt(m['requests'], 0)} | {fmt(m['status_429_max'], 0)} | {fmt(m['rows_loaded'], 0)} | "
                 f"{fmt(m['rows_per_s'], 0)} | {fmt(m['peak_rss_mb'], 0)} | {fmt(m['load_s'], 2)} | "
                 f"{fmt(m['raw_ingest_s'], 2)} | {fmt(floor, 1)} | {fmt(m['loadavg_1m'], 1)} |")
    if summary["ratios"]:
        L += ["", "Ratios (medians of the cells above; a merged table pairs cells from the parts listed at the top):", "",
              "| users | profile | run | peer | peer wall / ours wall | ours requests / peer | ours RSS / peer | ours load / peer load |",
              "|---:|---|---|---|---:|---:|---:|---:|"]
        for r in summary["ratios"]:
            L.append(f"| {r['users']} | {r['profile']} | {r['run']} | {r['peer']} | {fmt(r['speedup_wall_peer_over_ours'], 2)}{'x' if r['speedup_wall_peer_over_ours'] else ''} | "
                     f"{fmt(r['requests_ours_over_peer'], 2)} | {fmt(r['rss_ours_over_peer'], 2)} | "
                     f"{fmt(r['load_ours_over_peer'], 2)} |")
    cc = meta["concurrency"]
    L += ["", "Floors (the floor column shows the largest): rate floor = requests / rate limit; latency floor = "
              f"requests x latency / concurrency (ours {cc['ours']}, peer {cc['peer']}, peer_par {cc.get('peer_par', '-')}); "
              "cursor-chain floor = users pages x latency (each users page needs the previous page's cursor, "
              "whatever the concurrency). "
              "Raw ingest = the rows ours wrote, read back and re-ingested into a fresh DuckDB from Arrow.", ""]
    if summary["goals"]:
        L += ["Goals:", "", "| goal | users | profile | run | met | figure |", "|---|---:|---|---|---|---|"]
        for g in summary["goals"]:
            L.append(f"| {g['goal']} | {g['users']} | {g['profile']} | {g['run']} | {'yes' if g['met'] else '**no**'} | {g['figure']} |")
    failed = [r for r in summary["runs"] if r["exit_code"] != 0]
    if failed:
        L += ["", "Runs that did not finish (left out of the medians):", ""]
        for r in failed:
            why = ("killed at the RSS cap" if r.get("killed_at_rss_cap") else f"exit code {r['exit_code']}")
            L.append(f"- {r['users']:,} users, {r['profile']}, {r['run']}, {r['contender']} (repeat {r['repeat'] + 1}): "
                     f"{why} after {r['wall_s']:.0f} s, peak RSS so far {r['peak_rss_mb']:.0f} MB, "
                     f"{r['requests']} requests served")
    if meta.get("notes"):
        L += ["", "Notes:", ""] + [f"- {n}" for n in meta["notes"]]
    path.write_text("\n".join(L) + "\n")


def merge(args: argparse.Namespace) -> int:
    out = Path(args.out)
    parts, records = [], []
    for spec in args.merge.split(","):  # LABEL[:run=noop+day][:profile=none][:contender=ours]
        label, *filters = spec.split(":")
        part = json.loads((out / f"{label}.json").read_text())
        keep = {k: set(v.split("+")) for k, _, v in (f.partition("=") for f in filters)}
        records += [r for r in part["runs"] if all(r[k] in vs for k, vs in keep.items())]
        if keep:
            for pp in part["meta"].get("parts", []):
                pp["command"] += "  (kept: " + "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in keep.items()) + ")"
        parts.append(part)
    metas = [part["meta"] for part in parts]
    meta = dict(metas[0])
    meta.update({
        "label": args.label, "command": " ; ".join(m["command"] for m in metas),
        "started_at": min(m["started_at"] for m in metas), "finished_at": max(m["finished_at"] for m in metas),
        "parts": [pp for m in metas for pp in m.get("parts", [])],
        "merged_from": args.merge.split(","),
        "notes": list(dict.fromkeys([n for m in metas for n in m.get("notes", [])] + args.note)),
        "repeat": "/".join(sorted({str(m["repeat"]) for m in metas})),
        "users": sorted({u for m in metas for u in m["users"]}),
    })
    meta["machine"] = dict(meta["machine"], loadavg_start=[m["machine"]["loadavg_start"] for m in metas],
                           loadavg_end=[m["machine"]["loadavg_end"] for m in metas])
    summary = {"meta": meta, **summarise(records, args, meta["concurrency"]), "runs": records}
    (out / f"{args.label}.json").write_text(json.dumps(summary, indent=1))
    write_markdown(out / f"{args.label}.md", summary, meta)
    print((out / f"{args.label}.md").read_text())
    return 0


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except Exception:
        return "unknown"


def ours_concurrency() -> int:
    env = os.environ.get("BENCH_OURS_CONCURRENCY")
    if env:
        return int(env)
    try:  # as the client's settings resolve it (RETURNING_SYNC_CONCURRENCY, dlt's providers, the default)
        from pipelines.config import Settings
        return Settings.from_env(key_required=False).concurrency
    except Exception:
        return 1


def write_summary(args: argparse.Namespace, argv: list[str] | None, records: list[dict], started: datetime,
                  load_start: list[float], commit: str, sizes: list[int], profiles: list[str], kinds: list[str],
                  contenders: list[str], concurrency: dict[str, int], out: Path, run_dir: Path,
                  quiet: bool = False) -> None:
    """Summary JSON and markdown; written after every chain, so a stopped invocation still leaves one."""
    import dlt
    import duckdb
    meta = {
        "label": args.label, "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load_start,
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "versions": {"python": platform.python_version(), "dlt": dlt.__version__, "duckdb": duckdb.__version__},
        "git_commit": commit, "resources": args.resources, "days": args.days, "repeat": args.repeat,
        "users": sizes, "profiles": profiles, "runs": kinds, "contenders": contenders,
        "concurrency": concurrency, "runs_dir": str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir),
        "notes": args.note,
    }
    meta["parts"] = [{k: meta[k] for k in ("command", "started_at", "finished_at")} | {
        "loadavg_start": meta["machine"]["loadavg_start"], "loadavg_end": meta["machine"]["loadavg_end"]}]
    summary = {"meta": meta, **summarise(records, args, concurrency), "runs": records}
    (out / f"{args.label}.json").write_text(json.dumps(summary, indent=1))
    write_markdown(out / f"{args.label}.md", summary, meta)
    if not quiet:
        print((out / f"{args.label}.md").read_text())


def common_arguments(p: argparse.ArgumentParser, runs: str, label: str) -> None:
    """The options every harness here takes (bench/run.py, bench/destinations.py)."""
    p.add_argument("--users", default="100000", help="community size(s), comma-separated")
    p.add_argument("--runs", default=runs)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--days", type=int, default=1, help="days of daily history in the head-to-head range")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(BENCH / "results"))
    p.add_argument("--label", default=label)
    p.add_argument("--timeout", type=float, default=3600, help="seconds per sync before it is killed")
    p.add_argument("--workdir", default=None, help="where warehouses go (default: system temp)")
    p.add_argument("--no-floors", dest="floors", action="store_false")
    p.add_argument("--keep", action="store_true", help="keep warehouses and logs")
    p.add_argument("--truth", action="store_true", help="record the simulator's truth counts after each run")
    p.add_argument("--note", action="append", default=[], help="a note to print under the table")


def run_folder(args: argparse.Namespace) -> tuple[Path, Path]:
    """(the results folder, a new folder under it for this invocation's runs)."""
    out = Path(args.out)
    run_dir = out / "runs" / f"{args.label}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    return out, run_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, runs="full,noop,day", label="latest")
    p.add_argument("--profiles", default="none,lat50,lat50rl20")
    p.add_argument("--contenders", default="ours,peer")
    p.add_argument("--resources", default=HEAD_TO_HEAD,
                   help="resources both sync (default: the peer's endpoint set); 'all' = ours in full")
    p.add_argument("--sim-url", default=None, help="use a running simulator instead of starting one")
    p.add_argument("--rss-cap-mb", type=float, default=0,
                   help="kill a peer sync whose RSS passes this (protects the machine; recorded as failed)")
    p.add_argument("--merge", default=None, metavar="LABEL[:run=noop+day][:profile=none],LABEL",
                   help="no runs: combine earlier invocations' results (optionally only some run kinds) "
                        "into one table under --label")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args)

    sizes = [int(x) for x in args.users.split(",")]
    profiles = args.profiles.split(",")
    kinds = [k for k in RUN_KINDS if k in args.runs.split(",")]
    contenders = args.contenders.split(",")
    for pr in profiles:
        if pr not in PROFILES:
            p.error(f"unknown profile {pr}")
    out, run_dir = run_folder(args)
    started = datetime.now(UTC)
    load_start = [round(x, 2) for x in os.getloadavg()]
    commit = git_commit()  # the code under test: taken at the start
    concurrency = {"ours": ours_concurrency(), "peer": 1, "peer_par": PEER_PAR_WORKERS, "peer_pq": 1}

    records: list[dict] = []
    for users in sizes:
        proc = None
        if args.sim_url:
            url = args.sim_url
        else:
            t0 = time.perf_counter()
            proc = SimulatorProcess(users, args.seed).start()
            url = proc.url
            print(f"simulator for {users} users ready in {time.perf_counter() - t0:.1f}s at {url}", flush=True)
        sim = Sim(url)
        try:
            for profile in profiles:
                for rep in range(args.repeat):
                    order = contenders if rep % 2 == 0 else list(reversed(contenders))
                    for c in order:
                        print(f"[{users} users · {profile} · repeat {rep + 1}/{args.repeat} · {c}]", flush=True)
                        records += run_chain(sim, c, users, args.seed, profile, kinds, rep, args, run_dir)
                        write_summary(args, argv, records, started, load_start, commit, sizes, profiles, kinds,
                                      contenders, concurrency, out, run_dir, quiet=True)
        finally:
            if proc is not None:
                proc.stop()

    write_summary(args, argv, records, started, load_start, commit, sizes, profiles, kinds, contenders,
                  concurrency, out, run_dir)
    return 0 if all(r["exit_code"] == 0 for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
