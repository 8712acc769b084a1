"""`returning-sync sync [--resources a,b] [--full-refresh] [--since YYYY-MM-DD] [--strict] [--seeds-only]`:
load the API into the warehouse, with live progress per resource and a final summary.

A dataset the API does not serve (404/405), that the key may not read, or whose answer lacks the
shape the registry expects is skipped and named in the summary with the setting that changes it;
the others load and commit, and the exit code is 5 (partial). `--strict` ends the run at the first
failure instead. Datasets turned off in the settings (`disabled`) are not read and not counted.

A whole sync (no `--resources`) then loads the seed CSVs into schema `seeds` (`pipelines/seeds.py`);
`--seeds-only` loads just those, with no API call and no key.

`--community SLUG` syncs one configured community (default: `default`); `--all-communities [--parallel N]`
syncs every one, each in its own process (returning_sync/communities_run.py), then the seeds once."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from pipelines.config import Settings
from pipelines.errors import ConfigError, plural
from returning_sync.arrow_guard import keep_pandas_out
from returning_sync.communities_run import add_community_argument, chosen, run_each, worst_exit, write_summary

if TYPE_CHECKING:  # dlt and everything it pulls in are imported when the command runs, not to parse it
    from pipelines.context import ResourceProgress
    from pipelines.sync import SyncResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resources", default=None, metavar="A,B",
                        help="comma-separated resources to load (default all; an unknown name lists them)")
    parser.add_argument("--full-refresh", action="store_true",
                        help="read the selected datasets again from the start (their stored cursors reset); "
                             "tables are kept and the read merged over them: nothing held is dropped")
    parser.add_argument("--since", default=None, metavar="YYYY-MM-DD",
                        help="re-read incremental resources from this day on (stored cursors unchanged)")
    parser.add_argument("--strict", action="store_true",
                        help="fail fast: the first dataset that cannot be read ends the run with its exit code "
                             "(default: skip it, load the others, name it in the summary and exit 5)")
    parser.add_argument("--seeds-only", action="store_true",
                        help="load only the seed CSVs (warehouse/seeds/ and RETURNING_SEEDS_DIR) into schema "
                             "seeds: no API call, no key needed. A whole sync (no --resources) loads them "
                             "after the API; a sync with --resources does not")
    parser.add_argument("--skip-seeds", action="store_true", help=argparse.SUPPRESS)  # a fan-out loads them once
    add_community_argument(parser, fan_out=True)
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


EXIT_CODES = """exit codes:
  0  every selected dataset loaded (disabled ones are not counted)
  1  unexpected error
  2  configuration or usage error
  3  the API key was refused (invalid or expired, or no permission for anything)
  4  the API kept failing after retries
  5  partial: some selected datasets were skipped; each is named in the summary with the reason
     and the setting that changes it (`returning-sync check` predicts them)
  6  busy: another process holds the warehouse longer than the command waits
  with --all-communities: the worst community's code (a failure's before 5; see the summary's rows)"""
PARTIAL = 5
# what a fan-out's fork server imports once for every community's child (returning_sync/fork_server.py)
FORK_PRELOAD = ("pipelines.sync", "pipelines.seeds")


def parse_since(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"--since must be a date as YYYY-MM-DD, got {raw!r}") from None


def run(args: argparse.Namespace) -> int:
    if args.seeds_only:
        return seeds_only(args)
    since = parse_since(args.since)
    if args.all_communities:
        return all_communities(args)
    keep_pandas_out()  # this process is the sync's alone: pyarrow never imports pandas in it
    from pipelines.seeds import check_seeds
    from pipelines.sync import run_sync, select_resources

    settings = chosen(args).settings
    resources = select_resources(args.resources.split(",")) if args.resources is not None else None
    seeds = resources is None and not args.skip_seeds  # a whole sync loads the seeds after the API
    if seeds:
        check_seeds()  # a bad seed file ends the run before any API call
    # dlt warns about columns that were null on every row (not materialised yet): noise here
    logging.getLogger("dlt").setLevel(logging.ERROR)
    display = LiveDisplay() if sys.stdout.isatty() else PlainDisplay()
    notes = Notes()
    logging.getLogger("pipelines.users_pass").addHandler(notes)  # what the users pass had to do
    logging.getLogger("pipelines.skips").addHandler(logging.NullHandler())  # the summary names each skip once
    with display:
        result = run_sync(settings, resources=resources, full_refresh=args.full_refresh, since=since,
                          progress=display.update, strict=args.strict)
    print_summary(result, rich_output=sys.stdout.isatty())
    if args.full_refresh:
        print(f"note: full refresh: read {plural(len(resources or result.resources), 'dataset')} from the start "
              f"(stored cursors reset: {len(result.refreshed)}); every table was kept and the read merged "
              "over it, so `rows` counts only new or changed rows")
    for line in notes.lines:
        print(f"note: {line}")
    if seeds:
        print_seeds(settings)
    write_summary(args, {"rows": sum(r.rows for r in result.resources.values()), "requests": result.requests,
                         "skipped": len(result.skipped)})
    return PARTIAL if result.skipped else 0


