"""The durable landing: deliveries appended to segment files, acknowledged only once fsynced.

One writer thread owns the folder. Callers hand it a line (`await landing.land(line)` from the app,
`landing.submit(line)` from plain code) and wait; the thread takes everything queued meanwhile as one
batch, writes it, fsyncs, and only then settles the batch's futures (group commit: many deliveries
share one fsync, none is settled before its bytes are durable). If the write or the fsync fails the
whole batch fails (`LandingError`, the app answers 503), the segment is cut back to its last durable
byte before anything else is appended, and each following batch tries again: the landing recovers by
itself once the folder can be written.

Segments rotate by size and by age (the loader sees sealed ones within `segment_age` seconds); the
folder is looked up again for every batch, so a folder replaced or removed while the receiver runs
is noticed (the old segment is sealed where it lies, the new one is created in the folder by that name).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhooks import segments

log = logging.getLogger("webhooks.landing")

SEGMENT_BYTES = 64 << 20
SEGMENT_AGE_S = 15.0
MAX_PENDING_BYTES = 64 << 20
_STOP = object()
_SEAL = object()
_PROBE = object()
_FAILURE_LOG_EVERY_S = 10.0


class LandingError(Exception):
    """The delivery is not durable (the folder cannot be written, or the landing is stopped)."""


class LandingBusy(LandingError):
    """Too many bytes wait for the disk already; the sender should retry later."""


@dataclass(slots=True)
class _Item:
    payload: Any  # bytes, or _SEAL / _STOP
    future: Any  # asyncio.Future or concurrent.futures.Future
    loop: asyncio.AbstractEventLoop | None = None


@dataclass(slots=True)
class _Segment:
    name: str
    fd: int
    dirfd: int
    opened: float
    size: int = 0
    durable: int | None = None  # set after a failed append: the length to cut back to


@dataclass
class LandingStats:
    batches: int = 0
    deliveries: int = 0
    failed_batches: int = 0
    sealed: list[str] = field(default_factory=list)


class Landing:
    """Group-committing writer of landed deliveries into `directory` (see the module docstring).

    `write`, `fsync` and `clock` default to `os.write`, `os.fsync` and `time.monotonic`; tests pass
    failing ones to play a full disk, and their own clock to age segments."""

    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES, segment_age: float = SEGMENT_AGE_S,
                 max_pending_bytes: int = MAX_PENDING_BYTES,
                 write: Callable[[int, memoryview], int] = os.write,
                 fsync: Callable[[int], None] = os.fsync,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.segment_age = segment_age
        self.max_pending_bytes = max_pending_bytes
        self.stats = LandingStats()
        self._write = write
        self._fsync = fsync
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._seq = 0
        self._dirfd: int | None = None
        self._dir_id: tuple[int, int] | None = None
        self._seg: _Segment | None = None
        self._failing_since: float | None = None
        self._last_failure_log = 0.0
        self._refused_while_failing = 0

    # -- the callers' side -------------------------------------------------------------------------

    def start(self) -> None:
        """Seal what a killed receiver left open, then start the writer thread."""
        try:
            for path in segments.seal_abandoned(self.directory):
                self.stats.sealed.append(path.name)
        except OSError as exc:
            log.warning("landing folder %s not usable at start (deliveries answer 503 until it is): %s",
                        self.directory, exc)
        self._thread = threading.Thread(target=self._run, name="webhooks-landing", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Land what is queued, seal the current segment, stop the thread."""
        if self._thread is None or self._closed:
            return
        self._closed = True
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put(_Item(_STOP, done))
        self._thread.join(timeout)

    @property
    def healthy(self) -> bool:
        """False while the last batch could not be made durable."""
        return self._failing_since is None

    async def land(self, line: bytes) -> None:
        """Return once `line` is durable; raise `LandingError` if it could not be made so."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._enqueue(_Item(line, future, loop))
        await future

    def submit(self, line: bytes) -> concurrent.futures.Future[None]:
        """As `land`, for code without an event loop: the future settles once `line` is durable."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._enqueue(_Item(line, future))
        return future

    def seal(self) -> concurrent.futures.Future[Path | None]:
        """Seal the current segment now (after what is queued before it); the future holds its path."""
        future: concurrent.futures.Future[Path | None] = concurrent.futures.Future()
        self._enqueue(_Item(_SEAL, future))
        return future

    def probe(self) -> concurrent.futures.Future[None]:
        """Check that the folder can be written now (an empty append, fsynced); a success ends a failure
        episode even when no delivery comes (`/healthz` asks this while the landing is failing)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._enqueue(_Item(_PROBE, future))
        return future

    def _enqueue(self, item: _Item) -> None:
        if self._closed or self._thread is None:
            raise LandingError("the landing is not running")
        if isinstance(item.payload, bytes):
            with self._lock:
                if self._pending + len(item.payload) > self.max_pending_bytes and self._pending:
                    raise LandingBusy(f"{self._pending} bytes already wait for the disk")
                self._pending += len(item.payload)
        self._queue.put(item)

    # -- the writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        stopping: _Item | None = None
        while stopping is None:
            try:
                first = self._queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                self._seal_if_old()
                continue
            items = [first]
            while len(items) < 10_000:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch: list[_Item] = []
            for item in items:
                if isinstance(item.payload, bytes):
                    batch.append(item)
                    continue
                self._commit(batch)
                batch = []
                if item.payload is _SEAL:
                    self._control(item, self._seal_now)
                elif item.payload is _PROBE:
                    self._control(item, self._probe)
                else:
                    stopping = item
            self._commit(batch)
            self._seal_if_old()
        self._control(stopping, self._shutdown)
        while True:  # anything that slipped in while stopping is refused, not left waiting
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                break
            _settle([late], LandingError("the landing is stopped"))

    def _idle_timeout(self) -> float | None:
        if self._seg is None:
            return None
        return max(0.05, self._seg.opened + self.segment_age - self._clock())

    def _control(self, item: _Item, action: Callable[[], Any]) -> None:
        try:
            result = action()
        except OSError as exc:
            item.future.set_exception(LandingError(self._reason(exc)))
        else:
            item.future.set_result(result)

    def _commit(self, batch: list[_Item]) -> None:
        if not batch:
            return
        data = b"".join(item.payload for item in batch)
        error: LandingError | None = None
        try:
            self._append(data)
        except OSError as exc:
            error = LandingError(self._reason(exc))
            self._note_failure(exc, len(batch))
        except Exception:  # a bug: fail these deliveries (they are retried), keep the writer alive
            log.exception("landing failed unexpectedly; %d deliveries answered 503", len(batch))
            error = LandingError("the landing failed unexpectedly")
            if self._seg is not None and self._seg.durable is None:
                self._seg.durable = self._seg.size
        else:
            self._note_success()
            self.stats.batches += 1
            self.stats.deliveries += len(batch)
        with self._lock:
            self._pending -= len(data)
        _settle(batch, error)

    def _probe(self) -> None:
        try:
            self._append(b"")
        except OSError as exc:
            self._note_failure(exc, 0)
            raise
        self._note_success()

    def _reason(self, exc: OSError) -> str:
        where = f" ({Path(exc.filename).name})" if exc.filename and Path(exc.filename) != self.directory else ""
        return f"landing folder {self.directory} cannot be written: {exc.strerror or exc}{where}"

    def _note_success(self) -> None:
        if self._failing_since is not None:
            log.warning("landing folder %s writable again after %.1f s (%d deliveries answered 503)",
                        self.directory, self._clock() - self._failing_since, self._refused_while_failing)
            self._failing_since = None

    def _note_failure(self, exc: OSError, count: int) -> None:
        self.stats.failed_batches += 1
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
            self._refused_while_failing = 0
            self._last_failure_log = now
            log.warning("%s; answering 503 until it can", self._reason(exc))
        elif now - self._last_failure_log >= _FAILURE_LOG_EVERY_S:
            self._last_failure_log = now
            log.warning("%s; still (%d deliveries answered 503)", self._reason(exc), self._refused_while_failing)
        self._refused_while_failing += count

    def _append(self, data: bytes) -> None:
        self._check_directory()
        seg = self._seg
        if seg is not None and seg.durable is not None:
            os.ftruncate(seg.fd, seg.durable)  # drop whatever part of a failed batch reached the file
            self._fsync(seg.fd)
            seg.size, seg.durable = seg.durable, None
        if seg is not None and seg.size and (seg.size + len(data) > self.segment_bytes
                                             or self._clock() - seg.opened >= self.segment_age):
            self._seal_now()
        seg = self._seg or self._open_segment()
        view = memoryview(data)
        try:
            while view:
                written = self._write(seg.fd, view)
                view = view[written:]
            self._fsync(seg.fd)
        except OSError:
            seg.durable = seg.size
            raise
        seg.size += len(data)

    def _check_directory(self) -> None:
        """Find the folder by its name again; (re)open it if it is new, create it if it is missing."""
        try:
            st = os.stat(self.directory)
        except FileNotFoundError:
            os.makedirs(self.directory, exist_ok=True)
            st = os.stat(self.directory)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(self.directory))
        if (st.st_dev, st.st_ino) == self._dir_id:
            return
        if self._seg is not None:  # the folder was replaced: finish the old segment where it lies
            try:
                self._seal_now()
            except OSError as exc:
                log.warning("segment %s left open in the replaced folder: %s", self._seg.name if self._seg else "", exc)
                self._drop_segment()
        if self._dirfd is not None:
            os.close(self._dirfd)
            self._dirfd = self._dir_id = None
        self._dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dir_id = (st.st_dev, st.st_ino)

    def _open_segment(self) -> _Segment:
        """Create the next segment locked: made under a name no reader looks at, locked, then renamed,
        so a `.open` file is always either held by its receiver or abandoned."""
        assert self._dirfd is not None
        self._seq += 1
        name = segments.segment_name(self._seq)
        staging = segments.staging_name(name)
        # 0600: the events hold members' e-mail addresses
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600,
                     dir_fd=self._dirfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(staging, name, src_dir_fd=self._dirfd, dst_dir_fd=self._dirfd)
            self._fsync(self._dirfd)  # the new name is durable before any line in it is acknowledged
        except OSError:
            os.close(fd)
            for leftover in (staging, name):
                with contextlib.suppress(OSError):
                    os.unlink(leftover, dir_fd=self._dirfd)
            raise
        self._seg = _Segment(name=name, fd=fd, dirfd=self._dirfd, opened=self._clock())
        return self._seg

    def _seal_now(self) -> Path | None:
        """Rename the current segment to `.jsonl` (an empty one is deleted) and forget it."""
        seg = self._seg
        if seg is None:
            return None
        if seg.durable is not None:
            os.ftruncate(seg.fd, seg.durable)
            seg.size, seg.durable = seg.durable, None
        if seg.size == 0:
            os.unlink(seg.name, dir_fd=seg.dirfd)
            sealed = None
        else:
            self._fsync(seg.fd)
            target = segments.sealed_name(seg.name)
            os.rename(seg.name, target, src_dir_fd=seg.dirfd, dst_dir_fd=seg.dirfd)
            sealed = self.directory / target
            self.stats.sealed.append(target)
        self._fsync(seg.dirfd)
        self._drop_segment()
        return sealed

    def _drop_segment(self) -> None:
        if self._seg is not None:
            os.close(self._seg.fd)  # releases the lock: `seal_abandoned` may finish it later
            self._seg = None

    def _seal_if_old(self) -> None:
        seg = self._seg
        if seg is None or self._clock() - seg.opened < self.segment_age:
            return
        try:
            self._seal_now()
        except OSError as exc:  # retried every tick; logged as a failure episode, not every time
            self._note_failure(exc, 0)

    def _shutdown(self) -> None:
        try:
            self._seal_now()
        finally:
            self._drop_segment()
            if self._dirfd is not None:
                os.close(self._dirfd)
                self._dirfd = self._dir_id = None


def _settle(batch: list[_Item], error: LandingError | None) -> None:
    """Settle each delivery's future: plain ones here, each event loop's in one call on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for item in batch:
        if item.loop is None:
            if error is None:
                item.future.set_result(None)
            else:
                item.future.set_exception(LandingError(str(error)))
        else:
            by_loop.setdefault(item.loop, []).append(item.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_on_loop, futures, error)


def _settle_on_loop(futures: list[asyncio.Future[None]], error: LandingError | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(LandingError(str(error)))
