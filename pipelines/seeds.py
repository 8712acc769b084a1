"""Seeds: the user's own CSV files loaded as tables of schema `seeds`, so push definitions and models
can join the community's data with theirs (a fulfilment file, a file of voucher codes, ...).

Every `*.csv` of `warehouse/seeds/` and of the folders of `RETURNING_SEEDS_DIR` (or
`sources.returning_ai.seeds_dir` in dlt's providers, resolved as every setting is; os.pathsep-separated,
or a TOML list; read after the shipped one: a file of the same name replaces the shipped seed) is one
table named for its file (`fulfilment.csv` -> `seeds.fulfilment`). Files are UTF-8 (a BOM is ignored),
comma-separated with a header row; every column is text (cast in SQL where a number or date is meant)
and an empty cell is NULL. Each load replaces the tables it loads, columns included (a column removed
from the file is gone from the table); a header-only file still makes its table, with its columns. A
table whose file was removed stays until dropped by hand.

`load_seeds(settings)` runs them through dlt into dataset `seeds` of the configured destination (dlt's
dataset is the schema on DuckDB and Postgres alike), as its own pipeline `returning_seeds` beside the
sync's. It makes no API call. On DuckDB the file must not be held by another writer: pass the
connection a caller holds, or call `sync_seeds(settings)`, which takes the sync lock and the warehouse
as a sync does (`returning-sync sync` after a whole sync, and `sync --seeds-only`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.utils import get_resolved_traces

from pipelines.errors import ConfigError, plural
from warehouse.location import WarehouseLocation, user_folders

SEEDS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "seeds"
SEEDS_DIR_ENV = "RETURNING_SEEDS_DIR"
SEEDS_DIR_SETTING = "seeds_dir"  # sources.returning_ai.seeds_dir
SEEDS_SCHEMA = "seeds"
PIPELINE_NAME = "returning_seeds"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def seed_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The shipped folder, then each folder of RETURNING_SEEDS_DIR (or `sources.returning_ai.seeds_dir`)."""
    return user_folders(SEEDS_DIR, SEEDS_DIR_ENV, ConfigError, environ, setting=SEEDS_DIR_SETTING)


def seed_files(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """table name -> its CSV file (a later folder's file replaces an earlier one of the same name)."""
    out: dict[str, Path] = {}
    for folder in seed_dirs(environ):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.csv")):
            if not _NAME.match(path.stem):
                raise ConfigError(f"seed {path}: name the file in lowercase letters, digits and _ "
                                  "(it becomes the table name)")
            out[path.stem] = path
    return dict(sorted(out.items()))


def read_seed(path: Path) -> tuple[list[str], list[dict[str, str | None]]]:
    """A seed's columns and rows (every value text, empty cells None)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"seed {path} is not UTF-8: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ConfigError(f"seed {path} has no header row")
    columns = [h.strip() for h in header]
    if len(set(columns)) != len(columns) or "" in columns:
        raise ConfigError(f"seed {path}: column names must be unique and not empty ({', '.join(columns)})")
    rows = []
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(columns):
            raise ConfigError(f"seed {path} line {n}: {plural(len(cells), 'cell')} for {plural(len(columns), 'column')}")
        rows.append({c: (v if v.strip() else None) for c, v in zip(columns, cells, strict=True)})
    return columns, rows


def _resource(table: str, path: Path) -> Any:
    columns, rows = read_seed(path)
    hints = {c: {"data_type": "text", "nullable": True} for c in columns}

    def load() -> Iterator[Any]:
        yield rows if rows else dlt.mark.materialize_table_schema()

    return dlt.resource(load, name=table, write_disposition="replace", columns=hints)


@dlt.source(name="seeds", max_table_nesting=0)
def seeds_source(files: Mapping[str, Path]) -> Any:
    """One `replace` resource per seed file."""
    return [_resource(table, path) for table, path in files.items()]


def check_seeds(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Read every seed file without loading it: rows per table, or the ConfigError a load would
    raise (a whole sync checks them before it opens the warehouse)."""
    return {table: len(read_seed(path)[1]) for table, path in seed_files(environ).items()}


def load_seeds(settings: Any, connection: Any = None, environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Load every seed into schema `seeds` of the configured warehouse; returns rows per table
    ({} when there are no seed files). `settings`: anything with the warehouse's `location` (or the
    WarehouseLocation itself); `connection`: the DuckDB connection a caller already holds."""
    from warehouse.destination import dlt_destination

    files = seed_files(environ)
    if not files:
        return {}
    location = settings if isinstance(settings, WarehouseLocation) else settings.location
    location.pipelines_dir.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=dlt_destination(location, connection),
                            dataset_name=SEEDS_SCHEMA, pipelines_dir=str(location.pipelines_dir))
    source = seeds_source(files)
    # dlt's trace of this run (trace.pickle) lists every configuration value resolved since dlt's last
    # trace ended; a fan-out's parent has read every community's settings by now, and schema seeds
    # is no one community's: the trace starts with this run
    get_resolved_traces().clear()
    # drop_resources: each table loaded is dropped (in the warehouse and in dlt's schema) and made
    # again from its file, so a column removed from the file leaves the table too; tables of files
    # that are gone are not among the resources and stay
    pipeline.run(source, refresh="drop_resources")
    return {table: len(read_seed(path)[1]) for table, path in files.items()}


def sync_seeds(settings: Any, environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """`load_seeds` as a sync runs: under the warehouse's sync lock (one writer of dlt's working
    folder at a time), holding the warehouse (DuckDB: the file opened once for writing). `settings`:
    `pipelines.config.Settings` (its key may be absent: no API call is made)."""
    from pipelines.lock import sync_lock
    from pipelines.session import open_warehouse

    with sync_lock(settings), open_warehouse(settings) as held:
        return load_seeds(settings, connection=held, environ=environ)
