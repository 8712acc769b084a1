"""One resource's failure stays its own: `isolate` wraps the data-generating step of a dlt resource.

dlt ends the whole extract when any resource's generator raises, so each resource's generator (and
each deferred call it yields, which dlt runs in its worker threads) is wrapped here. A failure that
`pipelines.skips.diagnose` calls a skip (404/405, a missing permission, an error body, a missing
field) is recorded in the run's `Tracker.skips`; the resource stops yielding, the resources that
need it (`pipelines.tables.NEEDS`) are skipped with it, and their state (cursors, stored marks) is
put back as it was when the run started, so nothing moves; a deferred call already running when
the failure is caught puts it back again as it finishes, as does the generator as it stops, so a
write racing the first restore is undone too. Their tables are not touched (the resource is
deselected, so dlt never truncates a `replace` table it yielded nothing to), except that a dataset
with no table yet gets its declared empty one (`Isolation.placeholder`): every table exists after
the first sync. Resources the settings turn off (`off`: disabled, or needing a disabled one) are
skipped from the start, without a report: they read nothing and only create their table on a
first sync. The other resources go on and dlt commits them. Any other failure, or any failure
with `strict`, ends the run as before.

A resource that failed after some of its pages had been handed to dlt keeps those rows (they are
merged on their key, so the next run's re-read of them adds nothing); its cursor stays where it was.

The same wrapper checks each record for the table's key before dlt sees it: a record without it is
a contract violation of its endpoint (a skip, `missing '<key>'`), never a package that fails at load.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.declared import CHILD_TABLES, DECLARED, empty_children, empty_table
from pipelines.errors import ContractError
from pipelines.skips import dependents, depending, diagnose, missing_key
from pipelines.tables import table

log = logging.getLogger("pipelines.skips")  # each skip as it happens (the command line prints them in its summary)


class Isolation:
    """The run's record of which resources are skipped, and their state as it was at the start."""

    def __init__(self, ctx: RunContext, off: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.off = frozenset(off)  # disabled, or needing a disabled one: never read (only a first table)
        self._lock = threading.Lock()
        self._saved: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # name -> (live state, copy)
        self._selected: list[str] | None = None
        self._placed: set[str] = set()  # skipped datasets whose placeholder was considered
        self._source: Any = None  # the source being extracted (dlt.current.source(), main thread)

    def skipped(self, name: str) -> bool:
        return name in self.off or name in self.ctx.tracker.skips

    def started(self, name: str) -> None:
        """Called on the main thread as the resource first runs: keep a copy of its state."""
        with self._lock:
            if self._selected is None:
                self._source = dlt.current.source()
                self._selected = list(self._source.selected_resources)
            if name not in self._saved:
                live = dlt.current.resource_state(name)
                self._saved[name] = (live, copy.deepcopy(live))
        if name in self.off:
            self._leave_table(name)

    def failed(self, name: str, exc: BaseException) -> bool:
        """True: `exc` skips `name` (recorded, state put back); False: it must end the run."""
        if self.ctx.strict:
            return False
        skip = diagnose(self.ctx.settings, name, exc)
        if skip is None:
            return False
        if self.ctx.tracker.skips.add(skip):
            log.warning("%s", skip.line())
        self.restore(name)
        self._leave_table(name)
        for other in dependents(name, self._selected or []):
            if self.ctx.tracker.skips.add(depending(other, name)):
                log.warning("%s", self.ctx.tracker.skips.get(other).line())  # type: ignore[union-attr]
            self.restore(other)
            self._leave_table(other)
        return True

    def _leave_table(self, name: str) -> None:
        """Deselect `name` in the running source: after extracting, dlt truncates the table of every
        selected `replace` resource that yielded no rows (its "empty tables" step), which would
        empty a table a skip must leave as it is. What it yielded (a first sync's placeholder) still loads."""
        source = self._source
        if source is not None and name in source.resources:
            source.resources[name].selected = False

    def placeholder(self, name: str) -> Iterator[Any]:
        """A skipped dataset's declared empty table (pipelines/declared.py), once per run, when the
        warehouse has no table for it yet: every table exists after the first sync, so models that
        read it build. A table that exists is never touched (a `replace` table would be emptied)."""
        with self._lock:
            if name in self._placed:
                return
            self._placed.add(name)
        if name in DECLARED and not self.ctx.columns(name):
            yield empty_table(name)
        held = {f"{name}__{child}" for child in CHILD_TABLES.get(name, {}) if self.ctx.columns(f"{name}__{child}")}
        yield from empty_children(name, [], held)  # the declared child tables models join (tiers__levels)

    def restore(self, name: str) -> None:
        """Put `name`'s state back as it was when the run started. Called at the failure, and again
        by each of its deferred calls that finishes after it and by its generator as it stops, so a
        write that raced the first restore (a fan-out call already running) is undone too."""
        with self._lock:
            saved = self._saved.get(name)
            if saved is not None:
                live, before = saved
                live.clear()
                live.update(copy.deepcopy(before))


def isolate(ctx: RunContext, isolation: Isolation, resource: DltResource) -> DltResource:
    """Wrap `resource`'s generating step (see the module docstring); returns the resource."""
    name = resource.name
    keys = [c for c, hints in resource.compute_table_schema()["columns"].items() if hints.get("primary_key")]
    endpoint = (table(name).endpoints or (name,))[0]
    pipe = resource._pipe
    gen = pipe.gen

    def checked(item: Any) -> Any:
        if keys and (missing := missing_key(item, keys)) is not None:
            raise ContractError(endpoint, f"a record lacks its key '{missing}'", missing=missing)
        return item

    def deferred(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            if isolation.skipped(name):
                return None
            try:
                result = call()
                if result is not None:
                    checked(result)
            except Exception as exc:
                if isolation.failed(name, exc):
                    return None
                raise
            if isolation.skipped(name):
                # a call that ran across the failure may have written its state after the restore
                isolation.restore(name)
                return None
            return result
        return run

    def guarded(items: Any) -> Iterator[Any]:
        isolation.started(name)
        if isolation.skipped(name):
            _close(items)
            yield from isolation.placeholder(name)
            return
        try:
            for item in (items if isinstance(items, Iterator) else iter([items])):
                if isolation.skipped(name):  # a resource it needs failed meanwhile
                    break
                if callable(item) and not isinstance(item, pa.Table):
                    yield deferred(item)
                else:
                    yield checked(item)
        except Exception as exc:
            if not isolation.failed(name, exc):
                raise
        finally:
            _close(items)
        if isolation.skipped(name):
            isolation.restore(name)  # what the resource wrote while the failure was being handled
            yield from isolation.placeholder(name)  # its transformers see it too, and make theirs

    if pipe.has_parent:  # a transformer: called once per item of its parent (dlt binds `(item, *, meta)`)
        def step(item: Any, *, meta: Any = None) -> Iterator[Any]:
            return guarded(gen(item, meta=meta))
    else:
        def step() -> Iterator[Any]:  # type: ignore[misc]
            return guarded(gen())
    step.__name__ = step.__qualname__ = getattr(gen, "__name__", name)
    pipe.replace_gen(step)
    return resource


def _close(items: Any) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
