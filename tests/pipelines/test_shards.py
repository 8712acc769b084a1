"""The users pass split into join_date ranges (pipelines/shards.py), over a fake of 7.1: every member
exactly once, ranges balanced on skewed join dates, completeness proved or made up, and members moving
between ranges during the pass lost by no one."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.shards import UsersPass, _cuts
from tests.pipelines.fakeapi import KEY
from tests.pipelines.fakeusers import PATH, FakeUsers, Member, spread

TODAY = date(2026, 6, 1)


def run(api: FakeUsers, bounds: list[str] | None = None, concurrency: int = 4) -> tuple[UsersPass, list[str]]:
    s = Settings.from_env({}, api_key=KEY, integration_url="http://f", partner_url="http://f",
                          application_url="http://f", concurrency=concurrency,
                          registry_overrides={"users_filter": {"path": PATH}})
    with ReturningClient(s, transport=httpx.MockTransport(api)) as client:
        shard_pass = UsersPass(client, s.endpoint("users_filter"), {"fields": ["email", "join_date"]},
                               bounds=bounds, today=TODAY)
        ids = [u["_id"] for page in shard_pass.pages() for u in page]
    return shard_pass, ids


def skewed(n: int) -> list[date | None]:
    """90% of the members joined in one month, the rest over three years before it."""
    old = spread(n // 10, TODAY - timedelta(days=3 * 365), 3 * 365 - 60)
    return old + spread(n - len(old), TODAY - timedelta(days=45), 30)


def longest(members: int, concurrency: int = 4) -> int:
    """The most members a range may hold: no chain longer than the community's pages over the workers."""
    return math.ceil(members / 200 / concurrency) * 200


@pytest.mark.parametrize("shuffled", [False, True])
def test_skewed_join_dates_read_everyone_once_in_balanced_ranges(shuffled: bool) -> None:
    """Shuffled: the server sends members out of join order, so a first page is a sample of its
    range, not its earliest members, and the cuts come from its quantiles."""
    days = skewed(8000)
    if shuffled:
        random.Random(3).shuffle(days)
    api = FakeUsers.joined_on(days)
    shard_pass, ids = run(api)
    assert sorted(ids) == sorted(m.id for m in api.members) and len(ids) == len(set(ids))
    assert shard_pass.complete and shard_pass.notes == []
    sizes = [r.totals[0] for r in shard_pass.ranges]
    assert sum(sizes) == 8000 and max(sizes) <= longest(8000)
    pages = sum(max(1, math.ceil(n / 200)) for n in sizes)
    assert pages <= 40 + len(sizes) // 2 + 2  # few part-filled last pages: few ranges
    assert api.requests <= pages + 4  # the total, first pages dropped when a range is split, nothing else


def test_the_bounds_of_the_last_pass_cost_no_extra_request() -> None:
    api = FakeUsers.joined_on(skewed(8000))
    first, _ = run(api)
    api.requests = 0
    second, ids = run(api, bounds=first.bounds)
    assert len(ids) == 8000 and second.complete
    pages = sum(max(1, math.ceil(r.totals[0] / 200)) for r in second.ranges)
    assert api.requests == pages + 1  # + the unfiltered total


def test_a_small_community_is_one_chain_on_the_next_pass() -> None:
    api = FakeUsers.joined_on(spread(300, TODAY - timedelta(days=400), 390))
    first, _ = run(api)
    assert first.bounds == []
    api.requests = 0
    second, ids = run(api, bounds=first.bounds)
    assert len(ids) == 300 and second.complete and api.requests == 2  # two pages, nothing else
    assert all("filter" not in b for b in api.bodies[-2:])


def test_members_without_a_join_date_are_read_by_one_unfiltered_chain() -> None:
    days = skewed(3000)
    for i in range(0, 3000, 97):
        days[i] = None
    api = FakeUsers.joined_on(days)
    shard_pass, ids = run(api)
    assert sorted(ids) == sorted(m.id for m in api.members) and len(ids) == len(set(ids))
    assert shard_pass.complete
    assert any("unfiltered chain" in n and "31 members" in n for n in shard_pass.notes), shard_pass.notes


