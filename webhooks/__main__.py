"""`python -m webhooks`: the same as `returning-sync webhooks`, without loading the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from returning_errors import ReturningError
from webhooks.server import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webhooks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ReturningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
