"""Injected faults: transport failures (status codes, reset, truncate, slow) and data faults on pages."""

from __future__ import annotations

import copy
import random
from typing import Any

from simulator.knobs import Knobs

DATA = {"drop_field", "extra_field", "type_change", "duplicate"}
REQUIRED_FIELDS = ("_id", "jobId", "transactionId", "row", "date")


class Faults:
    def __init__(self, seed: int) -> None:
        self.last_record: dict[tuple[str, str], dict[str, Any]] = {}
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the fault sequence (on reset and whenever the faults knob is set)."""
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)

    def forget(self) -> None:
        self.last_record.clear()

    def pick(self, knobs: Knobs, method: str, template: str, path: str) -> str | None:
        """The fault to inject into this request, or None."""
        f = knobs.faults
        rate, kinds, endpoints = float(f.get("rate", 0)), f.get("kinds") or [], f.get("endpoints") or []
        if rate <= 0 or not kinds:
            return None
        if endpoints and not any(e == f"{method} {template}" or e in path for e in endpoints):
            return None
        if self.rng.random() >= rate:
            return None
        return self.rng.choice(kinds)

    def remember(self, key: str, template: str, records: list[dict[str, Any]] | None) -> None:
        if records:
            self.last_record[(key, template)] = copy.deepcopy(records[-1])

    def apply_data(self, kind: str, key: str, template: str, records: list[dict[str, Any]]) -> bool:
        """Mutate a page of records in place; False when the page has nothing to spoil."""
        if not records:
            return False
        j = self.rng.randrange(len(records))
        rec = records[j]
        if kind == "drop_field":
            for name in REQUIRED_FIELDS:
                if name in rec:
                    del rec[name]
                    return True
            del rec[next(iter(rec))]
            return True
        if kind == "extra_field":
            for r in records:
                r["_simExtra"] = "unexpected"
            return True
        if kind == "type_change":
            for r in records[j:] + records[:j]:
                for name, v in r.items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        r[name] = str(v)
                        return True
            return False
        if kind == "duplicate":
            prev = self.last_record.get((key, template))
            records.insert(0, copy.deepcopy(prev) if prev is not None else copy.deepcopy(records[0]))
            return True
        return False
