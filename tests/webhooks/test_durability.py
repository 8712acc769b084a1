"""Nothing acknowledged is lost: a receiver SIGKILLed mid-stream, a landing folder that cannot be
written for a while (503s, then recovery by itself), on the real file system."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.webhooks.sender import PATH, dumps, event, free_port, gcm, headers, landed_ids, start_receiver
from webhooks import events, segments

TOTAL = 10_000
SENDERS = 6


class Sender:
    """Delivers events until each is acknowledged, retrying on non-2xx and connection errors."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.acked: set[str] = set()
        self.lock = threading.Lock()
        self.milestones: dict[int, threading.Event] = {}
        self.retries = 0
        self.statuses: dict[int, int] = {}
        self.status_marks: list[tuple[int, int, threading.Event]] = []

    def at(self, n: int) -> threading.Event:
        """Set once `n` deliveries are acknowledged."""
        return self.milestones.setdefault(n, threading.Event())

    def answered(self, status: int, n: int) -> threading.Event:
        """Set once `n` attempts got `status`."""
        flag = threading.Event()
        self.status_marks.append((status, n, flag))
        return flag

    def run(self, part: int, senders: int = SENDERS) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(part, self.count, senders):
                ev = event(i)
                body = gcm(dumps(ev)) if i % 3 == 0 else dumps(ev)
                backoff = 0.005
                while True:
                    try:
                        r = client.post(self.url + PATH, content=body, headers=headers(encrypted=i % 3 == 0))
                        status = r.status_code
                    except httpx.TransportError:
                        status = 0
                    with self.lock:
                        self.statuses[status] = self.statuses.get(status, 0) + 1
                        for mark_status, mark, flag in self.status_marks:
                            if mark_status == status and self.statuses[status] >= mark:
                                flag.set()
                    if 200 <= status < 300:
                        break
                    self.retries += 1
                    time.sleep(backoff)  # the platform's back-off between retries
                    backoff = min(backoff * 2, 0.1)
                with self.lock:
                    self.acked.add(ev["id"])
                    n = len(self.acked)
                    for mark, flag in self.milestones.items():
                        if n >= mark:
                            flag.set()


