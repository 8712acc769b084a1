"""Read an iterator of pages ahead of its consumer, in a background thread.

The users pass is a cursor chain: each page needs the previous page's cursor, so its pages cannot
be fetched concurrently. What can overlap is the chain and the work done on each page (Arrow
conversion, the fan-outs dlt starts from it). `prefetched` keeps the chain walking while the
consumer works, at most `depth` pages ahead, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


def prefetched(source: Iterator[T], depth: int = 2, name: str = "returning-prefetch") -> Iterator[T]:
    """Yield what `source` yields, in order, while a thread reads up to `depth` items ahead.
    An exception in `source` is raised here, at the point the consumer reaches it. Closing this
    generator early stops the thread after the item it is reading (the source is closed there)."""
    if depth <= 0:
        yield from source
        return
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(_ITEM, item):
                    return
            put(_END, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_ERROR, exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # the consumer has already stopped or failed
                    close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == _END:
                return
            if kind == _ERROR:
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
