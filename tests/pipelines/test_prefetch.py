"""The read-ahead of the users cursor chain: order, bounded look-ahead, errors where they occur,
and a thread that stops when its consumer does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipelines.prefetch import prefetched


def test_yields_everything_in_order() -> None:
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetched(iter([]), depth=2)) == []
    assert list(prefetched(iter(range(5)), depth=0)) == list(range(5))


def test_reads_at_most_depth_ahead() -> None:
    produced: list[int] = []
    consumed = threading.Event()

    def source() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    it = prefetched(source(), depth=2)
    assert next(it) == 0
    # the thread holds at most 2 items in the hand-off plus the one it is trying to put
    for _ in range(200):
        if len(produced) >= 4:
            break
        consumed.wait(0.01)
    assert len(produced) <= 4
    assert list(it) == list(range(1, 50))


def test_an_error_is_raised_where_the_consumer_reaches_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 is malformed")

    got: list[int] = []
    with pytest.raises(ValueError, match="page 3 is malformed"):
        for item in prefetched(source(), depth=4):
            got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetched(source(), depth=2, name="prefetch-under-test")
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert closed.wait(5)
    for thread in threading.enumerate():
        if thread.name == "prefetch-under-test":
            thread.join(5)
            assert not thread.is_alive()