def test_sigkill_mid_stream_loses_no_acknowledged_delivery(tmp_path):
    directory = tmp_path / "landing"
    port = free_port()
    receiver = start_receiver(directory, "--segment-bytes", "200000", port=port)
    sender = Sender(receiver.url, TOTAL)
    kills = [sender.at(2_500), sender.at(6_000)]
    threads = [threading.Thread(target=sender.run, args=(k,)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    try:
        for flag in kills:
            assert flag.wait(120)
            receiver.kill()  # SIGKILL: no shutdown, the open segment stays as it was
            with sender.lock:
                acked_before_kill = set(sender.acked)
            receiver = start_receiver(directory, "--segment-bytes", "200000", port=port)
            # every delivery acknowledged before the kill is on disk (the restart sealed the open segment)
            on_disk = {ev.event["id"] for p in segments.sealed(directory) for ev in segments.read(p)}
            assert acked_before_kill <= on_disk
        for t in threads:
            t.join(300)
    finally:
        receiver.kill()
    assert not any(t.is_alive() for t in threads)
    sent = {event(i)["id"] for i in range(TOTAL)}
    assert sender.acked == sent
    assert sender.retries > 0  # the kills were felt
    ready = segments.ready(directory)
    assert segments.live(directory) == []
    all_lines = [ev.event["id"] for p in ready for ev in segments.read(p)]
    assert set(all_lines) == sent  # at least once ...
    assert len(all_lines) - TOTAL < 200  # ... and duplicates only from the batches in flight at the kills
    assert sorted(row["id"] for row in events.rows(ready)) == sorted(sent)  # exactly once at load


def deliver(client: httpx.Client, i: int) -> int:
    return client.post(PATH, content=dumps(event(i)), headers=headers()).status_code


def assert_health(client: httpx.Client, healthy: bool) -> None:
    """/healthz: 200 while the folder can be written, 503 while not (it looks again when failing)."""
    assert (client.get("/healthz").status_code == 200) is healthy


def chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_read_only_folder_answers_503_then_recovers(tmp_path):
    """`chattr +i`: no new file or rename in the folder, not even for root."""
    directory = tmp_path / "landing"
    directory.mkdir()
    if shutil.which("chattr") is None or not chattr("+i", directory) or not chattr("-i", directory):
        pytest.skip("chattr +i not supported here")
    receiver = start_receiver(directory, "--segment-bytes", "200")  # every delivery needs a new segment
    try:
        with httpx.Client(base_url=receiver.url, timeout=10) as client:
            assert deliver(client, 1) == 200
            assert chattr("+i", directory)
            try:
                assert [deliver(client, i) for i in (2, 3, 4)] == [503, 503, 503]
                assert_health(client, False)
            finally:
                assert chattr("-i", directory)
            assert [deliver(client, i) for i in (2, 3, 4, 5)] == [200] * 4
            assert_health(client, True)
    finally:
        receiver.stop()
    assert sorted(landed_ids(directory)) == sorted(event(i)["id"] for i in (1, 2, 3, 4, 5))
    assert "answering 503 until it can" in "".join(receiver.output)
    assert "writable again" in "".join(receiver.output)


def test_folder_replaced_by_a_file_answers_503_then_recovers(tmp_path):
    directory = tmp_path / "landing"
    receiver = start_receiver(directory)
    try:
        with httpx.Client(base_url=receiver.url, timeout=10) as client:
            assert deliver(client, 1) == 200
            directory.rename(tmp_path / "moved")
            directory.write_text("not a folder")
            assert [deliver(client, i) for i in (2, 3)] == [503, 503]
            assert_health(client, False)
            directory.unlink()
            (tmp_path / "moved").rename(directory)
            assert_health(client, True)  # recovered before any delivery came
            assert [deliver(client, i) for i in (2, 3)] == [200, 200]
    finally:
        receiver.stop()
    assert sorted(landed_ids(directory)) == sorted(event(i)["id"] for i in (1, 2, 3))
    assert segments.live(directory) == []


def test_landing_path_under_a_regular_file_answers_503_until_it_can_be_created(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    directory = blocker / "landing"
    receiver = start_receiver(directory)
    try:
        with httpx.Client(base_url=receiver.url, timeout=10) as client:
            assert deliver(client, 1) == 503
            blocker.unlink()
            assert deliver(client, 1) == 200  # the folder is created once it can be
    finally:
        receiver.stop()
    assert landed_ids(directory) == [event(1)["id"]]


def test_a_stream_through_a_read_only_spell_lands_every_event(tmp_path):
    """2,000 deliveries from 4 senders; the folder turns read-only (`chattr +i`) mid-stream until 100
    attempts were refused, then writable again: every event is acknowledged in the end and on disk."""
    directory = tmp_path / "landing"
    directory.mkdir()
    if shutil.which("chattr") is None or not chattr("+i", directory) or not chattr("-i", directory):
        pytest.skip("chattr +i not supported here")
    receiver = start_receiver(directory, "--segment-bytes", "4096")  # a new segment every dozen deliveries
    sender = Sender(receiver.url, 2_000)
    start, refused = sender.at(500), sender.answered(503, 100)
    threads = [threading.Thread(target=sender.run, args=(k, 4)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        assert start.wait(120)
        assert chattr("+i", directory)
        try:
            assert refused.wait(120)
        finally:
            assert chattr("-i", directory)
        for t in threads:
            t.join(300)
    finally:
        receiver.stop()
    sent = {event(i)["id"] for i in range(2_000)}
    assert sender.acked == sent and sender.statuses[503] >= 100
    assert set(landed_ids(directory)) == sent
    assert sorted(row["id"] for row in events.rows(segments.ready(directory))) == sorted(sent)