def all_communities(args: argparse.Namespace) -> int:
    """`--all-communities`: each configured community's sync in its own process
    (returning_sync/communities_run.py), then the seeds once, then one summary row per community."""
    # not pipelines.sync (dlt's source, pyarrow, duckdb): this process only waits for its children
    from pipelines.seeds import check_seeds
    from pipelines.tables import select_resources

    resources = select_resources(args.resources.split(",")) if args.resources is not None else None
    if resources is None:
        check_seeds()  # a bad seed file ends the run before any API call
    argv = [*(["--resources", args.resources] if args.resources is not None else []),
            *(["--full-refresh"] if args.full_refresh else []), *(["--since", args.since] if args.since else []),
            *(["--strict"] if args.strict else []), "--skip-seeds"]
    # schema seeds is shared by every community: loaded once, after them
    seeds = (lambda: print_seeds(Settings.from_env(key_required=False))) if resources is None else None
    outcomes = run_each("sync", argv, args.parallel, ("rows", "requests", "skipped"), before_summary=seeds)
    return worst_exit([o.exit_code for o in outcomes])


def seeds_only(args: argparse.Namespace) -> int:
    if args.resources is not None or args.full_refresh or args.since is not None:
        raise ConfigError("--seeds-only loads the seed CSVs alone: it takes no --resources, --full-refresh or --since")
    print_seeds(Settings.from_env(key_required=False))  # no API call: no key needed
    return 0


def print_seeds(settings: Settings) -> None:
    """Load the seeds as a sync does and say what landed, in one line."""
    from pipelines.seeds import SEEDS_SCHEMA, sync_seeds

    rows = sync_seeds(settings)
    told = ", ".join(f"{table} {plural(n, 'row')}" for table, n in rows.items())
    print(f"seeds: {plural(len(rows), 'table')} into schema {SEEDS_SCHEMA}" + (f" ({told})" if told else ""))


class Notes(logging.Handler):
    """Warnings of the run (an incomplete users pass made up, a filter the server ignored), kept for
    the summary."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class PlainDisplay:
    """Log lines for pipes and CI: one per resource at most every 2 seconds."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, resource: str, p: ResourceProgress) -> None:
        now = time.monotonic()
        if now - self._last.get(resource, 0.0) >= 2.0:
            self._last[resource] = now
            rate = p.rows / p.seconds if p.seconds > 0 else 0.0
            print(f"sync {resource}: {plural(p.pages, 'page')}, {plural(p.rows, 'row')} ({rate:,.0f} rows/s)", flush=True)


class LiveDisplay:
    """A rich table redrawn in place on a terminal."""

    def __init__(self) -> None:
        from rich.live import Live

        self._rows: dict[str, ResourceProgress] = {}
        self._live = Live(self._render(), refresh_per_second=4, transient=True)

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)

    def update(self, resource: str, p: ResourceProgress) -> None:
        self._rows[resource] = p
        self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="returning-sync: loading", expand=False)
        for col in ("resource", "pages", "rows", "rows/s"):
            table.add_column(col, justify="left" if col == "resource" else "right")
        for name, p in self._rows.items():
            rate = p.rows / p.seconds if p.seconds > 0 else 0.0
            table.add_row(name, str(p.pages), f"{p.rows:,}", f"{rate:,.0f}")
        return table


def print_summary(result: SyncResult, *, rich_output: bool) -> None:
    header = ("resource", "rows", "pages", "requests", "seconds")
    left_out = {s.dataset for s in result.skipped} | set(result.disabled)
    lines = [(r.name, f"{r.rows:,}", str(r.pages), str(r.requests), f"{r.seconds:.2f}")
             for r in result.resources.values() if r.name not in left_out]
    _print_table(header, lines, result, rich_output=rich_output)
    for line in result.bookkeeping.lines():  # shortfalls against the server's counts, API drift
        print(line)
    print_left_out(result)


def print_left_out(result: SyncResult) -> None:
    """The datasets the run did not load: each skipped one with its reason and the setting that
    changes it (pipelines/skips.py), then the disabled ones."""
    if result.skipped:
        print(f"skipped {len(result.skipped)} dataset(s); the others loaded and committed:")
        for skip in result.skipped:
            print(f"  {skip.line()}")
    if result.disabled:
        print(f"disabled in the settings (not read): {', '.join(result.disabled)}")


def _print_table(header: tuple[str, ...], lines: list[tuple[str, ...]], result: SyncResult, *,
                 rich_output: bool) -> None:
    footer = f"{plural(result.requests, 'request')} ({result.retries} retried), {result.seconds:.1f} s"
    if rich_output:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="returning-sync: loaded", caption=footer)
        for col in header:
            table.add_column(col, justify="left" if col == "resource" else "right")
        for line in lines:
            table.add_row(*line)
        Console().print(table)
        for note in result.notes:
            Console().print(note, markup=False, highlight=False)
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))))
    for line in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))))
    print(f"total: {footer}")
    for note in result.notes:
        print(note)
