"""Segment files under the landing folder: their names, their lines, sealing, reading and removal.

A receiver appends to one `<time>-<pid>-<seq>.open` segment at a time and holds an exclusive `flock` on
it; a full or old segment is renamed to `.jsonl` (sealed) and never written again. Each line is one
delivery: `{"received_at":"<ISO µs Z>","payload":<the event, as its sender wrote it>}`.

The loader's side (needs no key, works while a receiver runs):
- `seal_abandoned(dir)` seals `.open` segments no live receiver holds (it was killed), cutting a torn
  last line; `sealed(dir)` lists sealed segments oldest first; `live(dir)` the ones still being written;
- `read(path)` yields each line's `LandedEvent` (for a live segment, the complete lines so far);
- `remove(paths)` deletes sealed segments, to be called only once the load holding them is committed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

log = logging.getLogger("webhooks.segments")

OPEN = ".open"
SEALED = ".jsonl"
_HEAD = b'{"received_at":"'
_MID = b'","payload":'
_STAMP_LEN = len("2026-01-01T00:00:00.000000Z")
_PAYLOAD_AT = len(_HEAD) + _STAMP_LEN + len(_MID)


@dataclass(frozen=True, slots=True)
class LandedEvent:
    """One landed delivery: when it arrived, the event parsed, and the event's JSON text as received."""

    received_at: str
    event: dict
    raw: bytes


_second: tuple[int, str] = (-1, "")


def stamp(now: datetime | None = None) -> str:
    """`received_at`: UTC, microseconds, fixed width (the seconds part is formatted once a second)."""
    global _second
    if now is not None:
        return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    t = time.time()
    whole = int(t)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((t - whole) * 1e6):06d}Z"


def line(payload: bytes, received_at: str) -> bytes:
    """The segment line of one delivery; `payload` is a JSON object's text without a newline."""
    return b"".join((_HEAD, received_at.encode("ascii"), _MID, payload, b"}\n"))


def parse_line(data: bytes) -> LandedEvent | None:
    """The delivery a complete line (without its newline) holds, or None if it is not one."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    event, received_at = record.get("payload"), record.get("received_at")
    if not isinstance(event, dict) or not isinstance(received_at, str):
        return None
    if data.startswith(_HEAD) and data[_PAYLOAD_AT - len(_MID):_PAYLOAD_AT] == _MID:
        raw = data[_PAYLOAD_AT:-1]  # the sender's exact text (big integers, key order, spacing)
    else:
        raw = orjson.dumps(event)
    return LandedEvent(received_at=received_at, event=event, raw=raw)


def segment_name(seq: int, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%f}Z-{os.getpid()}-{seq:06d}{OPEN}"


def staging_name(open_name: str) -> str:
    """Where a segment is created and locked before it takes its `.open` name."""
    return f".{open_name}.new"


def sealed_name(open_name: str) -> str:
    return open_name[: -len(OPEN)] + SEALED


def fsync_dir(directory: Path | int) -> None:
    if isinstance(directory, int):
        os.fsync(directory)
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_length(data: bytes) -> int:
    """Length of the longest prefix of whole, valid lines: a torn or garbled tail (a crash mid-write,
    zeros after a power cut) is cut. Lines before the last valid one are kept as they are."""
    end = data.rfind(b"\n") + 1
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        if parse_line(data[start:end - 1]) is not None:
            return end
        end = start
    return 0


def seal_file(path: Path, fd: int) -> Path | None:
    """Cut a torn tail, fsync and rename `path` (whose open, locked descriptor is `fd`) to its sealed
    name; an empty segment is deleted instead. Returns the sealed path, or None if nothing was kept."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    data = b"".join(chunks)
    keep = durable_length(data)
    if keep != len(data):
        log.warning("segment %s: cut a torn tail of %d bytes (never acknowledged)", path.name, len(data) - keep)
        os.ftruncate(fd, keep)
    if keep == 0:
        os.unlink(path)
        fsync_dir(path.parent)
        return None
    os.fsync(fd)
    target = path.with_name(sealed_name(path.name))
    os.rename(path, target)
    fsync_dir(path.parent)
    return target


def seal_abandoned(directory: Path) -> list[Path]:
    """Seal every `.open` segment whose receiver is gone (its lock is free). Returns the sealed paths."""
    done: list[Path] = []
    for staging in Path(directory).glob(f".*{OPEN}.new"):  # a receiver killed while creating a segment
        _remove_if_unlocked(staging)
    for path in sorted(Path(directory).glob(f"*{OPEN}")):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:  # sealed meanwhile by its receiver
            continue
        except PermissionError:  # another user's receiver: it seals its own when it restarts
            log.warning("segment %s left open: no permission to seal it", path.name)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live receiver is writing it
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its receiver sealed it between our open and our lock
                continue
            sealed_path = seal_file(path, fd)
            if sealed_path is not None:
                log.info("sealed abandoned segment %s", sealed_path.name)
                done.append(sealed_path)
        finally:
            os.close(fd)
    return done


def _remove_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino == os.stat(path).st_ino and os.fstat(fd).st_size == 0:
            os.unlink(path)
    except (BlockingIOError, FileNotFoundError):
        pass
    finally:
        os.close(fd)


def sealed(directory: Path) -> list[Path]:
    """Sealed segments, oldest first. They never change until `remove`."""
    return sorted(Path(directory).glob(f"*{SEALED}"))


def live(directory: Path) -> list[Path]:
    """Segments a receiver is still appending to (after `seal_abandoned`, only live receivers' ones)."""
    return sorted(Path(directory).glob(f"*{OPEN}"))


def read(path: Path) -> Iterator[LandedEvent]:
    """The deliveries of one segment in landing order. Only whole lines are read: in a live segment a
    line being written is left for the next read. A garbled line (which the writer never leaves) is
    skipped with a warning."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    end = data.rfind(b"\n") + 1
    start = 0
    while start < end:
        stop = data.index(b"\n", start)
        chunk = data[start:stop]
        start = stop + 1
        if not chunk:
            continue
        landed = parse_line(chunk)
        if landed is None:
            log.warning("segment %s: skipped a line that is not a landed delivery", Path(path).name)
            continue
        yield landed


def remove(paths: Iterable[Path]) -> int:
    """Delete sealed segments (after the load holding them is committed). Missing ones are fine."""
    removed = 0
    parents: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.name.endswith(SEALED):
            raise ValueError(f"{path.name} is not a sealed segment")
        try:
            path.unlink()
            removed += 1
            parents.add(path.parent)
        except FileNotFoundError:
            continue
    for parent in parents:
        fsync_dir(parent)
    return removed


def ready(directory: Path) -> list[Path]:
    """What a load should take: abandoned segments sealed first, then every sealed segment, oldest first.
    A missing folder has nothing ready."""
    if not Path(directory).is_dir():
        return []
    seal_abandoned(directory)
    return sealed(directory)
