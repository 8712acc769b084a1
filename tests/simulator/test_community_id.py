"""Several communities: simulator processes started with other seeds and `--community-id` serve other
communities under their own ids (paths, records, truth); `POST /__sim/reset {"community_id"}` switches
one, and a reset without it goes back to the start-up id."""

from __future__ import annotations

import httpx

from simulator.cli import main
from tests.conftest import simulator_process
from tests.simadmin import COMMUNITY_ID, FULL_KEY

OTHER_ID = "65aa00000000000000000b0b"
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}


def _field_communities(url: str, community_id: str) -> tuple[int, set[str]]:
    r = httpx.get(f"{url}/apis/v1/communities/{community_id}/user-fields", headers=AUTH, timeout=30)
    if r.status_code != 200:
        return r.status_code, set()
    rows = r.json()
    rows = rows.get("data", rows) if isinstance(rows, dict) else rows
    return 200, {row["communityId"] for row in rows}


def _truth_rows(url: str, dataset: str) -> list[dict]:
    import json

    r = httpx.get(f"{url}/__sim/truth/{dataset}", timeout=60)
    r.raise_for_status()
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_two_processes_serve_two_communities_under_their_own_ids() -> None:
    with simulator_process(40, 3) as first, simulator_process(50, 11, "--community-id", OTHER_ID) as second:
        assert _field_communities(first.url, COMMUNITY_ID) == (200, {COMMUNITY_ID})
        assert _field_communities(second.url, OTHER_ID) == (200, {OTHER_ID})
        # each answers only for its own community
        assert _field_communities(first.url, OTHER_ID)[0] == 404
        assert _field_communities(second.url, COMMUNITY_ID)[0] == 404
        # the fixed records carry the served id, and the data differ (seed and size)
        assert {p["communityID"] for p in _truth_rows(second.url, "store_products")} == {OTHER_ID}
        assert {p["communityID"] for p in _truth_rows(first.url, "store_products")} == {COMMUNITY_ID}
        one, two = httpx.get(f"{first.url}/__sim/truth").json(), httpx.get(f"{second.url}/__sim/truth").json()
        assert (one["users"]["count"], two["users"]["count"]) == (40, 50)


def test_reset_switches_the_community_and_a_plain_reset_restores_the_start_up_id() -> None:
    with simulator_process(30, 5) as sim:
        out = httpx.post(f"{sim.url}/__sim/reset", json={"seed": 5, "users": 30, "community_id": OTHER_ID},
                         timeout=60).json()
        assert out["community_id"] == OTHER_ID
        assert _field_communities(sim.url, OTHER_ID) == (200, {OTHER_ID})
        assert _field_communities(sim.url, COMMUNITY_ID)[0] == 404
        bad = httpx.post(f"{sim.url}/__sim/reset", json={"community_id": "not-an-id"}, timeout=60)
        assert bad.status_code == 400 and "24 lowercase hex" in bad.text
        assert _field_communities(sim.url, OTHER_ID)[0] == 200  # a refused reset changes nothing
        out = httpx.post(f"{sim.url}/__sim/reset", json={"seed": 5, "users": 30}, timeout=60).json()
        assert out["community_id"] == COMMUNITY_ID
        assert _field_communities(sim.url, COMMUNITY_ID) == (200, {COMMUNITY_ID})


def test_a_bad_community_id_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--community-id", "6502C9E514A3E564C5C09C0A"]) == 2
    assert main(["--community-id", "abc"]) == 2
    assert "--community-id 'abc': 24 lowercase hex characters" in capsys.readouterr().err
