"""Mini-game plays (7.16) and a member's game and streak stats (7.17).

Every `minigame` log is a rewarded play (same member, time, xp and coins): a `win` when it paid coins, a
`lose` (consolation xp) otherwise. Some plays earn nothing: those are `lose` rows with xp and coins 0 and,
having no reward, no gamification log.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator.timefmt import DAY_MS, iso
from simulator.world import World

WIN, LOSE = range(2)
UNREWARDED_PER_PLAY = 0.6  # empty-handed plays per rewarded one, within ten minutes after it


def from_logs(w: World, rng: np.random.Generator, a: int, b: int, horizon: int) -> int:
    """Plays for the minigame logs at rows [a, b), none later than `horizon`; returns how many."""
    L = w.logs
    sel = a + np.flatnonzero(L["action"][a:b] == C.A_MINIGAME)
    users, ts, xp, coins = L["user"][sel], L["ts"][sel], L["xp"][sel], L["coins"][sel]
    k = len(sel)
    game = rng.choice(len(C.MINIGAMES), k, p=C.MINIGAME_P).astype(np.int8)
    outcome = np.where(coins > 0, WIN, LOSE).astype(np.int8)
    extra = rng.poisson(UNREWARDED_PER_PLAY, k)
    z = int(extra.sum())
    zts = np.minimum(np.repeat(ts, extra) + rng.integers(1_000, 600_000, z), horizon)
    cols = {"user": np.r_[users, np.repeat(users, extra)], "ts": np.r_[ts, zts],
            "game": np.r_[game, np.repeat(game, extra)], "outcome": np.r_[outcome, np.full(z, LOSE, np.int8)],
            "xp": np.r_[xp, np.zeros(z, np.int64)], "coins": np.r_[coins, np.zeros(z, np.int64)]}
    srt = np.argsort(cols["ts"], kind="stable")
    w.minigames.append({name: col[srt] for name, col in cols.items()})
    w.version += 1
    return k + z


def _streaks(w: World, i: int) -> list[dict[str, Any]]:
    u = w.users
    best = int(u["streak_best"][i])
    return [{"streakId": C.STREAKS[0]["_id"], "current": w.login_streak(i), "best": best,
             "lastActiveAt": iso(u["streak_at"][i]) if best else None}]


def _games(plays: list[int], wins: list[int], last: list[int], today: list[int]) -> list[dict[str, Any]]:
    return [{"game": g, "plays": plays[j], "wins": wins[j], "lastPlayedAt": iso(last[j]) if plays[j] else None,
             "spinsLeft": max(0, int(C.MINIGAME_DAILY_PLAYS[j]) - today[j])} for j, g in enumerate(C.MINIGAMES)]


def stats(w: World, i: int) -> dict[str, Any]:
    """7.17 data for user i: every game (played or not) and the daily-visit streak."""
    G = w.minigames
    rows = w.minigames_by_user.positions(i, w.n_users)
    game, ts, won = G["game"][rows], G["ts"][rows], G["outcome"][rows] == WIN
    today = ts // DAY_MS == w.clock_day
    ng = len(C.MINIGAMES)
    plays = np.bincount(game, minlength=ng).tolist()
    wins = np.bincount(game[won], minlength=ng).tolist()
    now = np.bincount(game[today], minlength=ng).tolist()
    last = [int(ts[game == g].max()) if plays[g] else 0 for g in range(ng)]
    return {"user_id": w.user_id(i), "email": w.email(i), "games": _games(plays, wins, last, now),
            "streaks": _streaks(w, i)}


def all_stats(w: World, chunk: int = 20_000) -> Any:
    """7.17 data for every live member (the ground truth), a block at a time."""
    G = w.minigames
    ng = len(C.MINIGAMES)
    key = G["user"].astype(np.int64) * ng + G["game"]
    size = w.n_users * ng
    plays = np.bincount(key, minlength=size)
    wins = np.bincount(key[G["outcome"] == WIN], minlength=size)
    now = np.bincount(key[G["ts"] // DAY_MS == w.clock_day], minlength=size)
    last = np.zeros(size, np.int64)
    np.maximum.at(last, key, G["ts"])
    live = np.flatnonzero(~w.users["deleted"])
    for a in range(0, len(live), chunk):
        for i in live[a: a + chunk].tolist():
            s = slice(i * ng, i * ng + ng)
            yield {"user_id": w.user_id(i), "email": w.email(i),
                   "games": _games(plays[s].tolist(), wins[s].tolist(), last[s].tolist(), now[s].tolist()),
                   "streaks": _streaks(w, i)}
