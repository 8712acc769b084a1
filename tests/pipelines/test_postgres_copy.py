"""Arrow-born tables load into Postgres through COPY (dlt's csv format) and keep the empty string
apart from NULL; tables handed over as dicts keep insert_values (exact row counts)."""

from __future__ import annotations

from pathlib import Path

import dlt
import psycopg2
import pyarrow as pa
import pytest

from pipelines.config import Settings
from pipelines.sync import make_pipeline, run_sync
from pipelines.tables import ARROW_TABLES
from tests.simadmin import SimAdmin
from warehouse import dlt_patches


def test_copy_keeps_empty_strings_apart_from_null(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    dlt_patches.apply("postgres_csv_keeps_empty_strings")
    pipeline = dlt.pipeline("copy_test", destination="postgres", dataset_name="copy_test",
                            pipelines_dir=str(tmp_path / "p"))
    table = pa.table({"id": ["a", "b", "c", "d"], "text": ["", None, 'x,"y"\nz', " "], "n": [1, None, 3, 0]})
    pipeline.run(dlt.resource([table], name="t", file_format="csv"))
    con = psycopg2.connect(pg_url)
    with con.cursor() as cur:
        cur.execute("SELECT id, text, text IS NULL, n FROM copy_test.t ORDER BY id")
        assert cur.fetchall() == [("a", "", False, 1), ("b", None, True, None), ("c", 'x,"y"\nz', False, 3),
                                  ("d", " ", False, 0)]
    con.close()


def test_a_postgres_sync_copies_the_arrow_tables_and_inserts_the_rest(sim: SimAdmin, api_env: dict[str, str],
                                                                      pg_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_url)
    settings = Settings.from_env()
    result = run_sync(settings, ["users", "gamification_logs", "channels", "store_products"])
    info = make_pipeline(settings).last_trace.last_load_info
    formats = {j.job_file_info.table_name: j.job_file_info.file_format
               for package in info.load_packages for j in package.jobs["completed_jobs"]
               if j.job_file_info.file_format != "sql"}
    assert formats["users"] == formats["gamification_logs"] == "csv"
    assert formats["channels"] == formats["store_products"] == "insert_values"
    assert {"users", "gamification_logs"} <= set(ARROW_TABLES)
    truth = sim.truth()
    for table in ("users", "gamification_logs", "channels", "store_products"):
        assert result.tables[table] == truth[table]["count"], table  # exact counts on both paths
