"""The rate limiter with a fake clock, and pagination as a property over sizes and caps."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.errors import ContractError
from pipelines.pagination import read_page
from pipelines.ratelimit import RateLimiter
from pipelines.registry import DEFAULT_REGISTRY
from tests.pipelines.fakeapi import KEY, REGISTRY_OVERRIDES, FakeApi


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def limiter(rate: float | None = None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, clock=clock, wall=clock, sleep=clock.sleep), clock


def test_configured_rate_spaces_requests_evenly() -> None:
    lim, clock = limiter(10)
    for _ in range(5):
        lim.acquire()
    assert clock.slept == [0.1, 0.1, 0.1, 0.1]


def test_advertised_limit_sets_the_pace_with_a_margin() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "19", "x-ratelimit-reset": "1001"})
    assert lim.rate == pytest.approx(19)  # 95% of the advertised limit
    lim, _ = limiter(5)
    lim.observe(200, {"x-ratelimit-limit": "20"})
    assert lim.rate == 5  # a lower configured rate wins


def test_spent_window_waits_for_the_reset() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1002"})
    lim.acquire()
    assert sum(clock.slept) == pytest.approx(2.0, abs=0.02)


def test_429_holds_every_sender_for_retry_after() -> None:
    lim, clock = limiter()
    lim.observe(429, {"retry-after": "3"})
    lim.acquire()
    assert clock.slept == [3.0]
    lim.acquire()
    assert clock.slept == [3.0]  # the pause is over


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), cap=st.integers(1, 12), asked=st.integers(1, 40),
       endpoint=st.sampled_from(["users_filter", "activity_logs", "leaderboards", "products", "streaks"]),
       concurrency=st.sampled_from([1, 3]))
def test_every_record_exactly_once_in_order(n: int, cap: int, asked: int, endpoint: str, concurrency: int) -> None:
    api = FakeApi(n=n, cap=cap)
    overrides = {k: {**v, "page_size": asked} for k, v in REGISTRY_OVERRIDES.items() if "page_size" in v}
    s = Settings.from_env({}, api_key=KEY, integration_url="http://f", partner_url="http://f",
                          application_url="http://f", registry_overrides={**REGISTRY_OVERRIDES, **overrides},
                          concurrency=concurrency)
    with ReturningClient(s, transport=httpx.MockTransport(api)) as client:
        got = [r["n"] for page in client.paginate(endpoint) for r in page]
    assert got == list(range(n))


def test_pagination_blocks_are_checked() -> None:
    ep = DEFAULT_REGISTRY["activity_logs"]
    with pytest.raises(ContractError, match="data.pagination.total_pages"):
        read_page(ep, {"data": {"results": [{"a": 1}], "pagination": {"page": 1}}}, 1)
    streaks = DEFAULT_REGISTRY["streaks"]
    with pytest.raises(ContractError, match="hasNextPage"):
        read_page(streaks, {"data": [{"a": 1}]}, 1)
    page = read_page(DEFAULT_REGISTRY["users_filter"], {"data": {"users": [{"_id": "x"}], "next_cursor": None}}, 1)
    assert page.done and page.records == [{"_id": "x"}]


def test_requests_in_flight_count_against_what_the_window_has_left() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": "1001"})
    for _ in range(3):
        lim.acquire()  # three requests sent, none answered
    # the first one's answer says 2 remain, but the 2 sent after it may not be counted yet: wait for the reset
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1001"},
                ticket=1)
    before = sum(clock.slept)
    lim.acquire()
    assert sum(clock.slept) - before == pytest.approx(1.0, abs=0.05)


def test_room_for_the_requests_in_flight_keeps_the_pace() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": "1001"})
    lim.acquire()
    lim.acquire()
    lim.release()  # one never answered (connection failed): it no longer counts as in flight
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1001"})
    before = sum(clock.slept)
    lim.acquire()
    assert sum(clock.slept) - before < 0.05  # only the pacing gap of 1 / 95 s


def test_a_send_that_raises_gives_its_slot_back() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": "1001"})
    with pytest.raises(ConnectionError), lim.sending():
        raise ConnectionError("reset")
    with lim.sending():
        pass  # answered: observe below accounts for it
    # one request in flight at most, so a window with 1 left keeps the pace
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1001"})
    before = sum(clock.slept)
    lim.acquire()
    assert sum(clock.slept) - before < 0.05


def test_a_reported_window_is_spent_whole_then_the_reset_awaited() -> None:
    """20 a second, as the server counts them: 20 sends at once, then the wait for the reset, then
    the next 20 — the whole limit, no steady-pace margin."""
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "20", "x-ratelimit-reset": "1001"})
    for _ in range(20):
        lim.acquire()
        lim.release()
    assert clock.slept == []
    lim.acquire()  # the 21st waits for the reset
    assert sum(clock.slept) == pytest.approx(1.0, abs=0.01)
    for _ in range(19):
        lim.acquire()
        lim.release()
    assert sum(clock.slept) == pytest.approx(1.0, abs=0.01)  # the new window holds 20 again


def test_requests_sent_before_the_answered_one_count_as_counted() -> None:
    lim, clock = limiter()
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": "1001"})
    for _ in range(3):
        lim.acquire()
    # the last one sent is answered with 2 left: the two before it arrived first and are in that count
    lim.observe(200, {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1001"},
                ticket=3)
    lim.acquire()
    lim.acquire()
    assert clock.slept == []
    lim.acquire()  # the window is spent now
    assert sum(clock.slept) == pytest.approx(1.0, abs=0.01)


def test_after_a_429_later_windows_are_entered_a_little_later() -> None:
    lim, clock = limiter()
    lim.observe(429, {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1001",
                      "retry-after": "1"})
    lim.acquire()
    assert sum(clock.slept) == pytest.approx(1.05, abs=0.01)
