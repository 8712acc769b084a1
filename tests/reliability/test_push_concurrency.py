"""Two pushes of one definition started at once: the delta reaches the community once.

(Process kills before the upload, after it and after the job is recorded, lost answers and
5xx on upload are proved by tests/reverse_etl/test_push_simulator.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.simadmin import SimAdmin

BULK_USERS = "POST /apis/v1/users/bulk-update"


def coins(sim: SimAdmin) -> dict[str, int]:
    return {u["email"]: u["coins"] for u in sim.truth_rows("users")}


def test_two_pushes_at_once_apply_the_delta_once(sim: SimAdmin, push_settings: Any, api_env: dict[str, str]) -> None:
    before = coins(sim)
    env = {**os.environ, **api_env}
    procs = [subprocess.Popen([sys.executable, "-m", "returning_sync.cli", "push", "weekly_tier_bonus"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    after = coins(sim)
    deltas = {e: after[e] - before[e] for e in after if after[e] != before.get(e)}
    assert deltas and set(deltas.values()) == {500}, (deltas, results)
    assert sim.counters()["by_endpoint"].get(BULK_USERS, 0) == 1, results
    assert sorted(r[0] for r in results)[0] == 0, results
