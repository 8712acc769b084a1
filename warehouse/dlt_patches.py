"""Every patch of dlt's internals, in one place, each applied only when a caller asks (`apply`).

dlt offers no supported way to change what these patches change; each names what it replaces and
`DLT_SOURCES` holds a fingerprint of the dlt code it relies on, so a dlt release that changes that
code fails `tests/warehouse/test_dlt_patches.py` instead of silently loading otherwise. Drop a patch
when dlt grows a supported way to say the same.

`postgres_csv_keeps_empty_strings`: Postgres loads of Arrow-born tables through `COPY` (dlt's `csv`
loader file format) keep the empty string apart from NULL. dlt's Postgres csv job
(`PostgresCsvCopyJob.run`) adds `FORCE_NULL(...)` for every column `is_nullable_column` says is
nullable, so a quoted empty string ("") loads as NULL as well; its `csv_format` settings (delimiter,
header, quoting, encoding) cannot turn that off. The files of the tables this project hands dlt as
Arrow are written by Arrow's csv writer, which leaves NULL unquoted and quotes "" — exactly the
distinction Postgres' CSV format makes by itself. So text columns are copied without FORCE_NULL;
other columns keep it (an empty unquoted field is their NULL either way). Tables handed over as
Python dicts keep dlt's `insert_values` (their csv writer cannot tell "" from NULL). The patch
replaces the name `is_nullable_column` in dlt's Postgres module only: dlt's other uses of the
function (schema utils, other destinations) are unchanged.

`credentials_display_without_sqlalchemy`: the destination's location in dlt's `LoadInfo` is shown
without importing SQLAlchemy. At the end of every load, `Load.get_step_info` calls
`str(client_config)`, which renders `ConnectionStringCredentials` (DuckDB's and Postgres' included)
through `to_url()`; that imports the URL class from `dlt.common.libs.sql_alchemy_compat`, which
takes the real SQLAlchemy whenever it is installed (Dagster installs it) and falls back to dlt's own
copy of the same class (`dlt.common.libs.sql_alchemy_shims.URL`) otherwise. Importing SQLAlchemy
(about 80 modules and 5,000 functions) only to print `duckdb:////path/returning.duckdb` cost a
sync 13% of its CPU time (bench/README.md, "Issue 21, exit and start-up"): the import sits in the
load step, and the interpreter frees those objects again when the process exits. The patch renders
the same string with dlt's own URL class (the query left out and the password hidden, as dlt's
`__str__` does); credentials classes with their own `to_url` keep dlt's path.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_applied: set[str] = set()
_originals: dict[str, Any] = {}  # what a patch replaced, by dotted name (its fingerprint is of dlt's code)

# patch -> {dotted dlt object it relies on: sha256 of its source in the dlt release it was written against (1.31.0)}
DLT_SOURCES: dict[str, dict[str, str]] = {
    "postgres_csv_keeps_empty_strings": {
        "dlt.destinations.impl.postgres.postgres.PostgresCsvCopyJob.run":
            "aeace48a45f80214a3dd3b311cf2c038366e718761774ef2257aea42d075d39d",
        "dlt.common.schema.utils.is_nullable_column":
            "5ab418ba821d34cb365c300ac4fa0186b84c2a4e1ef5bf11176640ccdf4310d9",
    },
    "credentials_display_without_sqlalchemy": {
        "dlt.common.configuration.specs.connection_string_credentials.ConnectionStringCredentials.__str__":
            "dcc3ce40656d7e157efd9d8c1a90f06bf5d6d4daf1890224c48872b81029ffa9",
        "dlt.common.configuration.specs.connection_string_credentials.ConnectionStringCredentials.to_url":
            "8d303373f6a6eadce214ecfbd906ade819cedb53eafe0342bb84bd89145051f0",
        "dlt.common.libs.sql_alchemy_compat": "20793b9c5458c37ce4164cfcaea2d895e39c4758a0b1de3622e1705c1497e2da",
    },
}


def source_hash(dotted: str) -> str:
    """sha256 of the source of the installed dlt object named `dotted` (module path, then attributes),
    as dlt ships it: an object a patch replaced in this process is read from the original it kept."""
    import importlib

    if dotted in _originals:
        return hashlib.sha256(inspect.getsource(_originals[dotted]).encode()).hexdigest()

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr)
        return hashlib.sha256(inspect.getsource(target).encode()).hexdigest()
    raise ModuleNotFoundError(dotted)


def _postgres_csv_keeps_empty_strings() -> None:
    import dlt.destinations.impl.postgres.postgres as postgres_jobs

    if "is_nullable_column" not in postgres_jobs.PostgresCsvCopyJob.run.__code__.co_names:
        raise RuntimeError("dlt's Postgres csv job no longer asks is_nullable_column which columns get "
                           "FORCE_NULL: warehouse/dlt_patches.py must be revised for this dlt release")
    nullable: Callable[[Any], bool] = postgres_jobs.is_nullable_column

    def force_null(column: Any) -> bool:
        return bool(nullable(column)) and column.get("data_type") != "text"

    postgres_jobs.is_nullable_column = force_null


def _credentials_display_without_sqlalchemy() -> None:
    from dlt.common.configuration.specs.connection_string_credentials import ConnectionStringCredentials
    from dlt.common.libs.sql_alchemy_shims import URL

    base_to_url = ConnectionStringCredentials.to_url
    dlt_display = ConnectionStringCredentials.__str__

    def display(self: ConnectionStringCredentials) -> str:
        if type(self).to_url is not base_to_url:  # a class that builds its URL otherwise: dlt's own way
            return dlt_display(self)
        try:
            url = URL.create(self.drivername, self.username, self.password, self.host, self.port, self.database)
            return url.render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - as dlt's __str__: no location rather than an error
            return ""

    _originals[f"{ConnectionStringCredentials.__module__}.ConnectionStringCredentials.__str__"] = dlt_display
    ConnectionStringCredentials.__str__ = display  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {
    "postgres_csv_keeps_empty_strings": _postgres_csv_keeps_empty_strings,
    "credentials_display_without_sqlalchemy": _credentials_display_without_sqlalchemy,
}


def apply(name: str) -> None:
    """Apply the patch `name` (once per process; later calls do nothing)."""
    with _lock:
        if name in _applied:
            return
        PATCHES[name]()
        _applied.add(name)
