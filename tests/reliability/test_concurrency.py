"""Two syncs at once: the second refuses with one clear line (or waits, when asked to). A reader
during a write gets a clear message or a consistent answer, never a torn one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.sync import run_sync
from returning_sync.cli import main
from tests.reliability.helpers import diff_with_truth
from tests.simadmin import SimAdmin

RESOURCES = ["users", "gamification_logs", "streak_logs"]


@contextmanager
def sync_running(api_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A `returning-sync sync` process that has started loading (its first progress line is out)."""
    proc = subprocess.Popen([sys.executable, "-m", "returning_sync.cli", "sync", "--resources", ",".join(RESOURCES)],
                            env={**os.environ, **api_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("sync "), (line, proc.stderr.read() if proc.stderr else "")
        yield proc
    finally:
        if proc.poll() is None:
            proc.wait(timeout=120)


def test_second_sync_refuses_with_one_clear_line(sim: SimAdmin, api_env: dict[str, str], warehouse: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sim.knobs(latency_ms=40)  # the first sync takes a few seconds
    with sync_running(api_env) as first:
        code = main(["sync", "--resources", ",".join(RESOURCES)])
        err = capsys.readouterr().err
        still_running = first.poll() is None
        out, errors = first.communicate(timeout=120)
    assert still_running
    assert code == 6  # busy, not an unexpected error
    assert err.count("\n") == 1 and "another sync is already loading into" in err
    assert f"pid {first.pid}" in err and "RETURNING_SYNC_LOCK_WAIT" in err
    assert first.returncode == 0, errors[-2000:]
    sim.knobs(latency_ms=0)
    assert diff_with_truth(warehouse, sim, RESOURCES) == {}


def test_second_sync_told_to_wait_runs_after_the_first(sim: SimAdmin, api_env: dict[str, str], warehouse: Path,
                                                       make_settings: Callable[..., Any]) -> None:
    sim.knobs(latency_ms=20)
    with sync_running(api_env) as first:
        result = run_sync(make_settings(lock_wait=120), RESOURCES)
        assert first.poll() == 0  # the first had finished before the second could start
    assert result.load_ids
    sim.knobs(latency_ms=0)
    assert diff_with_truth(warehouse, sim, RESOURCES) == {}


def test_reader_during_a_write_sees_before_or_after_or_a_clear_message(
        sim: SimAdmin, api_env: dict[str, str], warehouse: Path, make_settings: Callable[..., Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    run_sync(make_settings(), RESOURCES)
    sim.advance(24)
    query = "select (select count(*) from returning_raw.users), (select count(*) from returning_raw.gamification_logs)"
    capsys.readouterr()
    assert main(["sql", query, "--format", "csv"]) == 0
    before = capsys.readouterr().out.splitlines()[1]
    outcomes: list[tuple[int, str, str]] = []
    with sync_running(api_env) as writer:
        while writer.poll() is None:
            code = main(["sql", query, "--format", "csv", "--wait", "0.2"])
            captured = capsys.readouterr()
            outcomes.append((code, captured.out.splitlines()[1] if code == 0 else "", captured.err))
        _, errors = writer.communicate(timeout=120)
    assert writer.returncode == 0, errors[-2000:]  # readers never break the writer
    assert main(["sql", query, "--format", "csv"]) == 0
    after = capsys.readouterr().out.splitlines()[1]
    assert before != after and outcomes
    for code, counts, err in outcomes:
        if code == 0:
            assert counts in (before, after)  # each table read whole, before or after its load
        else:
            assert code == 6 and err.count("\n") == 1 and "is locked by another process" in err
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) - count(distinct _id) from returning_raw.users").fetchone() == (0,)
    finally:
        con.close()


def test_sync_started_while_a_reader_holds_the_warehouse_waits_for_it(sim: SimAdmin, warehouse: Path,
                                                                      make_settings: Callable[..., Any]) -> None:
    run_sync(make_settings(), ["tiers"])
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(warehouse)!r}, read_only=True)\n"
         "print('open', flush=True)\ntime.sleep(1.5)\ncon.close()\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        result = run_sync(make_settings(), RESOURCES)
        assert reader.poll() == 0  # the sync could only open the warehouse once the reader had left
    finally:
        reader.wait(timeout=30)
    assert result.load_ids
    assert diff_with_truth(warehouse, sim, RESOURCES) == {}
