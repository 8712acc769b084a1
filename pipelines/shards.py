"""The users pass split into disjoint `join_date` ranges (contract 7.1), each its own cursor chain.

Ranges: `(-inf, b1]`, `[b1+1, b2]`, ..., `[bk+1, +inf)` on the day, so together they cover every date;
the last one is open-ended, so members joining during the pass land in it. The bounds come from the
previous pass (kept in the resource state) or, on a first pass, from a short ladder of dates back
from today (as many first pages as fill the first round beside the unfiltered total). Every range's
first page reports its `total`; a range whose chain would outlast the community's pages spread over
the workers is split (its first page dropped) into pieces of about equal members, the cuts read off
the join days on that first page: sent in join order they are the range's earliest members, the
rest taken as spread evenly after them; sent in another order, a sample of the whole range. Pieces
still too long are split again, so skewed join dates still spread over the workers, and no range
is cut finer than it must be (each one's last page is part-filled). At most `concurrency` requests
of the pass are in flight, every one through the client (its rate limiter and retries); the
longest remaining chain is served first.

Completeness is proved, not assumed: the unfiltered `total` is read at the start, beside the first
pages. The pass is complete when the range totals add up to it and no range's total moved during
the pass. Otherwise, once the chains are done, every range is counted again:
- ranges whose total rose may hold members who moved in behind the cursor: they are read again,
  members already read skipped;
- totals that still do not add up (members without a join date, a filter the server ignores) are
  made up by one unfiltered chain, members already read skipped; a filter that is plainly ignored
  (ranges reporting more members than the community holds) is abandoned for that chain at once.
`UsersPass.complete` says whether the pass proved complete (deletions may then be flagged) and
`notes` what it had to do, for the run summary.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines.client import ReturningClient
from pipelines.errors import plural
from pipelines.pagination import read_page, total_of
from pipelines.registry import Endpoint

log = logging.getLogger("pipelines.users_pass")
PAGE = 200  # the API's fixed page size (7.1): used only to size ranges
# a first pass without stored bounds: range edges this many days back from today
LADDER_DAYS = (730, 182)
MAX_RANGES = 256
MAX_SPLIT = 8
PIECE_FILL = 0.7  # a split aims its pieces at this share of the longest chain


@dataclass
class Range:
    gte: date | None  # None: open below
    lte: date | None  # None: open above
    totals: list[int] = field(default_factory=list)  # every total the range's pages reported
    cursor: dict[str, Any] | None = None
    read: int = 0
    pages: int = 0
    done: bool = False
    accepted: bool = False

    @property
    def remaining(self) -> int:
        return max((self.totals[-1] if self.totals else 0) - self.read, 0)

    def label(self) -> str:
        return f"[{self.gte or '-inf'}, {self.lte or '+inf'}]"


@dataclass
class _Task:
    kind: str  # "total", "first", "next", "recount"
    rng: Range | None = None


class UsersPass:
    """One complete users pass: iterate `pages()`; afterwards read `complete`, `notes`, `bounds`."""

    def __init__(self, client: ReturningClient, endpoint: Endpoint, body: dict[str, Any], *,
                 bounds: list[str] | None = None, today: date | None = None) -> None:
        self.client, self.ep, self.body = client, endpoint, body
        self.concurrency = max(1, client.settings.concurrency)
        self.per_worker = endpoint.shards_per_worker
        self.field = endpoint.name_for("shard_field")
        self.filter_key = endpoint.name_for("filter")
        self.gte_key, self.lte_key = endpoint.name_for("gte"), endpoint.name_for("lte")
        self.date_format = endpoint.date_format
        self.id_key = endpoint.name_for("id")
        self.today = today or datetime.now(UTC).date()
        self.prior = None if bounds is None else [date.fromisoformat(b) for b in bounds]
        self.total: int | None = None  # the unfiltered total read at the start
        self.ranges: list[Range] = []  # the partition (split ranges replaced by their pieces)
        self.complete = False
        self.fell_back = False  # the filter was not applied: read as one unfiltered chain
        self.notes: list[str] = []
        self.requests = 0
        self.passed_on = False  # a page was passed on (a failure after it cannot start the pass over)

    # -- public ------------------------------------------------------------------------------
    @property
    def bounds(self) -> list[str]:
        """Upper bounds for the next pass: the accepted ranges, neighbours merged until each holds
        a worker's share (an empty list: one range, the whole community, read as one chain)."""
        assert self.total is not None
        share = self._share()
        out: list[str] = []
        held = 0
        ordered = sorted(self.ranges, key=_order)
        last: date | None = None
        for rng in ordered[:-1]:
            n = rng.totals[-1] if rng.totals else 0
            if held and held + n > 1.25 * share and last is not None:
                out.append(last.isoformat())
                held = 0
            held += n
            last = rng.lte
            if held >= share and rng.lte is not None:
                out.append(rng.lte.isoformat())
                held = 0
        if out and held + (ordered[-1].totals[-1] if ordered[-1].totals else 0) < share / 2:
            out.pop()  # a thin last range: merged into the one before
        return out

    def _share(self) -> int:
        assert self.total is not None
        return max(math.ceil(self.total / (self.concurrency * self.per_worker)), 2 * PAGE)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="returning-users") as pool:
            self._pool = pool
            # ids read so far (ObjectIds as ints: a third of the memory): a member who changes
            # join_date during the pass can be met by two chains, and is passed on once
            self._seen: set[Any] | None = set()
            yield from self._sharded(self._initial_ranges())
            if not self._fallback:
                yield from self._reconcile()
            if self._fallback:
                self.fell_back = True
                yield from self._unfiltered("fallback")

    # -- the sharded pass --------------------------------------------------------------------
    def _sharded(self, ranges: list[Range]) -> Iterator[list[dict[str, Any]]]:
        self._fallback = False
        self._reported: list[tuple[Range, int]] = []  # every first page's total, split ranges too
        self.ranges = ranges
        self.total = None
        waiting: list[Range] = list(self.ranges)  # first page not asked yet
        undecided: list[tuple[Range, dict[str, Any]]] = []  # first pages back before the total
        inflight: dict[Future[dict[str, Any]], _Task] = {}
        whole = len(self.ranges) == 1  # one range, no filter: its own total is the community's
        if not whole:
            self._submit(inflight, _Task("total"), self._request(None))
        while inflight or waiting or undecided or any(r.accepted and not r.done for r in self.ranges):
            while len(inflight) < self.concurrency:
                task = self._next_task(waiting, inflight)
                if task is None:
                    break
                assert task.rng is not None
                self._submit(inflight, task, self._request(task.rng))
            if not inflight:
                break
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for fut in done:
                task = inflight.pop(fut)
                payload = fut.result()
                if task.kind == "total":
                    self.total = self._total(payload)
                    for rng, first in undecided:
                        yield from self._first(rng, first, waiting)
                    undecided.clear()
                elif task.kind == "first":
                    assert task.rng is not None
                    if whole and self.total is None:
                        self.total = self._total(payload)
                    if self.total is None:
                        undecided.append((task.rng, payload))
                    else:
                        yield from self._first(task.rng, payload, waiting)
                else:
                    assert task.rng is not None
                    yield from self._page(task.rng, payload)
            if self._fallback:
                for fut in inflight:
                    fut.cancel()
                wait(list(inflight))
                return

    def _next_task(self, waiting: list[Range], inflight: dict[Future[dict[str, Any]], _Task]) -> _Task | None:
        if waiting:
            return _Task("first", waiting.pop(0))
        busy = {id(t.rng) for t in inflight.values()}
        ready = [r for r in self.ranges if r.accepted and not r.done and id(r) not in busy]
        if not ready:
            return None
        return _Task("next", max(ready, key=lambda r: r.remaining))  # the longest chain first

    def _first(self, rng: Range, payload: dict[str, Any], waiting: list[Range]) -> Iterator[list[dict[str, Any]]]:
        assert self.total is not None
        total = self._total(payload)
        over = next((o for o, n in self._reported if _disjoint(o, rng) and n + total > self.total * 1.05 + PAGE), None)
        self._reported.append((rng, total))
        if over is not None and not self._fallback:
            # two disjoint ranges report more members than the community has: the filter is not applied
            self._fallback = True
            self._say(f"users: the {self.field} filter was not applied by the server ({over.label()} and "
                      f"{rng.label()} report more than the {plural(self.total, 'member')}); read with one unfiltered chain")
            return
        if _pages(total) > self._chain_pages() and len(self.ranges) < MAX_RANGES:
            pieces = self._split(rng, math.ceil(total / (self._chain_pages() * PAGE * PIECE_FILL)),
                                 total, _days_on(self.ep, payload, self.field))
            if pieces:
                index = self.ranges.index(rng)
                self.ranges[index:index + 1] = pieces
                waiting[:0] = pieces
                return
        rng.accepted = True
        yield from self._page(rng, payload)

    def _page(self, rng: Range, payload: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        rng.pages += 1
        page = read_page(self.ep, payload, rng.pages)
        total = self._total(payload)
        rng.totals.append(total)
        rng.read += len(page.records)
        rng.cursor = page.next_request
        rng.done = page.done or not page.next_request
        yield from self._emit(page.records)

    def _emit(self, records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        if self._seen is not None:
            seen, key, fresh = self._seen, self.id_key, []
            for r in records:
                k = _compact(r.get(key))
                if k not in seen:
                    seen.add(k)
                    fresh.append(r)
            records = fresh
        if records:
            self.passed_on = True
            yield records

    # -- after the chains --------------------------------------------------------------------
    def _reconcile(self) -> Iterator[list[dict[str, Any]]]:
        assert self.total is not None
        if sum(r.totals[0] for r in self.ranges) == self.total and not any(len(set(r.totals)) > 1 for r in self.ranges):
            self.complete = True  # the totals add up and nothing moved during the pass
            return
        # count everything again, at once: a race between the first pages is gone then
        counts = self._count_all()
        end_total = counts.pop()
        if any(len({*r.totals, n}) > 1 for r, n in zip(self.ranges, counts, strict=True)):
            # members joined, left or moved during the pass: one who moved into a range behind its
            # cursor was met by no chain. Every range is read once more, members already read skipped.
            self._say(f"users: members joined, left or changed {self.field} during the pass; all "
                      f"{len(self.ranges)} ranges read again, members already read skipped")
            yield from self._sharded(_partition([r.lte for r in self.ranges if r.lte is not None]))
            if self._fallback:
                return
            counts = self._count_all()
            end_total = counts.pop()
        if sum(counts) != end_total:
            self._say(f"users: the {self.field} ranges hold {plural(sum(counts), 'member')}, the community "
                      f"{end_total:,} (members without a {self.field}?); the rest read with one unfiltered chain")
            yield from self._unfiltered("missing part")
            return
        self.complete = True

    def _unfiltered(self, why: str) -> Iterator[list[dict[str, Any]]]:
        assert self._seen is not None
        before = len(self._seen)
        for page in self.client.paginate(self.ep.name, json=self.body):
            self.requests += 1
            yield from self._emit(page)
        self._say(f"users: the unfiltered chain ({why}) found {plural(len(self._seen) - before, 'member')} the ranges did not hold")
        self.complete = True

    def _count_all(self) -> list[int]:
        bodies = [self._request(r, count=True) for r in self.ranges] + [self._request(None, count=True)]
        futures = [self._pool.submit(self.client.read_payload, self.ep.name, json=b) for b in bodies]
        self.requests += len(futures)
        return [self._total(f.result()) for f in futures]

    # -- ranges ------------------------------------------------------------------------------
    def _initial_ranges(self) -> list[Range]:
        return _partition(self.prior if self.prior is not None else self._ladder())

    def _ladder(self) -> list[date]:
        return sorted({self.today - timedelta(days=d) for d in LADDER_DAYS})

    def _chain_pages(self) -> int:
        """The longest chain the pass accepts, in pages: the community's pages over the workers
        (a range holding more is split; one holding less would only add a part-filled last page)."""
        assert self.total is not None
        return max(math.ceil(_pages(self.total) / self.concurrency), 2)

    def _split(self, rng: Range, parts: int, total: int, days: list[date]) -> list[Range]:
        """`rng` cut into up to `parts` (2..MAX_SPLIT) ranges of about equal members, the cuts
        read off the join days on its first page (`_cuts`); an open side stays open."""
        parts = max(2, min(parts, MAX_SPLIT))
        lo, hi = rng.gte, rng.lte
        if lo is None and hi is None:  # the whole community in one range: start from the ladder
            self.prior = None
            return self._initial_ranges()
        inside = [d for d in days if (lo is None or d >= lo) and (hi is None or d <= hi)]
        first = lo or min(inside, default=None) or (hi - timedelta(days=365) if hi else self.today)
        ordered = inside == sorted(inside)
        last = hi or max([self.today, first, *inside])
        if hi is None and ordered and inside and inside[-1] >= self.today and total > len(inside):
            # the server's clock is ahead of ours: its earliest members here say how far the rest reach
            span = (inside[-1] - inside[0]).days + 1
            last = max(last, inside[0] + timedelta(days=math.ceil(span * total / len(inside))))
        ends = _cuts(first, last, total, parts, inside, ordered=ordered)
        return _partition(ends, lo, hi) if ends else []  # no cut: one day

    # -- requests ----------------------------------------------------------------------------
    def _request(self, rng: Range | None, count: bool = False) -> dict[str, Any]:
        # counts ask for the pass's own fields: a server repeating a record across pages then
        # repeats it whole (a page of ids only would be the smaller answer)
        body = dict(self.body)
        if rng is not None:
            bounds: dict[str, str] = {}
            if rng.gte is not None:
                bounds[self.gte_key] = rng.gte.strftime(self.date_format)
            if rng.lte is not None:
                bounds[self.lte_key] = rng.lte.strftime(self.date_format)
            if bounds:
                body[self.filter_key] = {**(body.get(self.filter_key) or {}), self.ep.served(self.field): bounds}
            if rng.cursor and not count:
                body.update(rng.cursor)
        return body

    def _submit(self, inflight: dict[Future[dict[str, Any]], _Task], task: _Task, body: dict[str, Any]) -> None:
        self.requests += 1
        inflight[self._pool.submit(self.client.read_payload, self.ep.name, json=body)] = task

    def _total(self, payload: dict[str, Any]) -> int:
        return total_of(self.ep, payload)

    def _say(self, note: str) -> None:
        self.notes.append(note)
        log.warning(note)


def _partition(edges: list[date], low: date | None = None, high: date | None = None) -> list[Range]:
    """[low, high] cut after each edge: `[low, e1]`, `[e1+1, e2]`, ..., `[ek+1, high]` (None: open)."""
    out: list[Range] = []
    for edge in sorted(set(edges)):
        out.append(Range(low, edge))
        low = edge + timedelta(days=1)
    out.append(Range(low, high))
    return out


def _pages(members: int) -> int:
    return max(math.ceil(members / PAGE), 1)


def _days_on(endpoint: Endpoint, payload: dict[str, Any], name: str) -> list[date]:
    """The join days of a first page's members, in the order sent (unreadable ones left out)."""
    out: list[date] = []
    for record in read_page(endpoint, payload, 1).records:
        value = record.get(name)
        if isinstance(value, str) and len(value) >= 10:
            try:
                out.append(date.fromisoformat(value[:10]))
            except ValueError:
                continue
    return out


def _cuts(first: date, last: date, total: int, parts: int, days: list[date], *, ordered: bool) -> list[date]:
    """The last days of the first `parts - 1` of `parts` pieces of [first, last] holding about
    `total / parts` members each, from the members counted so far as a piecewise-linear count by day.
    `days` are the join days on the range's first page: sent in join order (`ordered`), they are
    its earliest members (no one joined before them) and the rest are taken as spread evenly after them; sent in another
    order, they are a sample of the whole range. No days: the pieces are equal in width."""
    lo, hi = first.toordinal() - 1, last.toordinal()
    if hi - lo < 2:
        return []
    points: list[tuple[float, float]] = [(lo, 0.0)]  # (day, members joined on or before it)
    if days and total > len(days):
        ranked = sorted(d.toordinal() for d in days)
        if ordered:  # no one joined before the earliest of them
            points += [(ranked[0] - 1, 0.0), (ranked[-1], float(len(ranked)))]
        else:
            points += [(d, total * (i + 1) / len(ranked)) for i, d in enumerate(ranked)]
    points.append((hi, float(total)))
    points = [(d, n) for d, n in points if lo <= d <= hi]
    ends: list[date] = []
    for j in range(1, parts):
        want = total * j / parts
        for (d0, n0), (d1, n1) in zip(points, points[1:], strict=False):
            if n1 >= want and d1 > d0:
                day = d0 + (d1 - d0) * ((want - n0) / (n1 - n0) if n1 > n0 else 1.0)
                end = min(max(round(day), lo + 1), hi - 1)
                if not ends or end > ends[-1].toordinal():
                    ends.append(date.fromordinal(end))
                break
    return ends


def _compact(value: Any) -> Any:
    """An ObjectId (24 hex digits) as an int, anything else as it is."""
    if isinstance(value, str) and len(value) == 24:
        try:
            return int(value, 16)
        except ValueError:
            return value
    return value


def _disjoint(a: Range, b: Range) -> bool:
    return (a.lte is not None and b.gte is not None and a.lte < b.gte) or \
        (b.lte is not None and a.gte is not None and b.lte < a.gte)


def _order(r: Range) -> date:
    return r.gte or date.min
