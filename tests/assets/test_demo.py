"""`returning-sync demo` end to end on a small community: exit 0 and a summary a newcomer can follow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# about 70 s on 2 quiet cores; the margin is for a machine busy with the rest of the suite
@pytest.mark.timeout(600)
def test_demo_runs_everything_and_prints_the_summary(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "RETURNING_WAREHOUSE": str(tmp_path / "warehouse" / "returning.duckdb")}
    done = subprocess.run([sys.executable, "-m", "returning_sync.cli", "demo", "--users", "150", "--seed", "11"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=540)
    out = done.stdout
    assert done.returncode == 0, (out + done.stderr)[-4000:]
    assert "simulator: 150 users, seed 11" in out
    assert "succeeded" in out and "API requests" in out
    assert ", 0 failed" in out  # asset checks
    assert 'returning-sync sql "select' in out and "returning-sync ui" in out
    from reverse_etl.ledger import TABLES

    # rows per table of every schema the README names, the seeds and the push ledger included
    assert f"reverse_etl ({len(TABLES)} tables)" in out and "seeds (3 tables)" in out
    counted = {line.split()[1]: line.split()[3] for line in out.splitlines()
               if line.startswith("│") and len(line.split()) == 5}
    assert {name: counted.get(name) for name in ("pushes", "push_rows", "fulfilment", "voucher_codes")} == {
        "pushes": "0", "push_rows": "0", "fulfilment": "3", "voucher_codes": "3"}  # dry runs record nothing
    assert "reverse ETL dry run orders_shipped: 3 rows" in out
    con = duckdb.connect(str(tmp_path / "warehouse" / "returning.duckdb"), read_only=True)
    try:
        models = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics'").fetchall()}
        users = con.execute("select count(*) from analytics.dim_users").fetchone()[0]
    finally:
        con.close()
    assert {"dim_users", "community_daily_kpis", "cohort_retention", "fct_redemptions"} <= models
    assert 140 <= users <= 150  # a few of the community left before the clock
    # the run is on the instance the UI reads
    assert any((tmp_path / "dagster_home").rglob("*.db"))
