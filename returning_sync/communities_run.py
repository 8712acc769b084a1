"""The command line's communities: `--community SLUG` picks one (default: `default`, the top-level
configuration, exactly as before), `--all-communities` runs a command for every configured one.

A fan-out (`fan_out`) runs `returning-sync <command> --community <slug> ...` once per community, each
in a process of its own (its own dlt pipeline, state, lock and logging), at most `limit` at a time
(`--parallel N`, or the setting `sources.returning_ai.community_concurrency`, default 2). Communities
that load into the same DuckDB file run one after another: DuckDB lets one process write a file, and
a sync holds it for its whole load. Communities on a server destination, or each with a DuckDB file of
its own, run side by side. A community that fails does not stop the others. Each one's output is
printed as a block when it ends, then one summary row per community; the exit code is the worst
(`worst_exit`).

Processes rather than threads: dlt can run pipelines of different names in threads of one process
(its configuration containers are thread-affine, dlt-hub/dlt#813), but a sync also sets process-wide
things (logging handlers, the pandas guard of `returning_sync.arrow_guard`, the crash-test hook), a
failure's exit code is the process's, and a finished community's memory goes back with its process.
On Linux those processes are forked from one server that imported the command's modules once
(`returning_sync/fork_server.py`): the imports' CPU is spent once and their memory shared, not
repeated per community; elsewhere each is a fresh `python -m returning_sync.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.communities import Community, communities, community
from pipelines.config import Settings
from pipelines.errors import ConfigError
from returning_sync.fork_server import ForkServer
from warehouse.configuration import Lookup
from warehouse.location import DEFAULT_COMMUNITY, WarehouseLocation

CONCURRENCY_SETTING = "community_concurrency"  # sources.returning_ai.community_concurrency
DEFAULT_CONCURRENCY = 2
# Linux: children forked from one process that imported the command once (returning_sync/fork_server.py);
# elsewhere each child is a fresh interpreter
FORKS = sys.platform == "linux"
SUMMARY_FLAG = "--summary-json"  # a child writes its figures there (hidden option)
PARTIAL = 5


def add_community_argument(parser: argparse.ArgumentParser, *, fan_out: bool = False) -> None:
    """`--community SLUG`; with `fan_out`, also `--all-communities` and `--parallel N`."""
    group = parser.add_mutually_exclusive_group() if fan_out else parser
    group.add_argument("--community", default=DEFAULT_COMMUNITY, metavar="SLUG",
                       help="the community to work on, as configured under "
                            "[sources.returning_ai.communities.<slug>] (default: default, the top-level settings)")
    if fan_out:
        group.add_argument("--all-communities", action="store_true",
                           help="every configured community, each in its own process; one summary row each")
        parser.add_argument("--parallel", type=int, default=None, metavar="N",
                            help="with --all-communities: at most N communities at a time (default: the setting "
                                 f"{CONCURRENCY_SETTING}, else {DEFAULT_CONCURRENCY}); communities sharing a "
                                 "DuckDB file always run one after another")
        parser.add_argument(SUMMARY_FLAG, default=None, help=argparse.SUPPRESS)


def chosen(args: argparse.Namespace, *, key_required: bool = True) -> Community:
    """The community `--community` names (an unknown one: ConfigError, exit 2)."""
    return community(args.community, key_required=key_required)


def chosen_location(args: argparse.Namespace) -> WarehouseLocation:
    """The warehouse of the community `--community` names. The default community's is the top-level
    one, which needs no community configured (no key, no id): what the commands that only read or
    build the warehouse (`models`, `share`, `push --latest`) need."""
    if args.community == DEFAULT_COMMUNITY:
        return WarehouseLocation.from_env()
    return chosen(args, key_required=False).location


def chosen_settings(args: argparse.Namespace) -> Settings:
    """The settings of the community `--community` names, its API key not required (the default
    community's: the top-level settings as they are)."""
    if args.community == DEFAULT_COMMUNITY:
        return Settings.from_env(key_required=False)
    return chosen(args, key_required=False).settings


def concurrency(given: int | None) -> int:
    """`--parallel`, else `sources.returning_ai.community_concurrency`, else 2."""
    if given is not None:
        value: Any = given
        where = "--parallel"
    else:
        found = Lookup(error=ConfigError).first(CONCURRENCY_SETTING)
        if found is None:
            return DEFAULT_CONCURRENCY
        value, where = found.value, f"{CONCURRENCY_SETTING} ({found.where})"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a whole number of communities, got {value!r}") from None
    if not 1 <= number <= 64:
        raise ConfigError(f"{where} must be between 1 and 64, got {number}")
    return number


def write_summary(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """A child of a fan-out: its figures for the parent's summary row."""
    path = getattr(args, "summary_json", None)
    if path:
        Path(path).write_text(json.dumps(figures), encoding="utf-8")


@dataclass
class Outcome:
    """One community's run in a fan-out."""

    slug: str
    exit_code: int = 0
    figures: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    error: str = ""  # the last line of its stderr, when it failed
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.exit_code == 0:
            return "ok"
        if self.exit_code == PARTIAL:
            return "partial"
        return "failed"


def worst_exit(codes: Sequence[int]) -> int:
    """The fan-out's exit code: 0 when every community succeeded; otherwise a failure's code (the
    first failed community's, in name order) before partial (5)."""
    failures = [c for c in codes if c not in (0, PARTIAL)]
    if failures:
        return failures[0]
    return PARTIAL if PARTIAL in codes else 0


def serial_key(c: Community) -> str:
    """Communities with the same key run one after another: those writing the same DuckDB file."""
    return str(c.location.file) if c.location.embedded else f"server:{c.slug}"


def fan_out(command: str, argv: Sequence[str], limit: int, *, key_required: bool = True,
            echo: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run `returning-sync <command> --community <slug> <argv>` for every configured community, at
    most `limit` at a time, those sharing a DuckDB file one after another (see the module docstring)."""
    every = communities(key_required=key_required)
    if not every:
        raise ConfigError("no community is configured: set the API key under [sources.returning_ai] "
                          "(RETURNING_AI_API_KEY) or add [sources.returning_ai.communities.<slug>] tables")
    files = {serial_key(c): threading.Lock() for c in every}
    slots = threading.Semaphore(limit)
    printing = threading.Lock()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    forks = ForkServer(fork_preload(command), env=env) if FORKS else contextlib.nullcontext(None)

    def one(c: Community, server: ForkServer | None) -> Outcome:
        with files[serial_key(c)], slots, tempfile.TemporaryDirectory(prefix="returning-community-") as tmp:
            summary, out, err = (Path(tmp) / name for name in ("summary.json", "stdout", "stderr"))
            child = [command, "--community", c.slug, *argv, SUMMARY_FLAG, str(summary)]
            started = time.monotonic()
            if server is not None:
                code = server.run(child, str(out), str(err))
                stdout, stderr = (f.read_text(encoding="utf-8", errors="replace") for f in (out, err))
            else:
                done = subprocess.run([sys.executable, "-m", "returning_sync.cli", *child], capture_output=True,
                                      text=True, env=env, check=False)
                code, stdout, stderr = done.returncode, done.stdout, done.stderr
            outcome = Outcome(c.slug, code, output=stdout + stderr, seconds=time.monotonic() - started)
            if summary.exists():
                outcome.figures = json.loads(summary.read_text(encoding="utf-8"))
            if code not in (0, PARTIAL):
                lines = [line for line in stderr.splitlines() if line.strip()]
                outcome.error = lines[-1] if lines else f"exit {code}"
        if echo is not None:
            with printing:
                echo(outcome)
        return outcome

    with forks as server, ThreadPoolExecutor(max_workers=len(every)) as pool:
        return list(pool.map(lambda c: one(c, server), every))


def fork_preload(command: str) -> tuple[str, ...]:
    """The modules a fan-out's fork server imports for `command`: its `FORK_PRELOAD`, read from the
    command's module (light: the heavy imports of a command happen in its `run`)."""
    module = importlib.import_module(f"returning_sync.commands.{command}")
    return ("returning_sync.cli", module.__name__, *getattr(module, "FORK_PRELOAD", ()))


def run_each(command: str, argv: Sequence[str], parallel: int | None, columns: Sequence[str], *,
             key_required: bool = True, before_summary: Callable[[], None] | None = None) -> list[Outcome]:
    """`command argv` for every community (`fan_out`, at most `parallel` or the setting at once), each
    one's output as it ends, then `before_summary` and one summary row per community."""
    limit = concurrency(parallel)
    outcomes = fan_out(command, argv, limit, key_required=key_required, echo=print_block)
    if before_summary is not None:
        before_summary()
    print_outcomes(outcomes, columns, note=shared_files(limit, key_required=key_required))
    return outcomes


def print_block(outcome: Outcome) -> None:
    """One community's own output, under its name."""
    print(f"== community {outcome.slug} (exit {outcome.exit_code}) ==")
    text = outcome.output.rstrip("\n")
    if text:
        print(text)
    print(flush=True)


def print_outcomes(outcomes: Sequence[Outcome], columns: Sequence[str], note: str = "") -> None:
    """The summary: one row per community (status, its figures, exit code), then the worst code."""
    header = ("community", "status", *columns, "seconds", "exit")
    rows = [(o.slug, o.status, *(_figure(o.figures.get(col)) for col in columns), f"{o.seconds:.1f}",
             str(o.exit_code)) for o in outcomes]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))))
    for row in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    for o in outcomes:
        if o.error:
            print(f"  {o.slug}: {o.error}")
    if note:
        print(note)
    code = worst_exit([o.exit_code for o in outcomes])
    print(f"{len(outcomes)} communities: {sum(o.exit_code == 0 for o in outcomes)} ok; exit {code}", flush=True)


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def shared_files(limit: int, *, key_required: bool = True) -> str:
    """A line saying which communities share a DuckDB file (and so run one after another)."""
    groups: dict[str, list[str]] = {}
    for c in communities(key_required=key_required):
        if c.location.embedded:
            groups.setdefault(str(c.location.path), []).append(c.slug)
    shared = {path: slugs for path, slugs in groups.items() if len(slugs) > 1}
    said = "; ".join(f"{', '.join(s)} share {p}: one after another" for p, s in shared.items())
    return f"at most {limit} communities at a time" + (f" ({said})" if said else "")
