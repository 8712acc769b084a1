"""Test hook: SIGKILL the sync at a chosen point of dlt's extract, normalize or load step, to prove
that the next run converges (no row lost, none duplicated).

`RETURNING_SYNC_TEST_KILL_AT=<step>:<when>` with step `extract`, `normalize` or `load` and when
either N (the N-th progress update dlt reports in that step; if the step reports fewer, the kill
happens as the step ends) or a table name (the first update naming it, e.g.
`extract:_dlt_pipeline_state`, the moment dlt writes the pipeline state into the package).
Unset, nothing changes. Never set it outside tests."""

from __future__ import annotations

import os
import signal
from typing import Any

from dlt.common.runtime.collector import Collector

KILL_ENV = "RETURNING_SYNC_TEST_KILL_AT"
STEPS = ("extract", "normalize", "load")


class KillCollector(Collector):
    def __init__(self, spec: str) -> None:
        step, _, when = spec.partition(":")
        if step not in STEPS or not when:
            raise ValueError(f"{KILL_ENV} must look like extract:3 or load:_dlt_loads, got {spec!r}")
        self.target_step = step
        self.count = int(when) if when.isdigit() else None
        self.name = None if when.isdigit() else when
        self.step: str | None = None
        self.seen = 0

    def update(self, name: str, inc: int = 1, total: int | None = None, inc_total: int | None = None,
               message: str | None = None, label: str | None = None) -> None:
        if self.step != self.target_step:
            return
        self.seen += 1
        if (self.name is not None and name == self.name) or (self.count is not None and self.seen >= self.count):
            _die()

    def _start(self, step: str) -> None:
        self.step = step.split(" ", 1)[0].lower()
        self.seen = 0

    def _stop(self) -> None:
        if self.step == self.target_step and self.count is not None:
            _die()  # fewer updates than asked for: die as the step ends, before it is recorded done
        self.step = None


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_collector() -> Any:
    spec = os.environ.get(KILL_ENV)
    return KillCollector(spec) if spec else None
