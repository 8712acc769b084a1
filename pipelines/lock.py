"""The warehouse directory's sync lock: one sync, Dagster run or `forget` writes at a time."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines.communities import Community
from pipelines.config import Settings
from pipelines.errors import ConfigError, SyncBusy

__all__ = ["lock_path", "sync_lock"]


def lock_path(settings: Settings) -> Path:
    """`sync.lock` for the default community, `sync__<slug>.lock` for another (`Community.lock_file`)."""
    return Community(settings.community, settings).lock_file


@contextmanager
def sync_lock(settings: Settings) -> Iterator[None]:
    """Hold the warehouse directory's sync lock; SyncBusy when another process keeps it longer
    than `settings.lock_wait` seconds."""
    path = lock_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # the first write beside the warehouse: say which setting is wrong
        raise ConfigError(f"RETURNING_WAREHOUSE {Path(settings.warehouse)} cannot be written "
                          f"({exc.strerror}: {exc.filename})") from None
    try:
        deadline = time.monotonic() + settings.lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                    raise SyncBusy(
                        f"another sync is already loading into {Path(settings.warehouse)} ({holder}); "
                        "wait for it to finish, or set RETURNING_SYNC_LOCK_WAIT to the seconds to wait"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


