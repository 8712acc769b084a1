"""Destination axis: `returning-sync sync` into DuckDB and into Postgres in one invocation, and the
Postgres load step against Postgres' own `COPY` of the same rows (the floor).

    python -m bench.destinations                       # 100k users, head-to-head set, full + no-change,
                                                       # duckdb, postgres (sync.py's format), 3 repeats
    python -m bench.destinations --destinations duckdb,postgres:insert_values,postgres:csv
    python -m bench.destinations --users 1000000 --resources users --destinations postgres \\
        --runs full --repeat 1 --label destinations_1m

A destination is `duckdb`, `postgres` (the loader file format `pipelines/sync.py` sets) or
`postgres:<format>` (insert_values, csv, or parquet with `--adbc-path`: the format forced through
`bench/ours_sync.py`, same CLI, same code path; every destination starts through that script).
Per (destination, repeat) a chain: reset the community, a full sync, a sync with no change; each sync
in its own subprocess (peak RSS from `wait4`); on Postgres a fresh database per chain, dropped after.
Postgres is a throwaway server started here (`tests/pgcluster.py`: fsync off, shared_buffers 128MB)
unless `--pg-url` names one (a superuser URL: the harness creates and drops databases on it).

The floor, after every Postgres full sync: each table the sync wrote is dumped with
`COPY ... TO STDOUT` (text format) into a file, an empty twin is made with
`CREATE TABLE ... (LIKE ... INCLUDING ALL)` (columns, types, NOT NULL, defaults, the primary key, unique
constraints and every other index dlt created), and `COPY ... FROM STDIN` of the file into the twin is
timed on a separate connection, one commit per table. The ratio is the sync's load step (dlt trace)
over the sum of those COPYs, per run. DuckDB's floor is bench/run.py's: the rows re-ingested from Arrow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procstat import run_measured
from bench.run import (
    BENCH,
    HEAD_TO_HEAD,
    common_arguments,
    data_rows,
    fmt,
    git_commit,
    med,
    ours_cmd,
    peak_step,
    raw_ingest_seconds,
    read_traces,
    run_folder,
    sim_today,
)
from bench.sim import PROFILES, Sim
from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess

RAW = "returning_raw"
FLOOR_SCHEMA = "bench_copy_floor"
KINDS = ("full", "noop")


# ---------------------------------------------------------------- destinations

def parse_destination(spec: str) -> tuple[str, str]:
    """`duckdb` -> (duckdb, default); `postgres:csv` -> (postgres, csv)."""
    name, _, file_format = spec.partition(":")
    return name, file_format or "default"


def configured_format(name: str, file_format: str) -> str:
    """The format asked for: the forced one, or pipelines/sync.py's (not set there: dlt's default)."""
    if file_format != "default":
        return file_format
    from pipelines.sync import LOADER_FILE_FORMATS
    chosen = LOADER_FILE_FORMATS.get(name)
    return str(chosen) if chosen else "dlt default"


def job_formats(pipelines_dir: Path, since: datetime) -> dict[str, list[str]]:
    """The file formats of the load jobs dlt ran, per table (`sql`: the merge that follows a load)."""
    from dlt.pipeline.trace import load_trace

    out: dict[str, set[str]] = {}
    for d in sorted(pipelines_dir.iterdir()) if pipelines_dir.exists() else []:
        trace = load_trace(str(d)) if d.is_dir() else None
        if trace is None or trace.started_at is None:
            continue
        started = trace.started_at if trace.started_at.tzinfo else trace.started_at.replace(tzinfo=UTC)
        if started < since - timedelta(seconds=1):
            continue
        for step in trace.steps:
            if step.step != "load" or step.step_info is None:
                continue
            for package in step.step_info.load_packages:
                for job in package.jobs.get("completed_jobs", []):
                    info = job.job_file_info
                    out.setdefault(info.table_name, set()).add(info.file_format)
    return {t: sorted(v) for t, v in sorted(out.items())}


def data_formats(formats: dict[str, list[str]]) -> str:
    """The formats the data tables were loaded in (dlt's state table and merge jobs left out)."""
    seen = sorted({f for t, fs in formats.items() if not t.startswith("_dlt") for f in fs if f != "sql"})
    return "+".join(seen) or "–"


def sync_cmd(name: str, file_format: str, resources: str, start: Any, kind: str) -> list[str]:
    """`returning-sync sync ...` through bench/ours_sync.py (which forces the format unless `default`):
    every destination starts the same way, with the repository on the path."""
    cmd = ours_cmd(resources, start, kind)
    return [sys.executable, str(BENCH / "ours_sync.py"), name, file_format, *cmd[1:]]


class Postgres:
    """The server the chains use: started here, or the one `--pg-url` names."""

    def __init__(self, url: str | None) -> None:
        from tests import pgcluster

        self.cluster = pgcluster.Cluster(url=url) if url else pgcluster.start()
        self.owned = url is None

    def create_database(self) -> str:
        return self.cluster.create_database()

    def drop_database(self, db_url: str) -> None:
        self.cluster.drop_database(db_url)

    def version(self) -> str:
        import psycopg2

        con = psycopg2.connect(self.cluster.url)
        try:
            with con.cursor() as cur:
                cur.execute("show server_version")
                return str(cur.fetchone()[0])
        finally:
            con.close()

    def stop(self) -> None:
        if self.owned:
            self.cluster.stop()


# ---------------------------------------------------------------- what the sync wrote

def postgres_counts(db_url: str, schema: str = RAW) -> dict[str, int]:
    import psycopg2

    con = psycopg2.connect(db_url)
    try:
        with con.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = %s "
                        "and table_type = 'BASE TABLE'", [schema])
            tables = sorted(r[0] for r in cur.fetchall() if not r[0].startswith("_dlt"))
            out = {}
            for t in tables:
                cur.execute(f'select count(*) from "{schema}"."{t}"')
                out[t] = int(cur.fetchone()[0])
            return out
    finally:
        con.close()


