"""Client-side rate limiter shared by every thread of one client.

When the server reports its window (`X-RateLimit-Remaining` and `X-RateLimit-Reset`), the limiter
spends exactly that window: each answer sets what is left to send before the reset (`Remaining`
less the requests still in flight, which may not be counted yet), every send takes one, and when
none is left every thread waits for the reset; the new window starts with the limit less the
requests in flight (they may land in it). So a run uses the whole limit and never meets a 429 the
server's own numbers could have avoided. Without those headers it spaces requests at a steady rate
(the configured one, or 95% of `X-RateLimit-Limit`). A configured rate always caps the pace. After
a 429 every thread is held until `Retry-After` has passed, and later windows are entered a little
later (the server's clock may run behind ours).
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
WINDOW = 1.0  # the window a reset opens lasts a second (the contract's limit is per second)
SKEW_STEP, SKEW_MAX = 0.05, 0.5  # how much later a window is entered after each 429


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
        self._tickets: set[int] = set()  # their send order
        self._sent = 0
        self._local = threading.local()
        self._limit: float | None = None  # the server's advertised limit per window
        self._reset: float | None = None  # the server's reset (epoch seconds) of the window we spend
        self._window_end = 0.0  # monotonic time that window ends at
        self._left = 0  # sends left in that window
        self._skew = 0.0

    @property
    def rate(self) -> float | None:
        return self._rate

    def acquire(self) -> float:
        """Block until this thread may send; returns the seconds waited."""
        waited, slept_to = 0.0, 0.0
        while True:
            with self._lock:
                now = max(self._clock(), slept_to)  # a sleep is trusted to have lasted
                start = max(now, self._paused_until)
                if self._reset is not None and self._limit:
                    if start >= self._window_end + self._skew:  # the window has rolled: a fresh one
                        periods = int((start - self._window_end - self._skew) // WINDOW) + 1
                        self._window_end += periods * WINDOW
                        self._reset += periods * WINDOW
                        self._left = int(self._limit) - self._in_flight
                    if self._left <= 0:
                        start = self._window_end + self._skew
                if self._rate and (self._configured or self._reset is None):
                    start = max(start, self._next_slot)
                delay = start - now
                if delay <= 0:
                    if self._rate and (self._configured or self._reset is None):
                        self._next_slot = max(now, self._next_slot) + 1.0 / self._rate
                    self._left -= 1
                    self._in_flight += 1
                    self._sent += 1
                    self._tickets.add(self._sent)
                    self._local.ticket = self._sent
                    return waited
            self._sleep(delay)
            waited += delay
            slept_to = start

    def release(self) -> None:
        """A request acquired but never answered (the connection failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._tickets.discard(getattr(self._local, "ticket", -1))

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

    def observe(self, status: int, headers: Mapping[str, str], ticket: int | None = None) -> None:
        """Learn from a response's X-RateLimit-* / Retry-After headers (the answer to an acquire)."""
        limit = _number(headers.get("x-ratelimit-limit"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if ticket is None:
                ticket = getattr(self._local, "ticket", None)
            self._tickets.discard(ticket if ticket is not None else -1)
            # requests sent after this one may not be counted by the server yet; those sent before
            # it were (the server counts in order of arrival). Unknown order: all of them.
            uncounted = self._in_flight if ticket is None else sum(1 for t in self._tickets if t > ticket)
            now = self._clock()
            if limit and limit > 0:
                self._limit = limit
                advertised = limit * SAFETY
                self._rate = min(advertised, self._configured) if self._configured else advertised
            if remaining is not None and reset is not None:
                end = now + min(max(reset - self._wall(), 0.0), MAX_PAUSE)
                left = int(remaining) - uncounted
                if self._reset is None or reset > self._reset:  # a newer window
                    self._reset, self._window_end, self._left = reset, end, left
                elif reset == self._reset:
                    self._left = min(self._left, left)
                    self._window_end = end
                if not self._limit:  # a window without a stated limit: at most what it had left
                    self._limit = float(remaining + 1)
            if status == 429:
                self._left = 0
                self._skew = min(self._skew + SKEW_STEP, SKEW_MAX)
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