def test_a_server_ignoring_the_filter_is_read_as_one_chain() -> None:
    api = FakeUsers.joined_on(skewed(3000), ignore_filter=True)
    shard_pass, ids = run(api)
    assert sorted(ids) == sorted(m.id for m in api.members) and len(ids) == len(set(ids))
    assert shard_pass.complete and shard_pass.fell_back
    assert any("not applied" in n for n in shard_pass.notes), shard_pass.notes
    assert api.requests < 15 + 3000 / 200 + 1  # a few first pages, then one chain


@pytest.mark.parametrize("at", [8, 20, 35])
def test_members_moving_between_ranges_during_the_pass_lose_no_one(at: int) -> None:
    api = FakeUsers.joined_on(skewed(6000))
    rng = random.Random(at)
    moved: list[Member] = []

    def move(fake: FakeUsers) -> None:
        # members change join date (to earlier and later ranges), others leave, others join
        for m in rng.sample(fake.live(), 60):
            m.joined = TODAY - timedelta(days=rng.randrange(0, 3 * 365))
            moved.append(m)
        for m in rng.sample([m for m in fake.live() if m not in moved], 20):
            m.alive = False
        for _ in range(20):
            fake.add(TODAY)

    api.hooks[at] = move
    present_throughout = {m.id for m in api.members[:6000] if m.alive}
    shard_pass, ids = run(api)
    present_throughout &= {m.id for m in api.members if m.alive}
    assert moved and present_throughout <= set(ids)  # movers included
    assert not [i for i, n in Counter(ids).items() if n > 1]
    assert shard_pass.complete


def test_a_member_moved_behind_every_cursor_is_found_again() -> None:
    """The last member in id order (dense month, not read yet) moves to the oldest range once that
    range is done: no chain will meet him. The oldest range's count rises; it is read again."""
    api = FakeUsers.joined_on(skewed(4000))

    def move(fake: FakeUsers) -> None:
        fake.members[-1].joined = TODAY - timedelta(days=3 * 365 - 3)
    api.hooks[15] = move  # the oldest range (one page) is done by then, the last one is not
    shard_pass, ids = run(api)
    assert api.members[-1].id in ids and len(ids) == len(set(ids)) == 4000
    assert shard_pass.complete and any("read again" in n for n in shard_pass.notes), shard_pass.notes


def test_cuts_follow_the_members_on_the_first_page() -> None:
    first, last = date(2026, 1, 1), date(2026, 12, 31)
    # join order: the earliest 200 of 1,000 members joined in January, the rest spread after them
    january = [first + timedelta(days=i * 31 // 200) for i in range(200)]
    ends = _cuts(first, last, 1000, 4, january, ordered=True)
    assert len(ends) == 3 and ends[0] < date(2026, 4, 1) and ends == sorted(ends)
    # a sample: three quarters of the members in December
    sample = [date(2026, 12, 1 + i % 30) for i in range(150)] + [first + timedelta(days=i) for i in range(50)]
    ends = _cuts(first, last, 1000, 4, sample, ordered=False)
    assert len(ends) == 3 and ends[0] <= date(2026, 2, 20) and ends[1] >= date(2026, 12, 1)  # a quarter each
    # no days: equal widths; one day: nothing to cut
    assert _cuts(first, last, 1000, 2, [], ordered=True) == [date(2026, 7, 1)]
    assert _cuts(first, first, 1000, 4, [], ordered=True) == []


def test_an_open_range_starting_after_the_clients_today_is_cut_above_its_start() -> None:
    """A server whose clock runs ahead: every member joined after the client's today."""
    days = spread(6000, TODAY + timedelta(days=30), 60)
    api = FakeUsers.joined_on(days)
    shard_pass, ids = run(api, bounds=[(TODAY + timedelta(days=10)).isoformat()])
    assert sorted(ids) == sorted(m.id for m in api.members) and len(ids) == len(set(ids))
    assert shard_pass.complete and shard_pass.notes == []
    for r in shard_pass.ranges:
        assert r.gte is None or r.lte is None or r.gte <= r.lte
    assert max(r.totals[0] for r in shard_pass.ranges) <= longest(6000)
