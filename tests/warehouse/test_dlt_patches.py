"""The patches of dlt's internals (warehouse/dlt_patches.py): each still fits the installed dlt, and
each does exactly what it says, and only once applied."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from warehouse import dlt_patches


@pytest.mark.parametrize(("patch", "dotted"), [(p, d) for p, sources in dlt_patches.DLT_SOURCES.items()
                                               for d in sources])
def test_the_dlt_code_each_patch_relies_on_is_unchanged(patch: str, dotted: str) -> None:
    """Fails on a dlt release that changed the code a patch was written against: revise the patch
    (or drop it for a supported way), then record the new fingerprint."""
    assert dlt_patches.source_hash(dotted) == dlt_patches.DLT_SOURCES[patch][dotted], (
        f"dlt changed {dotted}: revise the patch {patch!r} in warehouse/dlt_patches.py")


def test_the_fingerprints_are_of_dlts_code_once_the_patches_are_applied() -> None:
    """A worker that ran a sync before has the patches applied: the fingerprints still read the code
    dlt ships, never the patch that replaced it."""
    for name in dlt_patches.PATCHES:
        dlt_patches.apply(name)
    for sources in dlt_patches.DLT_SOURCES.values():
        for dotted, fingerprint in sources.items():
            assert dlt_patches.source_hash(dotted) == fingerprint, dotted


def test_every_patch_has_its_fingerprints() -> None:
    assert set(dlt_patches.PATCHES) == set(dlt_patches.DLT_SOURCES)
    assert all(dlt_patches.DLT_SOURCES.values())


def test_importing_the_project_patches_nothing() -> None:
    """Only a sync applies the patches (`dlt_patches.apply`, when it builds its pipeline): importing the
    sync, the patches module and dlt's Postgres destination leaves dlt as it ships."""
    code = ("import pipelines.sync, warehouse.dlt_patches, dlt.destinations.impl.postgres.postgres as pg, "
            "dlt.common.schema.utils as u; print(pg.is_nullable_column is u.is_nullable_column)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout == "True\n"


def test_the_postgres_csv_patch_drops_force_null_for_text_columns_only() -> None:
    import dlt.destinations.impl.postgres.postgres as postgres_jobs
    from dlt.common.schema import utils

    dlt_patches.apply("postgres_csv_keeps_empty_strings")
    patched = postgres_jobs.is_nullable_column
    dlt_patches.apply("postgres_csv_keeps_empty_strings")  # once per process: not wrapped twice
    assert postgres_jobs.is_nullable_column is patched
    columns = [{"name": "t", "data_type": "text"}, {"name": "t2", "data_type": "text", "nullable": True},
               {"name": "n", "data_type": "bigint"}, {"name": "d", "data_type": "timestamp", "nullable": True},
               {"name": "k", "data_type": "bigint", "nullable": False}, {"name": "u"}]
    assert [patched(c) for c in columns] == [False, False, True, True, False, True]
    # dlt's own function, used everywhere else, is untouched
    assert [utils.is_nullable_column(c) for c in columns] == [True, True, True, True, False, True]
    assert "is_nullable_column" in inspect.getsource(postgres_jobs.PostgresCsvCopyJob.run)


DISPLAY = """
import sys
import duckdb
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.postgres.configuration import PostgresCredentials
from warehouse import dlt_patches

pg = PostgresCredentials()
pg.drivername, pg.username, pg.password = "postgresql", "loader", "s3cret"
pg.host, pg.port, pg.database, pg.query = "db.example", 5432, "dwh", {"sslmode": "require"}
creds = [DuckDbCredentials(duckdb.connect(sys.argv[1])), pg]
dlt_patches.apply("credentials_display_without_sqlalchemy")
shown = [str(c) for c in creds]
print(repr(shown), "sqlalchemy" in sys.modules)
print(repr([c.to_url()._replace(query=None).render_as_string(hide_password=True) for c in creds]))
"""


def test_the_credentials_display_is_dlts_own_without_importing_sqlalchemy(tmp_path) -> None:
    """What dlt's LoadInfo shows of the destination, character for character (query left out,
    password hidden), with SQLAlchemy installed but not imported."""
    done = subprocess.run([sys.executable, "-c", DISPLAY, str(tmp_path / "w.duckdb")], capture_output=True,
                          text=True, timeout=120, check=True)
    shown, dlts = done.stdout.splitlines()
    assert shown == f"{dlts} False"
    assert dlts == repr([f"duckdb:///{tmp_path / 'w.duckdb'}", "postgresql://loader:***@db.example:5432/dwh"])
