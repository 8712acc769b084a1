"""Everything one running simulator holds: the community, keys, knobs, counters, faults, rate limits,
webhook deliveries."""

from __future__ import annotations

import gc
import time
from typing import Any

from simulator import catalog
from simulator.auth import ApiKey, default_keys
from simulator.counters import Counters
from simulator.faults import Faults
from simulator.generate import generate
from simulator.knobs import Knobs
from simulator.ratelimit import RateLimiter
from simulator.webhooks import Webhooks
from simulator.world import World


class Sim:
    def __init__(self, seed: int, users: int, knobs: Knobs | None = None,
                 community_id: str = catalog.DEFAULT_COMMUNITY_ID) -> None:
        self.startup_knobs = (knobs or Knobs()).as_dict()
        self.startup_community_id = community_id
        self.knobs = Knobs()
        self.counters = Counters()
        self.limiter = RateLimiter()
        self.faults = Faults(seed)
        self.keys: dict[str, ApiKey] = {}
        self.webhooks = Webhooks(seed)
        self.world: World
        self.reset(seed, users)

    def reset(self, seed: int, users: int, community_id: str | None = None) -> dict[str, Any]:
        """A new community from (seed, users), served as `community_id` (None: the start-up one)."""
        t0 = time.perf_counter()
        catalog.use_community(community_id or self.startup_community_id)  # before the world embeds it
        self.webhooks.stop()  # a new community: nothing more is owed to the old receiver
        self.webhooks.seed = seed
        gc.unfreeze()  # let the previous community be collected
        self.world = generate(seed, users)
        gc.collect()
        gc.freeze()  # the community's long-lived objects stay out of every later collection
        self.seed = seed
        self.keys = default_keys()
        self.knobs = Knobs()
        self.knobs.update(self.startup_knobs)
        self.counters.reset()
        self.limiter.reset()
        self.faults.reseed(seed)
        self.faults.forget()
        return {"seed": seed, "users": users, "community_id": catalog.COMMUNITY_ID, "generated_in_s": round(time.perf_counter() - t0, 3)}