def duckdb_counts(warehouse: Path, schema: str = RAW) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = sorted(r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_type = 'BASE TABLE'", [schema]).fetchall() if not r[0].startswith("_dlt"))
        return {t: int(con.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0]) for t in tables}
    finally:
        con.close()


def copy_floor(db_url: str, tables: list[str], workdir: Path, schema: str = RAW) -> dict[str, Any]:
    """Postgres' own COPY of the rows the sync wrote into an identical empty table (see the module doc)."""
    import psycopg2

    src = psycopg2.connect(db_url)
    src.autocommit = True
    dumps: dict[str, Path] = {}
    indexes: dict[str, list[str]] = {}
    rows: dict[str, int] = {}
    sizes: dict[str, int] = {}
    try:
        with src.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = %s", [schema])
            present = {r[0] for r in cur.fetchall()}
            cur.execute(f'drop schema if exists "{FLOOR_SCHEMA}" cascade; create schema "{FLOOR_SCHEMA}"')
            for t in tables:
                if t not in present:
                    continue
                path = workdir / f"copy-{t}.tsv"
                with open(path, "wb") as f:
                    cur.copy_expert(f'COPY "{schema}"."{t}" TO STDOUT', f, size=1 << 20)
                dumps[t] = path
                sizes[t] = path.stat().st_size
                cur.execute(f'select count(*) from "{schema}"."{t}"')
                rows[t] = int(cur.fetchone()[0])
                cur.execute(f'create table "{FLOOR_SCHEMA}"."{t}" (like "{schema}"."{t}" including all)')
                cur.execute("select indexdef from pg_indexes where schemaname = %s and tablename = %s "
                            "order by indexname", [FLOOR_SCHEMA, t])
                indexes[t] = [r[0].replace(f"{FLOOR_SCHEMA}.", "") for r in cur.fetchall()]
    finally:
        src.close()
    dst = psycopg2.connect(db_url)  # a separate connection: the timed COPYs only
    per_table: dict[str, float] = {}
    try:
        with dst.cursor() as cur:
            for t, path in dumps.items():
                with open(path, "rb") as f:
                    t0 = time.perf_counter()
                    cur.copy_expert(f'COPY "{FLOOR_SCHEMA}"."{t}" FROM STDIN', f, size=1 << 20)
                    dst.commit()
                    per_table[t] = time.perf_counter() - t0
            cur.execute(f'drop schema "{FLOOR_SCHEMA}" cascade')
            dst.commit()
    finally:
        dst.close()
        for path in dumps.values():
            path.unlink(missing_ok=True)
    return {"copy_s": round(sum(per_table.values()), 3), "copy_s_by_table": {k: round(v, 3) for k, v in per_table.items()},
            "copy_rows": sum(rows.values()), "copy_rows_by_table": rows,
            "copy_bytes": sum(sizes.values()), "copy_indexes": indexes}


