"""API call counters by endpoint template and by status code."""

from __future__ import annotations

from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self.total = 0
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        self.total += 1
        self.by_endpoint[endpoint] += 1
        self.by_status[str(status)] += 1

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_endpoint": dict(self.by_endpoint), "by_status": dict(self.by_status)}
