"""Retries: the one layer wrapped around sending a read.

`with_retries(send)` calls `send()` until it returns; `send` raises `Retryable` for the failures
worth another try (429, 5xx, timeouts, connection errors, truncated or unparsable bodies). Waits
grow exponentially with full jitter; a 429's Retry-After is honoured by the shared rate limiter,
which holds every thread, so the retry itself does not add to it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pipelines.errors import RetriesExhausted

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class Retryable(Exception):
    """A failure worth another attempt; `wait` (seconds) overrides the backoff when given."""

    def __init__(self, problem: str, *, wait: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.wait = wait


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base: float = 0.25
    cap: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Wait before attempt `attempt + 1`: half fixed, half jittered, doubling each time."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


@dataclass
class RetryStats:
    retries: int = 0
    problems: dict[str, int] = field(default_factory=dict)

    def note(self, problem: str) -> None:
        self.retries += 1
        key = problem.split(":")[0]
        self.problems[key] = self.problems.get(key, 0) + 1


def with_retries(
    send: Callable[[], T], *, endpoint: str, policy: RetryPolicy, stats: RetryStats | None = None
) -> T:
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return send()
        except Retryable as exc:
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(endpoint, attempt, exc.problem) from None
            if stats is not None:
                stats.note(exc.problem)
            policy.sleep(exc.wait if exc.wait is not None else policy.backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
