"""Reads started before a sync's heavy imports (dlt, pyarrow, DuckDB) have finished.

A sync spends its first second importing. The reads every run of the selected resources makes
first, with no state to consult (the custom-field definitions the users pass needs, the one-call
reference resources), do not have to wait: `start` sends them in background threads on a client of
their own, right after the settings are read. When the run's client later makes the same read
(same endpoint, path, query and body), `take` hands it that answer instead of sending again. Both
clients share one rate limiter, so the window the server reports is spent once.

An early read that failed with one of the client's own errors (401, 403, retries exhausted) gives
that error to the run, as its own read would; any other failure is forgotten and the run sends
the read itself. Nothing here runs unless `start` is called (the command line does).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from pipelines.config import Settings
    from pipelines.ratelimit import RateLimiter

_lock = threading.Lock()
_pending: dict[bytes, Future[Any]] = {}
_limiter: dict[str, RateLimiter] = {}  # one per key and host
_local = threading.local()
WAIT = 120.0  # an early read taken by the run is waited for at most this long


def key_of(endpoint: str, url: str, params: Any, json: Any) -> bytes:
    return orjson.dumps([endpoint, url, params, json], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _owner(settings: Settings) -> str:
    # the rate too: a run whose settings came out otherwise once dlt's providers were read keeps its own
    return f"{settings.integration_url}|{hash(settings.api_key)}|{settings.rate_limit}"


def shared_limiter(settings: Settings) -> RateLimiter | None:
    """The limiter of the early reads for these settings (a client built later adopts it)."""
    with _lock:
        return _limiter.get(_owner(settings))


def start(settings: Settings, endpoints: list[str]) -> None:
    """Send one read of each endpoint (no parameters) in the background."""
    if not endpoints:
        return
    futures = {name: Future[Any]() for name in endpoints}

    def work() -> None:
        from pipelines.client import ReturningClient
        from pipelines.ratelimit import RateLimiter

        with _lock:
            limiter = _limiter.setdefault(_owner(settings), RateLimiter(settings.rate_limit))
        client = ReturningClient(settings, limiter=limiter)
        _local.early = True
        try:
            threads = []
            for name, fut in futures.items():
                ep = settings.endpoint(name)
                with _lock:
                    _pending[key_of(ep.name, client._path(ep, None), None, None)] = fut
                thread = threading.Thread(target=_read, args=(client, name, fut), daemon=True,
                                          name=f"returning-early-{name}")
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
        except BaseException as exc:  # noqa: BLE001 - the run sends the reads itself
            for fut in futures.values():
                if not fut.done():
                    fut.set_exception(exc)
        finally:
            client.close()

    threading.Thread(target=work, daemon=True, name="returning-early").start()


def _read(client: Any, name: str, fut: Future[Any]) -> None:
    _local.early = True
    try:
        fut.set_result(client.read_payload(name))
    except BaseException as exc:  # noqa: BLE001 - handed to the run's read
        fut.set_exception(exc)


def waiting() -> bool:
    return bool(_pending)


def forget() -> None:
    """Drop the early reads no one took (the command calls it when its run ends)."""
    with _lock:
        _pending.clear()
        _limiter.clear()


def take(key: bytes) -> Any:
    """The answer of an early read with this key (once), or None: send it yourself."""
    if getattr(_local, "early", False):
        return None
    with _lock:
        fut = _pending.pop(key, None)
    if fut is None:
        return None
    from pipelines.errors import ReturningError

    try:
        return fut.result(timeout=WAIT)
    except ReturningError:
        raise
    except Exception:  # noqa: BLE001 - a failure of its own: the run reads again
        return None
