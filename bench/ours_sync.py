"""`returning-sync ...` with dlt's loader file format forced for one destination (bench only).

    python bench/ours_sync.py postgres csv sync --resources users

sets `pipelines.sync.LOADER_FILE_FORMATS["postgres"] = "csv"` in this process, then runs the CLI as
`returning-sync sync --resources users` would: the same code path, only the format differs. A format
of `default` leaves the table in pipelines/sync.py as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    destination, file_format, *cli_args = argv
    from pipelines import sync
    from returning_sync.cli import main as cli_main

    if file_format != "default":
        sync.LOADER_FILE_FORMATS[destination] = file_format
    return cli_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
