"""The benchmark harness end to end on a tiny community: the figures are there and the counts are exact.

No timing assertions: only that every figure is recorded, that request counts agree with the
simulator's counters (and, for the peer, with its own count and with the request arithmetic of its
endpoints), and that the rows loaded match the simulator's ground truth.
"""

from __future__ import annotations

import json
import math
import re

from bench import run as bench_run

USERS = 300
FIGURES = ("wall_s", "requests", "status_429", "rows_loaded", "rows_per_s", "peak_rss_mb", "load_s",
           "steps_s", "by_endpoint", "by_status", "loadavg_before")


def test_harness_records_exact_figures_for_both_contenders(tmp_path):
    rc = bench_run.main(["--users", str(USERS), "--profiles", "none", "--runs", "full,day",
                         "--repeat", "1", "--contenders", "ours,peer", "--out", str(tmp_path),
                         "--label", "smoke", "--truth", "--workdir", str(tmp_path)])
    summary = json.loads((tmp_path / "smoke.json").read_text())
    runs = summary["runs"]
    failures = [(r["contender"], r["run"], r["stderr_tail"]) for r in runs if r["exit_code"] != 0]
    assert rc == 0 and not failures, failures

    assert sorted((r["contender"], r["run"]) for r in runs) == sorted(
        (c, k) for c in ("ours", "peer") for k in ("full", "day"))
    assert len(list((tmp_path / "runs").glob("smoke-*/*.json"))) == 4
    md = (tmp_path / "smoke.md").read_text()
    table_rows = re.findall(r"^\| 300 \| none \| (full|day) \| (ours|peer) \| [\d.]+ \| \d+ \|", md, flags=re.M)
    assert len(table_rows) == 4

    for r in runs:
        for f in FIGURES:
            assert r[f] is not None, (r["contender"], r["run"], f)
        # the simulator's counters agree with themselves, and nothing was rate limited
        assert r["requests"] == sum(r["by_endpoint"].values()) == sum(r["by_status"].values())
        assert r["status_429"] == 0 and r["wall_s"] > 0 and r["peak_rss_mb"] > 0
        truth = r["truth_counts"]
        # every sync re-reads the whole users list (the API has no updated-since filter); after a day
        # ours also writes a tombstone row for each user deleted since its last pass
        if r["run"] == "day" and r["contender"] == "ours":
            assert r["row_counts"]["users"] >= truth["users"]
        else:
            assert r["row_counts"]["users"] == truth["users"], (r["contender"], r["run"])
        if r["run"] == "full":
            assert r["row_counts"]["store_products"] == truth["store_products"]
            assert r["row_counts"]["store_categories"] == truth["store_categories"]
            assert r["row_counts"]["gamification_daily"] == truth["users"]  # one day: one row per live user
            assert r["rows_loaded"] == sum(r["row_counts"][t] for t in (
                "users", "store_products", "store_categories", "gamification_daily"))

    for r in (r for r in runs if r["contender"] == "peer"):
        truth = r["truth_counts"]
        # the peer's own count of HTTP requests equals the simulator's
        assert r["client_requests"] == r["requests"]
        pages = [min(USERS_PAGE, truth["users"] - i) for i in range(0, truth["users"], USERS_PAGE)]
        days = 1 if r["run"] == "full" else 2  # the day after: yesterday (was partial) and today
        expected = (1  # custom user fields
                    + len(pages)
                    + max(1, math.ceil(truth["store_products"] / 100))
                    + max(1, math.ceil(truth["store_categories"] / 100))
                    + days * sum(math.ceil(n / 100) for n in pages))
        assert r["requests"] == expected, (r["run"], r["by_endpoint"])

    ours_full = next(r for r in runs if r["contender"] == "ours" and r["run"] == "full")
    assert ours_full["raw_ingest_s"] > 0 and ours_full["raw_ingest_rows"] >= ours_full["rows_loaded"]


USERS_PAGE = bench_run.USERS_PAGE


def test_the_peer_reads_every_leaderboard(tmp_path):
    """Issue 11's 20k set adds leaderboards (page number, `limit` 100, stop on the first empty page)."""
    rc = bench_run.main(["--users", str(USERS), "--profiles", "none", "--runs", "full", "--repeat", "1",
                         "--contenders", "ours,peer", "--resources", "users,leaderboards", "--out", str(tmp_path),
                         "--label", "leaders", "--truth", "--workdir", str(tmp_path)])
    runs = json.loads((tmp_path / "leaders.json").read_text())["runs"]
    assert rc == 0 and all(r["exit_code"] == 0 for r in runs), [r["stderr_tail"] for r in runs]
    for r in runs:
        assert r["row_counts"]["leaderboards"] == r["truth_counts"]["leaderboards"] > 0, r["contender"]
