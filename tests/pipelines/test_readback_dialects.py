"""Every question a sync asks its warehouse while it runs is SQL written once and transpiled:
captured from real runs (a full sync and a day later), each must transpile to the dialect of every
supported server warehouse."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from pipelines.config import Settings
from pipelines.sync import run_sync
from tests.simadmin import SimAdmin
from warehouse import readback
from warehouse.connection import expand_in, transpile

DIALECTS = ("postgres", "snowflake", "bigquery", "redshift", "databricks")


def test_every_read_back_query_transpiles(sim: SimAdmin, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, tuple[Any, ...]]] = []
    real = readback.query

    def capture(client: Any, table: str, sql: str, params: Any = ()) -> Any:
        asked.append((sql.format(table=f"returning_raw.{table}"), tuple(params)))
        return real(client, table, sql, params)

    monkeypatch.setattr(readback, "query", capture)
    asking = ["users", "gamification_daily", "activity_stats", "redemption_orders", "redemption_status_history",
              "streak_logs"]
    run_sync(settings, asking)
    sim.advance(hours=24)
    run_sync(settings, asking)
    shapes = {sql for sql, _ in asked}
    assert len(shapes) >= 4, shapes  # deletions' neighbours: baselines, unseen users, order probes, counts
    for sql, params in asked:
        text, _ = expand_in(sql, params)
        for dialect in DIALECTS:
            out = transpile(text, dialect)
            assert "?" not in out.replace("'?'", ""), (dialect, out)
            sqlglot.parse_one(out.replace("%s", "NULL"), read=dialect)  # valid in that dialect
