"""The destination axis end to end on a tiny community: a full sync into DuckDB and one into Postgres
in one invocation, every figure recorded, both warehouses hold the same rows, and the COPY floor ran
on the same tables.

No timing assertions; the Postgres server is the session's (`pg_cluster`, tests/conftest.py)."""

from __future__ import annotations

import json
import re

from bench import destinations

USERS = 300
FIGURES = ("wall_s", "requests", "rows_loaded", "peak_rss_mb", "load_s", "steps_s", "loadavg_before",
           "destination_counts", "job_formats")


def databases(url: str) -> set[str]:
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute("select datname from pg_database")
            return {r[0] for r in cur.fetchall()}
    finally:
        con.close()


def test_destination_axis_records_both_warehouses_and_the_copy_floor(tmp_path, pg_cluster):
    before = databases(pg_cluster.url)
    rc = destinations.main(["--users", str(USERS), "--destinations", "duckdb,postgres:csv", "--runs", "full",
                            "--repeat", "1", "--resources", "users", "--out", str(tmp_path), "--label", "smoke",
                            "--pg-url", pg_cluster.url, "--workdir", str(tmp_path), "--truth"])
    summary = json.loads((tmp_path / "smoke.json").read_text())
    runs = summary["runs"]
    failures = [(r["destination"], r["run"], r["stderr_tail"]) for r in runs if r["exit_code"] != 0]
    assert rc == 0 and not failures, failures
    assert sorted((r["destination"], r["run"]) for r in runs) == sorted(
        (d, "full") for d in ("duckdb", "postgres:csv"))

    for r in runs:
        for f in FIGURES:
            assert r[f] is not None, (r["destination"], r["run"], f)
        assert r["destination_counts"]["users"] == r["truth_counts"]["users"], (r["destination"], r["run"])
        assert r["requests"] == sum(r["by_endpoint"].values())
    pg_full = next(r for r in runs if r["destination"] == "postgres:csv" and r["run"] == "full")
    assert pg_full["job_formats"]["users"][0] == "csv"  # the forced format reached dlt
    assert pg_full["copy_s"] > 0 and pg_full["copy_rows_by_table"]["users"] == pg_full["truth_counts"]["users"]
    assert pg_full["load_over_copy"] > 0
    duck_full = next(r for r in runs if r["destination"] == "duckdb" and r["run"] == "full")
    assert duck_full["raw_ingest_s"] > 0
    assert all(a["equal"] for a in summary["counts_agree"]), summary["counts_agree"]

    md = (tmp_path / "smoke.md").read_text()
    assert len(re.findall(r"^\| 300 \| full \| (duckdb|postgres:csv) \|", md, flags=re.M)) == 2
    assert databases(pg_cluster.url) <= before  # the harness dropped the databases it made