# ---------------------------------------------------------------- one chain

def run_chain(sim: Sim, pg: Postgres | None, spec: str, users: int, kinds: list[str], rep: int,
              args: argparse.Namespace, run_dir: Path) -> list[dict[str, Any]]:
    name, file_format = parse_destination(spec)
    records = []
    sim.reset(args.seed, users)
    today = sim_today(sim)
    start = today - timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix=f"bench-dest-{name}-", dir=args.workdir))
    warehouse = work / "warehouse" / "returning.duckdb"  # on Postgres: dlt's local state goes beside it
    warehouse.parent.mkdir(parents=True)
    env = {**os.environ,
           "RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": sim.base_url,
           "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(warehouse),
           "DLT_DATA_DIR": str(work / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONUNBUFFERED": "1"}
    for k in [k for k in env if k.startswith("DESTINATION__") or k == "RETURNING_DESTINATION"]:
        del env[k]
    db_url = None
    if name == "postgres":
        assert pg is not None
        db_url = pg.create_database()
        env.update({"RETURNING_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": db_url})
        if file_format == "parquet" and args.adbc_path:  # dlt's parquet on Postgres goes through ADBC
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.adbc_path, env.get("PYTHONPATH")]))
    elif name != "duckdb":
        raise SystemExit(f"unknown destination {name!r}: duckdb, postgres or postgres:<format>")
    pipelines_dir = warehouse.parent / ".dlt" / ("pipelines" if name == "duckdb" else f"pipelines-{name}")
    try:
        for kind in ["full"] + [k for k in KINDS[1:] if k in kinds]:
            measured = kind in kinds
            sim.knobs(PROFILES[args.profile] if measured else PROFILES["none"])
            sim.reset_counters()
            cmd = sync_cmd(name, file_format, args.resources, start, kind)
            load_before = os.getloadavg()
            started = datetime.now(UTC)
            res = run_measured(cmd, env, work / f"log-{kind}", args.timeout)
            counters = sim.counters()
            load_after = os.getloadavg()
            traces = read_traces([pipelines_dir], started)
            top, allr = data_rows(traces["row_counts"])
            steps = traces["steps_s"]
            formats = job_formats(pipelines_dir, started)
            rec: dict[str, Any] = {
                "users": users, "seed": args.seed, "profile": args.profile, "run": kind, "destination": spec,
                "destination_name": name, "loader_file_format": configured_format(name, file_format),
                "job_formats": formats, "data_job_formats": data_formats(formats),
                "repeat": rep, "resources": args.resources, "exit_code": res.returncode,
                "wall_s": round(res.wall_s, 3), "requests": int(counters.get("total", 0)),
                "status_429": int(counters.get("by_status", {}).get("429", 0)),
                "by_endpoint": counters.get("by_endpoint", {}),
                "rows_loaded": top, "rows_loaded_incl_nested": allr, "row_counts": traces["row_counts"],
                "peak_rss_mb": round(res.peak_rss_mb, 1), "peak_rss_polled_mb": round(res.peak_rss_polled_mb, 1),
                "steps_s": {k: round(v, 3) for k, v in steps.items()},
                "load_s": round(steps["load"], 3) if "load" in steps else None,
                "dlt_pipelines": traces["pipelines"], "step_spans_s": traces["spans"],
                "peak_rss_step": peak_step(res.rss_timeline, traces["spans"]),
                "rss_timeline_mb": res.rss_timeline,
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in load_after],
                "cmd": [os.path.basename(c) if i < 2 else c for i, c in enumerate(cmd)],
                "stdout_tail": res.stdout[-1500:], "stderr_tail": res.stderr[-1500:],
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            if res.returncode != 0:
                print(f"  ! {spec} {kind} exited {res.returncode}: {res.stderr[-600:]}", file=sys.stderr)
            else:
                rec["destination_counts"] = (postgres_counts(db_url) if db_url else duckdb_counts(warehouse))
            if measured and kind == "full" and res.returncode == 0 and args.floors:
                tables = [t for t in traces["row_counts"] if not t.startswith("_dlt")]
                if db_url:
                    rec.update(copy_floor(db_url, tables, work))
                    if rec["load_s"] and rec["copy_s"]:
                        rec["load_over_copy"] = round(rec["load_s"] / rec["copy_s"], 2)
                else:
                    rec.update(raw_ingest_seconds(warehouse, tables, work))
            if measured and args.truth:
                rec["truth_counts"] = {k: v.get("count") for k, v in sim.truth().items()}
            if measured:
                safe = spec.replace(":", "-")
                (run_dir / f"u{users}-{kind}-{safe}-r{rep}.json").write_text(json.dumps(rec, indent=1))
                records.append(rec)
                floor = (f"  copy {rec['copy_s']:.2f}s ({rec.get('load_over_copy')}x)" if "copy_s" in rec else
                         f"  raw {rec['raw_ingest_s']:.2f}s" if "raw_ingest_s" in rec else "")
                print(f"  {spec:24s} {kind:5s} wall {rec['wall_s']:8.2f}s  req {rec['requests']:6d}  "
                      f"rows {top:8d}  rss {rec['peak_rss_mb']:7.1f}MB  load {rec['load_s']}{floor}  "
                      f"la {rec['loadavg_before'][0]}  exit {res.returncode}", flush=True)
    finally:
        if db_url and pg is not None and not args.keep:
            pg.drop_database(db_url)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return records


