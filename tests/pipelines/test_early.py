"""The sync's first read sent while dlt is still importing (pipelines/early.py): taken by the run,
never sent twice, counted in the summary; none at all on a server warehouse (its login comes first)."""

from __future__ import annotations

import pytest

from pipelines import early
from returning_sync.cli import main
from tests.simadmin import SimAdmin


def test_the_early_read_is_the_runs_own_and_is_sent_once(sim: SimAdmin, api_env: dict[str, str], capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    real = early.start
    monkeypatch.setattr(early, "start", lambda s, eps: (started.append(eps), real(s, eps)))
    sim.reset_counters()
    assert main(["sync", "--resources", "tiers,store_config"]) == 0
    out = capsys.readouterr().out
    assert started == [["tiers"]]
    by_endpoint = sim.counters()["by_endpoint"]
    assert by_endpoint == {"GET /apis/v1/tiers": 1, "GET /v1/stores": 1}
    assert "total: 2 requests (0 retried)" in out
    assert not early.waiting()  # nothing left behind for a later run in this process


def test_no_early_read_on_a_server_warehouse(sim: SimAdmin, api_env: dict[str, str], capsys,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_DESTINATION", "nope")  # refused before any API call
    sim.reset_counters()
    assert main(["sync", "--resources", "tiers"]) == 2
    assert sim.counters()["total"] == 0


def test_no_early_read_when_dlt_config_may_move_the_api(sim: SimAdmin, api_env: dict[str, str], capsys, tmp_path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A `.dlt/config.toml` that names the API's settings is read only once dlt is in: the early read
    (on the environment alone) must not go out first, or the key could reach a host it would change."""
    started: list[list[str]] = []
    monkeypatch.setattr(early, "start", lambda s, eps: started.append(eps))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(f'[sources.returning_ai]\nintegration_url = "{sim.base_url}"\n')
    assert main(["sync", "--resources", "tiers"]) == 0
    assert started == []
    capsys.readouterr()
