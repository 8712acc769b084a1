"""`--cpu-report=FILE`: the CPU seconds each test costs, its child processes included.

Wall time on a shared 2-core machine says little; CPU seconds are steadier. For each test (set-up,
call and tear-down) this records the worker's own CPU, the CPU of the children it waited for
(`returning-sync` subprocesses, `runuser`, ...) and the CPU the long-lived processes spent meanwhile:
the worker's live descendants (the session's simulator) and the session's PostgreSQL server (its
postmaster and backends, which are not the worker's children). A process reaped during a test has
its CPU before that test taken off, so nothing is counted twice. It also counts the processes each
test launched (by their first arguments). Under xdist every worker appends JSON lines to
FILE.<worker>; `python -m tests.cpu_report FILE` ranks tests, files and fixtures' files.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

_launches: Counter[str] = Counter()
_outcomes: dict[str, str] = {}
_postmasters: list[Path] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-report", metavar="FILE", default=None,
                     help="append each test's CPU seconds (child processes included) to FILE[.worker]")


def _rusage() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _process_totals() -> dict[int, tuple[float, int]]:
    """pid -> (CPU so far: own + reaped children, the pid whose counters receive it when it exits: 0 for
    this worker) for every live descendant and the session's PostgreSQL servers and backends."""
    import psutil

    procs = [(p, 0) for p in psutil.Process().children(recursive=True)]
    for pid_file in _postmasters:
        try:
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            procs += [(postmaster, -1), *((c, postmaster.pid) for c in postmaster.children(recursive=True))]
        except (OSError, ValueError, psutil.Error):
            continue
    totals: dict[int, tuple[float, int]] = {}
    for proc, reaper in procs:
        try:
            t = proc.cpu_times()
            totals[proc.pid] = (t.user + t.system + t.children_user + t.children_system, reaper)
        except psutil.Error:
            continue
    return totals


def _label(args: object) -> str:
    argv = [str(args)] if isinstance(args, (str, bytes)) else [str(a) for a in args]  # type: ignore[union-attr]
    if argv and argv[0] == "runuser":
        argv = argv[argv.index("--") + 1:] if "--" in argv else argv
    first = os.path.basename(argv[0]) if argv else "?"
    if first.startswith("python") and len(argv) > 2 and argv[1] == "-m":
        return f"python -m {argv[2]}"
    if first == "returning-sync" and len(argv) > 1:
        return f"returning-sync {argv[1]}"
    return first


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("cpu_report"):
        return
    original_init = subprocess.Popen.__init__

    def counting_init(self, args, *a, **kw):  # type: ignore[no-untyped-def]
        _launches[_label(args)] += 1
        original_init(self, args, *a, **kw)

    subprocess.Popen.__init__ = counting_init  # type: ignore[method-assign]

    from tests import pgcluster

    original_start = pgcluster.start

    def recording_start() -> pgcluster.Cluster:
        cluster = original_start()
        if cluster.data_dir is not None:
            _postmasters.append(cluster.data_dir / "postmaster.pid")
        return cluster

    pgcluster.start = recording_start  # type: ignore[assignment]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed or report.when == "call":  # a failed set-up or tear-down counts too
        _outcomes[report.nodeid] = "failed" if report.failed else report.outcome


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    target = item.config.getoption("cpu_report")
    if not target:
        yield
        return
    _launches.clear()
    before_procs = _process_totals()
    before, started = _rusage(), time.monotonic()
    yield
    after, wall = _rusage(), time.monotonic() - started
    after_procs = _process_totals()
    live = sum(total - before_procs.get(pid, (0.0, 0))[0] for pid, (total, _) in after_procs.items())
    # a reaped process's whole CPU is now in RUSAGE_CHILDREN or its live reaper's: take off what was
    # counted before. A stopped PostgreSQL server's CPU reaches no counter of ours: nothing to take off.
    reaped = sum(total for pid, (total, reaper) in before_procs.items()
                 if pid not in after_procs and (reaper == 0 or reaper in after_procs))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    row = {"test": item.nodeid, "cpu": round(after - before + live - reaped, 3), "wall": round(wall, 3),
           "worker": worker, "outcome": _outcomes.pop(item.nodeid, "skipped"), "launches": dict(_launches)}
    with open(f"{target}.{worker}", "a") as out:
        out.write(json.dumps(row) + "\n")


def _report(prefix: str, top: int = 40) -> None:
    rows = [json.loads(line) for p in Path(prefix).parent.glob(Path(prefix).name + ".*")
            for line in p.read_text().splitlines()]
    by_file: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    launches: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        f = r["test"].split("::")[0]
        by_file[f][0] += r["cpu"]
        by_file[f][1] += r["wall"]
        by_file[f][2] += 1
        launches[f].update(r["launches"])
    total = sum(r["cpu"] for r in rows)
    failed = [r["test"] for r in rows if r.get("outcome") == "failed"]
    print(f"{len(rows)} tests, {total:.0f} s CPU, {sum(r['wall'] for r in rows):.0f} s wall summed over workers")
    for test in failed:
        print(f"FAILED {test}")
    print(f"\n-- {top} costliest tests (CPU s, wall s)")
    for r in sorted(rows, key=lambda r: -r["cpu"])[:top]:
        print(f"{r['cpu']:7.1f} {r['wall']:7.1f}  {r['test']}  {r['launches'] or ''}")
    print("\n-- files by CPU (CPU s, wall s, tests, processes launched)")
    for f, (cpu, wall, n) in sorted(by_file.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{cpu:7.1f} {wall:7.1f} {n:4d}  {f}  {dict(launches[f].most_common(4))}")


if __name__ == "__main__":
    _report(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40)