# ---------------------------------------------------------------- summary

def summarise(records: list[dict[str, Any]], specs: list[str]) -> dict[str, Any]:
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["users"], r["run"], r["destination"]), []).append(r)
    medians = []
    for (u, run, spec), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], KINDS.index(kv[0][1]),
                                                                        specs.index(kv[0][2]))):
        ok = [r for r in rs if r["exit_code"] == 0]
        ratios = sorted(r["load_over_copy"] for r in ok if r.get("load_over_copy"))
        medians.append({
            "users": u, "run": run, "destination": spec, "loader_file_format": rs[0]["loader_file_format"],
            "data_job_formats": "/".join(sorted({r["data_job_formats"] for r in ok})) or "–",
            "n": len(rs), "failed": len(rs) - len(ok),
            "wall_s": med([r["wall_s"] for r in ok]), "requests": med([r["requests"] for r in ok]),
            "rows_loaded": med([r["rows_loaded"] for r in ok]),
            "rows_in_tables": med([sum(n for t, n in r["destination_counts"].items() if "__" not in t)
                                   for r in ok if r.get("destination_counts")]),
            "peak_rss_mb": med([r["peak_rss_mb"] for r in ok]),
            "load_s": med([r["load_s"] for r in ok]),
            "extract_s": med([r["steps_s"].get("extract") for r in ok]),
            "normalize_s": med([r["steps_s"].get("normalize") for r in ok]),
            "copy_s": med([r.get("copy_s") for r in ok]),
            "raw_ingest_s": med([r.get("raw_ingest_s") for r in ok]),
            "load_over_copy": statistics.median(ratios) if ratios else None,
            "load_over_copy_range": [ratios[0], ratios[-1]] if ratios else None, "n_ratios": len(ratios),
            "loadavg_1m": med([r["loadavg_before"][0] for r in rs]),
            "loadavg_1m_range": [min(r["loadavg_before"][0] for r in rs), max(r["loadavg_before"][0] for r in rs)],
            "destination_counts": ok[-1].get("destination_counts") if ok else None,
        })
    goals = []
    for m in medians:
        if m["destination"].startswith("postgres") and m["load_over_copy"] is not None:
            lo, hi = m["load_over_copy_range"]
            goals.append({"goal": "Postgres load step <= 3x COPY of the same rows", "users": m["users"],
                          "destination": m["destination"], "met": m["load_over_copy"] <= 3,
                          "figure": f"load {m['load_s']:.2f}s / COPY {m['copy_s']:.2f}s (medians); per-run ratio "
                                    f"median {m['load_over_copy']:.2f}x, range {lo:.2f}-{hi:.2f}x over {m['n_ratios']} run(s)"})
        if m["destination"].startswith("postgres") and m["users"] >= 1_000_000 and m["peak_rss_mb"]:
            goals.append({"goal": "peak RSS < 1 GB at 1,000,000 users on Postgres", "users": m["users"],
                          "destination": m["destination"], "met": m["peak_rss_mb"] < 1024,
                          "figure": f"{m['peak_rss_mb']:.0f} MB, wall {m['wall_s']:.1f}s ({m['run']})"})
    # row counts: every destination holds the same tables with the same rows after the same chain
    agree = []
    for u in sorted({m["users"] for m in medians}):
        for run in KINDS:
            seen = {m["destination"]: m["destination_counts"] for m in medians
                    if m["users"] == u and m["run"] == run and m["destination_counts"] is not None}
            if len(seen) > 1:
                agree.append({"users": u, "run": run, "equal": len({json.dumps(v, sort_keys=True) for v in seen.values()}) == 1,
                              "counts": seen})
    return {"medians": medians, "goals": goals, "counts_agree": agree}


