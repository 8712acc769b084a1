"""Client-side rate limiter shared by every thread of one client.

It spaces requests at a steady rate (the configured one, or 95% of the server's advertised
`X-RateLimit-Limit` per second once seen), stops sending until `X-RateLimit-Reset` when the window
the server reports has no room left for the requests already in flight (`X-RateLimit-Remaining`
at or below them), and after a 429 holds every thread until `Retry-After` has passed, so a
well-configured run never meets a second 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

# fraction of the advertised limit we allow ourselves. Against a fixed one-second window, evenly
# spaced requests at 95% only meet a 429 when one request is held back some 50 ms longer than the
# request twenty slots after it; X-RateLimit-Remaining: 0 pauses us until the reset before that.
SAFETY = 0.95
MAX_PAUSE = 120.0  # never trust a header asking for more than this


class RateLimiter:
    def __init__(
        self,
        rate: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._configured = rate
        self._rate = rate  # requests per second, None = unlimited
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0  # monotonic time of the next free sending slot
        self._paused_until = 0.0
        self._in_flight = 0  # requests sent and not answered yet

    @property
    def rate(self) -> float | None:
        return self._rate

    def acquire(self) -> float:
        """Block until this thread may send; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                start = max(now, self._paused_until)
                if self._rate:
                    start = max(start, self._next_slot)
                    self._next_slot = start + 1.0 / self._rate
                delay = start - now
                if delay <= 0:
                    self._in_flight += 1
                    return waited
            self._sleep(delay)
            waited += delay
            # a 429 seen meanwhile may have pushed the pause beyond the slot we slept to
            with self._lock:
                if self._paused_until <= start:
                    self._in_flight += 1
                    return waited

    def release(self) -> None:
        """A request acquired but never answered (the connection failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Acquire a slot for one request; if sending it raises before an answer, release the slot
        (an answer is passed to `observe`, which does)."""
        self.acquire()
        try:
            yield
        except BaseException:
            self.release()
            raise

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from a response's X-RateLimit-* / Retry-After headers (the answer to an acquire)."""
        limit = _number(headers.get("x-ratelimit-limit"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._clock()
            if limit and limit > 0:
                advertised = limit * SAFETY
                self._rate = min(advertised, self._configured) if self._configured else advertised
            # the requests still in flight may all land in this window: no room left for more
            if remaining is not None and remaining <= self._in_flight and reset is not None:
                wait = reset - self._wall()
                wait = min(max(wait, 1.0 / (self._rate or 10.0)), MAX_PAUSE)
                self._paused_until = max(self._paused_until, now + wait)
            if status == 429:
                self.pause_locked(now, retry_after(headers))

    def pause_locked(self, now: float, seconds: float | None) -> None:
        self._paused_until = max(self._paused_until, now + min(seconds if seconds is not None else 1.0, MAX_PAUSE))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates count as 1 s)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = _number(raw)
    return max(value, 0.0) if value is not None else 1.0


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
