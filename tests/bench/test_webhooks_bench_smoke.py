"""The webhook benchmark end to end on a few hundred deliveries: every figure recorded, every delivery
acknowledged and on disk. No timing assertions."""

from __future__ import annotations

import json

from bench import webhooks as bench_webhooks


def test_webhook_bench_records_its_figures(tmp_path):
    rc = bench_webhooks.main(["--scenarios", "closed-mix,open-2000-plain", "--deliveries", "300", "--warmup", "30",
                              "--out", str(tmp_path), "--label", "smoke", "--workdir", str(tmp_path / "work")])
    assert rc == 0
    summary = json.loads((tmp_path / "smoke.json").read_text())
    assert [r["scenario"] for r in summary["runs"]] == ["closed-mix", "open-2000-plain"]
    for r in summary["runs"]:
        assert r["statuses"] == {"200": 300} and r["acked"] == 300
        assert r["all_acked_on_disk"] and r["landed_lines"] == 330
        assert r["deliveries_per_s"] > 0 and 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
    md = (tmp_path / "smoke.md").read_text()
    assert "| closed-mix | mix | 16 | closed loop | 300 |" in md
    assert list((tmp_path / "work").iterdir()) == []  # landing folders cleaned up
