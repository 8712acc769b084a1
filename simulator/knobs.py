"""Behaviour knobs set by flags and `POST /__sim/knobs` (missing keys unchanged)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from simulator.surface import SURFACES

FAULT_KINDS = ("500", "502", "503", "reset", "truncate", "slow", "drop_field", "extra_field", "type_change",
               "duplicate")


@dataclass
class Knobs:
    latency_ms: float = 0
    jitter_ms: float = 0
    rate_limit: int = 0
    slow_ms: float = 15000
    bulk_delay_ms: float = 300
    bulk_returns_job_id: bool = True
    surface: str = "full"  # what the API serves: simulator/surface.py
    faults: dict[str, Any] = field(default_factory=lambda: {"rate": 0.0, "kinds": list(FAULT_KINDS[:6]),
                                                            "endpoints": []})

    def as_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms, "rate_limit": self.rate_limit,
                "slow_ms": self.slow_ms, "bulk_delay_ms": self.bulk_delay_ms,
                "bulk_returns_job_id": self.bulk_returns_job_id, "surface": self.surface, "faults": copy.deepcopy(self.faults)}

    def update(self, body: dict[str, Any]) -> None:
        """Apply a knobs body; ValueError on a bad value (nothing is changed then)."""
        new = copy.deepcopy(self)
        for name in ("latency_ms", "jitter_ms", "slow_ms", "bulk_delay_ms"):
            if name in body:
                v = body[name]
                if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                    raise ValueError(f"{name} must be a number >= 0")
                setattr(new, name, v)
        if "rate_limit" in body:
            v = body["rate_limit"]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ValueError("rate_limit must be a number >= 0")
            new.rate_limit = int(v)
        if "bulk_returns_job_id" in body:
            if not isinstance(body["bulk_returns_job_id"], bool):
                raise ValueError("bulk_returns_job_id must be a boolean")
            new.bulk_returns_job_id = body["bulk_returns_job_id"]
        if "surface" in body:
            if body["surface"] not in SURFACES:
                raise ValueError(f"surface must be one of {list(SURFACES)}")
            new.surface = body["surface"]
        if "faults" in body:
            f = body["faults"]
            if not isinstance(f, dict):
                raise ValueError("faults must be an object")
            merged = dict(new.faults)
            if "rate" in f:
                r = f["rate"]
                if isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r <= 1:
                    raise ValueError("faults.rate must be between 0 and 1")
                merged["rate"] = float(r)
            if "kinds" in f:
                kinds = [str(k) for k in f["kinds"] or []]
                bad = [k for k in kinds if k not in FAULT_KINDS]
                if bad:
                    raise ValueError(f"unknown fault kinds {bad}; known: {list(FAULT_KINDS)}")
                merged["kinds"] = kinds
            if "endpoints" in f:
                merged["endpoints"] = [str(e) for e in f["endpoints"] or []]
            new.faults = merged
        unknown = set(body) - set(self.as_dict())
        if unknown:
            raise ValueError(f"unknown knobs {sorted(unknown)}")
        self.__dict__.update(new.__dict__)
