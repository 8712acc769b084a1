"""Mini-game logs (7.16) and stats (7.17), and their consistency with the gamification logs."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.simadmin import SimAdmin
from tests.simulator.helpers import ok, walk_total_pages

START = "2026-06-01T00:00:00.000Z"
LOG_FIELDS = {"_id", "user_id", "email", "game", "outcome", "xp", "coins", "createdAt"}
ALLOWANCE = {"spin_wheel": 3, "scratch_card": 2, "quiz": 5}


def busiest(rows: list[dict]) -> str:
    return Counter(r["email"] for r in rows).most_common(1)[0][0]


def test_logs_page_to_the_end_in_time_order(sim: SimAdmin, api: httpx.Client) -> None:
    truth = sim.truth_rows("minigame_logs")
    email = busiest(truth)
    want = [r for r in truth if r["email"] == email]
    assert len(want) > 3 and all(set(r) == LOG_FIELDS for r in want)
    got = walk_total_pages(lambda p: api.post("/apis/v1/users/minigames/logs",
                                              json={"email": email, "page": p, "limit": 3}), 3)
    assert got == want
    assert [r["createdAt"] for r in got] == sorted(r["createdAt"] for r in got)
    big = ok(api.post("/apis/v1/users/minigames/logs", json={"email": email, "limit": 1000}))["data"]
    assert big["pagination"]["limit"] == 100 and big["results"] == want[:100]


def test_logs_window_is_half_open(sim: SimAdmin, api: httpx.Client) -> None:
    truth = sim.truth_rows("minigame_logs")
    email = busiest(truth)
    mine = [r for r in truth if r["email"] == email]
    lo, hi = mine[1]["createdAt"], mine[-1]["createdAt"]
    data = ok(api.post("/apis/v1/users/minigames/logs", json={"email": email, "from": lo, "to": hi}))["data"]
    inside = [r for r in mine if lo <= r["createdAt"] < hi]
    assert data["results"] == inside and data["pagination"]["found"] == len(inside) < len(mine) - 1
    r = api.post("/apis/v1/users/minigames/logs", json={"email": email, "from": "yesterday"})
    assert r.status_code == 400
    assert api.post("/apis/v1/users/minigames/logs", json={"email": "no@body.test"}).status_code == 404
    assert api.post("/apis/v1/users/minigames/logs", json={}).status_code == 400


def test_every_minigame_log_has_its_play(sim: SimAdmin) -> None:
    logs = [r for r in sim.truth_rows("gamification_logs") if r["action"] == "minigame"]
    plays = sim.truth_rows("minigame_logs")
    rewarded = [p for p in plays if p["xp"] or p["coins"]]
    assert Counter((r["user_id"], r["identifier"], r["xp"], r["coins"], r["createdAt"]) for r in logs) == Counter(
        (p["user_id"], p["email"], p["xp"], p["coins"], p["createdAt"]) for p in rewarded)
    assert len(logs) > 0 and len(plays) > len(rewarded)  # some plays earn nothing and log nothing
    assert all(p["outcome"] == ("win" if p["coins"] > 0 else "lose") for p in plays)
    assert {p["game"] for p in plays} == set(ALLOWANCE)


def test_stats_match_the_logs_and_the_truth(sim: SimAdmin, api: httpx.Client) -> None:
    sim.advance(12)  # some plays on the clock's day
    now = sim.clock()["now"]
    plays = sim.truth_rows("minigame_logs")
    truth = {r["email"]: r for r in sim.truth_rows("user_game_stats")}
    users = sim.truth_rows("users")
    assert set(truth) == {u["email"] for u in users}
    today = [p for p in plays if p["createdAt"][:10] == now[:10]]
    assert today
    for email in {busiest(plays), today[0]["email"], users[0]["email"]}:
        data = ok(api.post("/apis/v1/users/minigames/stats", json={"email": email}))["data"]
        assert data == truth[email]
        mine = [p for p in plays if p["email"] == email]
        for g in data["games"]:
            played = [p for p in mine if p["game"] == g["game"]]
            assert g["plays"] == len(played)
            assert g["wins"] == sum(p["outcome"] == "win" for p in played)
            assert g["lastPlayedAt"] == (max(p["createdAt"] for p in played) if played else None)
            on_day = sum(p["createdAt"][:10] == now[:10] for p in played)
            assert g["spinsLeft"] == max(0, ALLOWANCE[g["game"]] - on_day)
        info = ok(api.post("/apis/v1/users/info", json={"idOrEmail": email}))["data"]
        [streak] = data["streaks"]
        assert streak["current"] == info["loginStreak"] and streak["best"] >= streak["current"]
        assert data["user_id"] == info["_id"]
    assert api.post("/apis/v1/users/minigames/stats", json={"email": "no@body.test"}).status_code == 404


def test_deleted_members_keep_their_logs_but_lose_their_stats(sim: SimAdmin, api: httpx.Client) -> None:
    live = {u["email"] for u in sim.truth_rows("users")}
    gone = next(p["email"] for p in sim.truth_rows("minigame_logs") if p["email"] not in live)
    assert ok(api.post("/apis/v1/users/minigames/logs", json={"email": gone}))["data"]["results"]
    assert api.post("/apis/v1/users/minigames/stats", json={"email": gone}).status_code == 404


def test_advance_brings_new_games(sim: SimAdmin) -> None:
    sim.reset(users=2000)
    before = sim.truth_rows("minigame_logs")
    ch = sim.advance(24)["changes"]
    after = sim.truth_rows("minigame_logs")
    assert after[: len(before)] == before
    new = after[len(before):]
    assert len(new) == ch["minigame_logs"] > 0
    now = sim.clock()["now"]
    assert all(START < p["createdAt"] <= now for p in new)
    logs = [r for r in sim.truth_rows("gamification_logs") if r["action"] == "minigame" and r["createdAt"] > START]
    assert len(logs) == sum(1 for p in new if p["xp"] or p["coins"])
