"""On DuckDB every table loads from parquet, the dict-born ones and their child tables too: dlt's
default there (insert_values) has DuckDB parse one INSERT ... VALUES statement per table, which cost a
sync of 2,000 members 130-240 MB of peak RSS (bench/README.md, issue 22). The rows stay the truth's."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.config import Settings
from pipelines.sync import make_pipeline, run_sync
from pipelines.tables import ARROW_TABLES
from tests.pipelines.truth import compare
from tests.simadmin import SimAdmin
from warehouse.connection import Connection

# dict-born tables with child tables (user_game_stats__games: the 0.5 MB statement of the bench),
# a dict-born flat one, and an Arrow-born one
DATASETS = ["users", "user_game_stats", "tiers", "channels"]


def test_a_duckdb_sync_loads_every_table_from_parquet(sim: SimAdmin, settings: Settings,
                                                      warehouse: Callable[[], Connection]) -> None:
    assert settings.destination == "duckdb"
    result = run_sync(settings, DATASETS)
    info = make_pipeline(settings).last_trace.last_load_info
    formats = {j.job_file_info.table_name: j.job_file_info.file_format
               for package in info.load_packages for j in package.jobs["completed_jobs"]
               if j.job_file_info.file_format != "sql" and not j.job_file_info.table_name.startswith("_dlt")}
    assert {"user_game_stats__games", "user_game_stats__streaks", "tiers__levels"} <= set(formats), formats
    assert set(formats.values()) == {"parquet"}, formats  # (dlt writes its own state row as it likes)
    assert "user_game_stats" not in ARROW_TABLES and "users" in ARROW_TABLES
    con = warehouse()
    truth = sim.truth()
    for dataset in DATASETS:
        assert result.tables[dataset] == truth[dataset]["count"], dataset
        # the truth's lists are rebuilt from the child tables: their rows are compared too
        ignore = ("deleted_at",) if dataset == "users" else ()  # as tests/pipelines/test_sync_sim.py
        assert compare(con, dataset, sim.truth_rows(dataset), ignore=ignore) == [], dataset