def write_markdown(path: Path, summary: dict[str, Any], meta: dict[str, Any]) -> None:
    L = [f"# Benchmark results: {meta['label']} (destinations)", "",
         f"Measured {meta['started_at']} – {meta['finished_at']} on {meta['machine']['cpus']} CPUs shared with "
         f"other work ({meta['machine']['platform']}); dlt {meta['versions']['dlt']}, duckdb "
         f"{meta['versions']['duckdb']}, PostgreSQL {meta['versions'].get('postgres', '–')} "
         f"({meta['postgres_server']}), commit {meta['git_commit']}. Resources: `{meta['resources']}`; profile "
         f"`{meta['profile']}`; medians of {meta['repeat']} run(s) per cell, destinations alternating. The last "
         "column is the machine's 1-minute load average just before each run (median, range).", "",
         f"- `{meta['command']}` (load average {meta['machine']['loadavg_start']} at start, "
         f"{meta['machine']['loadavg_end']} at end)", "",
         "| users | run | destination | file format (set / load jobs) | wall s | requests | rows loaded (dlt) | rows in tables | peak RSS MB | "
         "load step s | floor s | load / floor | load avg |",
         "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in summary["medians"]:
        floor, ratio = m["copy_s"], m["load_over_copy"]
        if floor is None and m["raw_ingest_s"] is not None:
            floor = m["raw_ingest_s"]
            ratio = m["load_s"] / floor if m["load_s"] and floor else None
        kind = " (COPY)" if m["copy_s"] is not None else " (Arrow)" if m["raw_ingest_s"] is not None else ""
        la = m["loadavg_1m_range"]
        L.append(f"| {m['users']} | {m['run']} | {m['destination']}"
                 f"{' (' + str(m['failed']) + ' of ' + str(m['n']) + ' failed)' if m['failed'] else ''} | "
                 f"{m['loader_file_format']} / {m['data_job_formats']} | {fmt(m['wall_s'], 2)} | {fmt(m['requests'], 0)} | "
                 f"{fmt(m['rows_loaded'], 0)} | {fmt(m['rows_in_tables'], 0)} | {fmt(m['peak_rss_mb'], 0)} | {fmt(m['load_s'], 2)} | "
                 f"{fmt(floor, 2)}{kind if floor is not None else ''} | {fmt(ratio, 2)}{'x' if ratio else ''} | "
                 f"{fmt(m['loadavg_1m'], 1)} ({la[0]:.1f}-{la[1]:.1f}) |")
    L += ["", "Floors: on Postgres, `COPY ... FROM STDIN` (text format, one commit per table, a separate "
              "connection) of the rows the full sync wrote, into an empty table made with "
              "`LIKE ... INCLUDING ALL`; the ratio is the per-run load step / COPY, median. On DuckDB, "
              "bench/run.py's raw ingestion of the same rows from Arrow. Peak RSS is the sync process "
              "alone (`wait4`), not the database server's. Rows loaded (dlt) = dlt's normalize counts of "
              "top-level tables; dlt 1.31's csv writer for Python-object items counts cells, not rows "
              "(dlt-hub/dlt#4461), so with csv the store tables inflate it; rows in tables = "
              "`count(*)` of the top-level tables after the sync.", ""]
    idx = summary.get("copy_indexes")
    if idx:
        L += ["Indexes on the COPY tables (copied from what dlt created):", ""]
        L += [f"- `{t}`: " + ("; ".join(f"`{d}`" for d in defs) if defs else "none") for t, defs in idx.items()]
        L.append("")
    if summary["goals"]:
        L += ["Goals:", "", "| goal | users | destination | met | figure |", "|---|---:|---|---|---|"]
        for g in summary["goals"]:
            L.append(f"| {g['goal']} | {g['users']} | {g['destination']} | {'yes' if g['met'] else '**no**'} | {g['figure']} |")
        L.append("")
    if summary["counts_agree"]:
        L += ["Rows in the destination after each sync (the last run of each cell), compared across destinations:", ""]
        for a in summary["counts_agree"]:
            first = next(iter(a["counts"].values()))
            L.append(f"- {a['users']:,} users, {a['run']}: " + (
                "equal: " + ", ".join(f"{t} {n:,}" for t, n in first.items()) if a["equal"]
                else "**differ**: " + "; ".join(f"{d}: {c}" for d, c in a["counts"].items())))
        L.append("")
    failed = [r for r in summary["runs"] if r["exit_code"] != 0]
    if failed:
        L += ["Runs that did not finish (left out of the medians):", ""]
        L += [f"- {r['users']:,} users, {r['run']}, {r['destination']} (repeat {r['repeat'] + 1}): exit code "
              f"{r['exit_code']} after {r['wall_s']:.0f} s: `{last_error(r['stderr_tail'])}`" for r in failed]
        L.append("")
    if meta.get("notes"):
        L += ["Notes:", ""] + [f"- {n}" for n in meta["notes"]]
    path.write_text("\n".join(L) + "\n")


def last_error(stderr: str) -> str:
    """The line of a failed sync's stderr that names the error (its last exception line)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Failed|Retry)\b", ln)]
    return (errs[-1] if errs else lines[-1] if lines else "")[:200].replace("`", "'")


def rewrite(args: argparse.Namespace) -> int:
    """No runs: recompute an earlier invocation's summary and markdown, adding `--note`s."""
    out = Path(args.out)
    summary = json.loads((out / f"{args.label}.json").read_text())
    meta, records = summary["meta"], summary["runs"]
    meta["notes"] = list(dict.fromkeys(meta.get("notes", []) + args.note))
    new: dict[str, Any] = {"meta": meta, **summarise(records, meta["destinations"]), "runs": records,
                           "copy_indexes": summary.get("copy_indexes")}
    (out / f"{args.label}.json").write_text(json.dumps(new, indent=1))
    write_markdown(out / f"{args.label}.md", new, meta)
    print((out / f"{args.label}.md").read_text())
    return 0


def write_summary(args: argparse.Namespace, argv: list[str] | None, records: list[dict], meta: dict,
                  specs: list[str], out: Path, quiet: bool = True) -> None:
    meta = dict(meta, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    meta["machine"] = dict(meta["machine"], loadavg_end=[round(x, 2) for x in os.getloadavg()])
    summary: dict[str, Any] = {"meta": meta, **summarise(records, specs), "runs": records}
    idx = next((r["copy_indexes"] for r in records if r.get("copy_indexes")), None)
    summary["copy_indexes"] = idx
    (out / f"{args.label}.json").write_text(json.dumps(summary, indent=1))
    write_markdown(out / f"{args.label}.md", summary, meta)
    if not quiet:
        print((out / f"{args.label}.md").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, runs="full,noop", label="destinations")
    p.add_argument("--destinations", default="duckdb,postgres",
                   help="duckdb, postgres (sync.py's file format) or postgres:<insert_values|csv|...>")
    p.add_argument("--resources", default=HEAD_TO_HEAD, help="default: bench/run.py's head-to-head set")
    p.add_argument("--profile", default="none", choices=list(PROFILES))
    p.add_argument("--pg-url", default=None, help="a Postgres superuser URL (default: start a throwaway server)")
    p.add_argument("--adbc-path", default=None,
                   help="for postgres:parquet only: a folder holding adbc-driver-postgresql "
                        "(pip install --target DIR adbc-driver-postgresql; not a project dependency)")
    p.add_argument("--rewrite", action="store_true",
                   help="no runs: recompute <label>.json's summary and markdown (with any --note)")
    args = p.parse_args(argv)
    if args.rewrite:
        return rewrite(args)

    import dlt
    import duckdb

    sizes = [int(x) for x in args.users.split(",")]
    specs = args.destinations.split(",")
    kinds = [k for k in KINDS if k in args.runs.split(",")]
    out, run_dir = run_folder(args)
    pg = Postgres(args.pg_url) if any(parse_destination(s)[0] == "postgres" for s in specs) else None
    meta = {
        "label": args.label,
        "command": "python -m bench.destinations " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "versions": {"python": platform.python_version(), "dlt": dlt.__version__, "duckdb": duckdb.__version__,
                     **({"postgres": pg.version()} if pg else {})},
        "postgres_server": ("started by the harness: tests/pgcluster.py, fsync off, synchronous_commit off, "
                            "shared_buffers 128MB, same machine" if pg and pg.owned else
                            "--pg-url" if pg else "not used"),
        "git_commit": git_commit(), "resources": args.resources, "profile": args.profile, "days": args.days,
        "repeat": args.repeat, "users": sizes, "destinations": specs, "runs": kinds, "notes": args.note,
        "runs_dir": str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir),
    }
    records: list[dict] = []
    try:
        for users in sizes:
            t0 = time.perf_counter()
            proc = SimulatorProcess(users, args.seed).start()
            url = proc.url
            print(f"simulator for {users} users ready in {time.perf_counter() - t0:.1f}s at {url}", flush=True)
            sim = Sim(url)
            try:
                for rep in range(args.repeat):
                    order = specs if rep % 2 == 0 else list(reversed(specs))
                    for spec in order:
                        print(f"[{users} users · repeat {rep + 1}/{args.repeat} · {spec}]", flush=True)
                        records += run_chain(sim, pg, spec, users, kinds, rep, args, run_dir)
                        write_summary(args, argv, records, meta, specs, out)
            finally:
                proc.stop()
    finally:
        if pg is not None:
            pg.stop()
    write_summary(args, argv, records, meta, specs, out, quiet=False)
    return 0 if records and all(r["exit_code"] == 0 for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
