"""`returning-sync` command line: composes the simulator, the sync, the models and reverse ETL.

Each sub-command lives in `returning_sync/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. A `ReturningError` (see `returning_errors`) ends
the process with its `exit_code` and one line on stderr; anything else is unexpected (exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from returning_errors import ReturningError

COMMANDS: dict[str, str] = {
    "demo": "the main job on the embedded default: simulator, full sync, models, reverse-ETL dry runs",
    "simulator": "serve the simulated Returning.AI API until stopped",
    "sync": "load the API into the warehouse",
    "sql": "read-only query of the warehouse",
    "models": "build the SQL models (schema analytics) on the configured warehouse, in dependency order",
    "push": "reverse ETL: push warehouse decisions back to Returning.AI",
    "ui": "simulator + dagster dev together",
    "webhooks": "receive the platform's outgoing webhooks and land them durably",
    "forget": "erase one member from every table and file this tool writes, with a PII-free audit row",
    "share": "build schema analytics_share for analysts (personal data dropped or hashed) and their read-only role",
    "check": "probe every endpoint the sync would use and say per dataset what loads, what not, and what to set",
}
EXIT_CODES = ("exit codes: 0 success · 1 unexpected error · 2 configuration or usage error · 3 the API key was "
              "refused (401/403) · 4 the API kept failing after retries · 5 partial: some selected datasets were "
              "skipped (each named in the summary with the reason and the setting that changes it)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command's module is imported (a sync never loads Dagster,
    the simulator or the web server of the other commands)."""
    parser = argparse.ArgumentParser(prog="returning-sync", description=__doc__.splitlines()[0], epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        module = importlib.import_module(f"returning_sync.commands.{name}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    first = next((a for a in args_in if not a.startswith("-")), None)
    return _command(argv, first)


def _command(argv: list[str] | None, first: str | None) -> int:
    parser = build_parser(first if first in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 already
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ReturningError as exc:  # one line, specific cause, mapped exit code
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
