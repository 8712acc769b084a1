"""Requests per key per second: a fixed one-second window on the wall clock."""

from __future__ import annotations

import math
import time

from simulator.envelopes import ApiError


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window second, count)

    def reset(self) -> None:
        self._windows.clear()

    def check(self, key: str, limit: int, now: float | None = None) -> dict[str, str]:
        """Count one request; the headers to send, or ApiError(429) carrying them."""
        if limit <= 0:
            return {}
        now = time.time() if now is None else now
        second = math.floor(now)
        win, count = self._windows.get(key, (second, 0))
        if win != second:
            win, count = second, 0
        reset = str(second + 1)
        if count >= limit:
            self._windows[key] = (win, count)
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset,
                       "Retry-After": "1"}
            raise ApiError(429, "Too many requests", f"Rate limit of {limit} requests per second exceeded",
                           "Wait for Retry-After seconds before retrying", headers=headers)
        count += 1
        self._windows[key] = (win, count)
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit - count),
                "X-RateLimit-Reset": reset}
