"""The landing on its own: acknowledgement only after fsync, a full disk (injected), rotation, sealing
what a killed receiver left, and the reader's view (`segments`)."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

import pytest

from webhooks import segments
from webhooks.landing import Landing, LandingBusy, LandingError


def line(i: int, pad: str = "") -> bytes:
    return segments.line(b'{"id":"e%d","event":"user.joined","pad":"%s"}' % (i, pad.encode()), segments.stamp())


def ids(paths: list[Path]) -> list[str]:
    return [ev.event["id"] for p in paths for ev in segments.read(p)]


@pytest.fixture()
def make(tmp_path):
    made: list[Landing] = []

    def factory(**kw) -> Landing:
        landing = Landing(tmp_path / "landing", **kw)
        landing.start()
        made.append(landing)
        return landing

    yield factory
    for landing in made:
        landing.close()


def test_a_delivery_is_settled_only_after_its_fsync(make):
    gate, fsync_started = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow_fsync(fd: int) -> None:
        fsync_started.set()
        assert gate.wait(10)
        calls.append(fd)
        os.fsync(fd)

    landing = make(fsync=slow_fsync)
    future = landing.submit(line(1))
    assert fsync_started.wait(10)
    assert not future.done()  # written, but its fsync has not returned
    gate.set()
    future.result(10)
    assert calls


def test_deliveries_queued_during_an_fsync_share_the_next_one(make):
    gate = threading.Event()
    entered = threading.Event()
    count = 0

    def gated_fsync(fd: int) -> None:
        nonlocal count
        count += 1
        entered.set()
        assert gate.wait(10)
        os.fsync(fd)

    landing = make(fsync=gated_fsync)
    first = landing.submit(line(0))
    assert entered.wait(10)  # the writer is inside the first batch's fsyncs
    rest = [landing.submit(line(i)) for i in range(1, 201)]
    gate.set()
    for f in [first, *rest]:
        f.result(10)
    assert landing.stats.deliveries == 201
    assert landing.stats.batches <= 3  # 200 deliveries did not take 200 fsyncs
    assert count <= 6  # a new segment costs one directory fsync besides the file's


def test_a_full_disk_fails_the_batch_and_leaves_no_torn_bytes(make):
    state = {"full": False}

    def write(fd: int, data: memoryview) -> int:
        if state["full"]:
            os.write(fd, data[: len(data) // 2])  # half of it reaches the file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    landing = make(write=write)
    landing.submit(line(1)).result(10)
    state["full"] = True
    with pytest.raises(LandingError, match="No space left"):
        landing.submit(line(2)).result(10)
    assert not landing.healthy
    state["full"] = False
    landing.submit(line(3)).result(10)
    assert landing.healthy
    sealed = landing.seal().result(10)
    assert sealed is not None and ids([sealed]) == ["e1", "e3"]
    assert all(segments.parse_line(raw) for raw in sealed.read_bytes().split(b"\n")[:-1])


def test_a_failing_fsync_is_never_acknowledged(make):
    state = {"fail": False}

    def fsync(fd: int) -> None:
        if state["fail"]:
            raise OSError(errno.EIO, "Input/output error")
        os.fsync(fd)

    landing = make(fsync=fsync)
    landing.submit(line(1)).result(10)
    state["fail"] = True
    with pytest.raises(LandingError):
        landing.submit(line(2)).result(10)
    state["fail"] = False
    landing.submit(line(3)).result(10)
    assert ids([landing.seal().result(10)]) == ["e1", "e3"]


def test_segments_rotate_by_size(make, tmp_path):
    landing = make(segment_bytes=300)
    for i in range(10):
        landing.submit(line(i, "x" * 50)).result(10)
    landing.seal().result(10)
    done = segments.sealed(tmp_path / "landing")
    assert len(done) >= 4 and all(p.stat().st_size <= 300 for p in done)
    assert ids(done) == [f"e{i}" for i in range(10)]
    assert segments.live(tmp_path / "landing") == []


def test_segments_rotate_by_age(make, tmp_path):
    now = [1000.0]
    landing = make(segment_age=5.0, clock=lambda: now[0])
    landing.submit(line(1)).result(10)
    assert segments.sealed(tmp_path / "landing") == []
    now[0] += 6
    landing.submit(line(2)).result(10)  # the old segment is sealed before this one is written
    assert ids(segments.sealed(tmp_path / "landing")) == ["e1"]
    assert [p.suffix for p in segments.live(tmp_path / "landing")] == [".open"]


def test_close_seals_the_current_segment(tmp_path):
    landing = Landing(tmp_path)
    landing.start()
    landing.submit(line(1)).result(10)
    landing.close()
    assert ids(segments.sealed(tmp_path)) == ["e1"] and segments.live(tmp_path) == []
    with pytest.raises(LandingError):
        landing.submit(line(2))


def test_too_many_bytes_waiting_is_busy_not_queued(make):
    gate = threading.Event()

    def gated_fsync(fd: int) -> None:
        gate.wait(10)
        os.fsync(fd)

    landing = make(max_pending_bytes=1000, fsync=gated_fsync)
    first = landing.submit(line(0, "x" * 600))
    with pytest.raises(LandingBusy):
        landing.submit(line(1, "x" * 600))
    gate.set()
    first.result(10)
    landing.submit(line(2, "x" * 600)).result(10)


def test_a_seal_with_nothing_written_is_none(make):
    assert make().seal().result(10) is None


def write_open_segment(directory: Path, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / segments.segment_name(1)
    path.write_bytes(data)
    return path


def test_a_killed_receivers_segment_is_sealed_with_its_torn_line_cut(tmp_path):
    good = line(1) + line(2)
    path = write_open_segment(tmp_path, good + line(3)[:20])
    assert segments.seal_abandoned(tmp_path) == [path.with_suffix(".jsonl")]
    assert path.with_suffix(".jsonl").read_bytes() == good
    assert segments.live(tmp_path) == []


def test_a_garbled_tail_after_a_power_cut_is_cut_too(tmp_path):
    good = line(1)
    path = write_open_segment(tmp_path, good + b"\0" * 40 + b"\n" + b"\0" * 10)
    segments.seal_abandoned(tmp_path)
    assert path.with_suffix(".jsonl").read_bytes() == good


def test_an_abandoned_segment_with_nothing_whole_is_removed(tmp_path):
    write_open_segment(tmp_path, line(1)[:30])
    assert segments.seal_abandoned(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_segment_a_live_receiver_holds_is_left_alone(tmp_path):
    path = write_open_segment(tmp_path, line(1) + line(2)[:10])
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert segments.seal_abandoned(tmp_path) == []
        assert segments.live(tmp_path) == [path]
        assert ids([path]) == ["e1"]  # the reader takes whole lines only
    finally:
        os.close(fd)


def test_start_seals_what_a_killed_receiver_left(tmp_path):
    write_open_segment(tmp_path, line(1) + line(2)[:5])
    landing = Landing(tmp_path)
    landing.start()
    try:
        assert ids(segments.sealed(tmp_path)) == ["e1"]
    finally:
        landing.close()


def test_ready_and_remove(tmp_path):
    write_open_segment(tmp_path, line(1))
    ready = segments.ready(tmp_path)
    assert ids(ready) == ["e1"]
    assert segments.remove(ready) == 1 and segments.remove(ready) == 0
    assert segments.ready(tmp_path) == [] and segments.ready(tmp_path / "missing") == []
    with pytest.raises(ValueError):
        segments.remove([tmp_path / "x.open"])


def test_probe_reports_the_folder_and_ends_a_failure_episode(tmp_path):
    directory = tmp_path / "landing"
    landing = Landing(directory)
    landing.start()
    try:
        landing.submit(line(1)).result(10)
        directory.rename(tmp_path / "away")
        directory.write_text("a file")
        with pytest.raises(LandingError, match="Not a directory"):
            landing.submit(line(2)).result(10)
        with pytest.raises(LandingError):
            landing.probe().result(10)
        assert not landing.healthy
        directory.unlink()
        landing.probe().result(10)
        assert landing.healthy
    finally:
        landing.close()
    assert ids(segments.sealed(tmp_path / "away")) == ["e1"]  # sealed where it lay when the folder moved


def test_a_segment_left_mid_creation_is_cleaned_and_a_new_one_is_never_taken(tmp_path):
    leftover = tmp_path / segments.staging_name(segments.segment_name(9))
    leftover.write_bytes(b"")
    landing = Landing(tmp_path)
    landing.start()  # start seals what is abandoned: the empty staging file goes
    try:
        assert not leftover.exists()
        landing.submit(line(1)).result(10)
        [live] = segments.live(tmp_path)
        assert segments.seal_abandoned(tmp_path) == [] and segments.live(tmp_path) == [live]
    finally:
        landing.close()
