"""The offline range-choice benchmark end to end on small communities: every member read once by a
complete pass, the request count and the floor written for every shape and clock."""

from __future__ import annotations

import json

from bench import ranges_offline


def test_every_shape_and_clock_is_measured_and_written(tmp_path) -> None:
    rc = ranges_offline.main(["--users", "3000", "--latency", "0.002", "--jitter", "0", "--label", "smoke",
                              "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "smoke.json").read_text())["rows"]
    assert rc == 0 and len(rows) == 5 * 2
    for r in rows:
        assert 15 <= r["requests"] <= 15 + 12, r  # 3,000 members are 15 pages
        assert r["over_floor"] >= 1, r  # every answer was held for the latency: no pass beats its floor
    md = (tmp_path / "smoke.md").read_text()
    assert md.count("| 3,000 |") == 10 and "3,000 members: mean" in md
