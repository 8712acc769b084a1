"""A reader counting rows through `sql` in a loop while a model is rebuilt over and over: what the
swap-in of a rebuilt model shows a concurrent reader (tests of warehouse/models.py on servers)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from warehouse.connection import Connection, connect
from warehouse.errors import WarehouseError
from warehouse.location import WarehouseLocation
from warehouse.models import Model, build_model


@dataclass
class Seen:
    counts: list[int]  # every count the reader read
    errors: list[str]  # every error it met
    during: int  # reads made while the rebuilds ran


def read_through_rebuilds(location: WarehouseLocation, writer: Connection, versions: Sequence[Model], sql: str,
                          rebuilds: int = 6) -> Seen:
    """`versions[1]`, `versions[0]`, ... built `rebuilds` times on `writer` while another connection
    reads `sql` (a count) without pause; `versions[0]` must be built already."""
    seen = Seen([], [], 0)
    started, stop = threading.Event(), threading.Event()

    def read() -> None:
        with connect(location, read_only=True) as reader:
            while not stop.is_set():
                try:
                    row = reader.fetchone(sql)
                    seen.counts.append(int(row[0]) if row else -1)
                except WarehouseError as exc:
                    seen.errors.append(str(exc))
                started.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert started.wait(30)
    before = len(seen.counts)
    for i in range(1, rebuilds + 1):
        build_model(writer, versions[i % len(versions)])
    seen.during = len(seen.counts) - before
    stop.set()
    thread.join(30)
    return seen
