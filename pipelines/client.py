"""`ReturningClient`: one pooled httpx client per surface, the rate limiter and the retry layer
around every read, envelope unwrapping, pagination (sequential or concurrent once the total is
known) and the never-retried writes (CSV uploads)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from pipelines.config import Settings, missing_key
from pipelines.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    ConfigError,
    ContractError,
    PermissionDenied,
    SendFailed,
    scrub,
)
from pipelines.pagination import first_request, read_page, total_of
from pipelines.ratelimit import RateLimiter, retry_after
from pipelines.registry import Endpoint
from pipelines.retry import RETRYABLE_STATUS, Retryable, RetryPolicy, RetryStats, with_retries

T = TypeVar("T")
R = TypeVar("R")
USER_AGENT = "returning-sync/0.1 (+dlt)"
_local = threading.local()


@dataclass
class EndpointStats:
    requests: int = 0  # HTTP attempts, retries included
    pages: int = 0
    records: int = 0
    retries: int = 0
    uncursored: int = 0  # records without the endpoint's cursor field (a cursor that cannot advance)


@dataclass
class ClientStats:
    by_endpoint: dict[str, EndpointStats] = field(default_factory=dict)
    retry: RetryStats = field(default_factory=RetryStats)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self, endpoint: str, **deltas: int) -> None:
        with self.lock:
            s = self.by_endpoint.setdefault(endpoint, EndpointStats())
            for name, delta in deltas.items():
                setattr(s, name, getattr(s, name) + delta)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.by_endpoint.values())

    def cursor_counts(self) -> dict[str, tuple[int, int]]:
        """Per endpoint: (records read, records without the cursor field), for `overrides.stalled_cursors`."""
        with self.lock:
            return {name: (s.records, s.uncursored) for name, s in self.by_endpoint.items()}


def _uncursored(ep: Endpoint, records: list[dict[str, Any]]) -> int:
    """How many of `records` lack the endpoint's cursor field (0 for an endpoint without one)."""
    cursor = ep.fields.get("cursor")
    return sum(1 for r in records if r.get(cursor) is None) if cursor else 0


def server_message(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.reason_phrase or ""
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("message", "detail") if body.get(k)]
        return scrub("; ".join(parts))[:300]
    return ""


class ReturningClient:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit, sleep=sleep)
        self.stats = ClientStats()
        self.policy = RetryPolicy(settings.max_attempts, settings.backoff_base, settings.backoff_max, sleep=sleep)
        limits = httpx.Limits(max_connections=settings.concurrency * 2, max_keepalive_connections=settings.concurrency * 2)
        headers = {"Authorization": f"Bearer {settings.api_key}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        self._http: dict[str, httpx.Client] = {}
        for surface in ("integration", "partner", "application"):
            self._http[surface] = httpx.Client(
                base_url=settings.base_url(surface), headers=headers, timeout=settings.timeout,
                limits=limits, transport=transport,
            )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReturningClient(integration={self.settings.integration_url!r})"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ReturningClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for http in self._http.values():
            http.close()

    # -- reads -------------------------------------------------------------------------------
    def request_json(
        self, endpoint: str, *, path_params: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, json: Any = None,
    ) -> Any:
        """Call `endpoint` once (`read_payload`) and return the envelope's `data`."""
        payload = self.read_payload(endpoint, path_params=path_params, params=params, json=json)
        if not isinstance(payload, dict) or "data" not in payload:
            raise ContractError(endpoint, "response lacks 'data'", missing="data")
        return payload["data"]

    def read_payload(
        self, endpoint: str, *, path_params: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, json: Any = None,
    ) -> Any:
        """The full response body of one call of `endpoint`, envelope included (reads retried,
        writes sent once)."""
        ep = self.settings.endpoint(endpoint)
        return self._read(ep, path_params, params, json) if ep.read else self._write(ep, path_params, params, json)

    def paginate(
        self, endpoint: str, *, path_params: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, json: Any = None, page_size: int | None = None,
        sequential: bool = False, first: Callable[[Any], None] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages of records of `endpoint`, in order. Once page 1 reveals the total, the
        remaining pages are fetched concurrently (bounded by `settings.concurrency`), unless
        `sequential` (a walk the caller may stop early). `first` is handed page 1's whole body
        (what it states about the walk: the total, `found`)."""
        ep = self.settings.endpoint(endpoint)
        base = first_request(ep, page_size)
        payload = self._read(ep, path_params, *_place(ep, params, json, base))
        page = read_page(ep, payload, 1)
        if first is not None:
            first(payload)
        self.stats.bump(ep.name, pages=1, records=len(page.records), uncursored=_uncursored(ep, page.records))
        yield page.records
        if page.remaining and not sequential:
            def fetch(task: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
                number, extra = task
                body = self._read(ep, path_params, *_place(ep, params, json, {**base, **extra}))
                got = read_page(ep, body, number)
                self.stats.bump(ep.name, pages=1, records=len(got.records), uncursored=_uncursored(ep, got.records))
                return got.records
            yield from self.map_ordered(fetch, list(enumerate(page.remaining, start=2)))
            return
        number = 1
        if page.remaining:  # sequential walk over pages announced by page 1
            for number, extra in enumerate(page.remaining, start=2):
                body = self._read(ep, path_params, *_place(ep, params, json, {**base, **extra}))
                got = read_page(ep, body, number)
                self.stats.bump(ep.name, pages=1, records=len(got.records), uncursored=_uncursored(ep, got.records))
                yield got.records
                if got.done and not got.records:
                    return
            # records that arrived during the walk (a newest-first list grows at its front) pushed
            # others past the pages page 1 announced: follow the last page's own next page
            page = got
        seen: set[str] = set()
        while not page.done and page.next_request:
            marker = repr(sorted(page.next_request.items()))
            if marker in seen:
                raise ContractError(ep.name, f"pagination repeats itself ({marker})", number)
            seen.add(marker)
            number += 1
            payload = self._read(ep, path_params, *_place(ep, params, json, {**base, **page.next_request}))
            page = read_page(ep, payload, number)
            self.stats.bump(ep.name, pages=1, records=len(page.records), uncursored=_uncursored(ep, page.records))
            yield page.records

    def count(
        self, endpoint: str, *, path_params: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, json: Any = None,
    ) -> int:
        """How many records `endpoint` holds for these filters (one smallest-page call)."""
        ep = self.settings.endpoint(endpoint)
        payload = self._read(ep, path_params, *_place(ep, params, json, first_request(ep, 1)))
        return total_of(ep, payload)

    # -- concurrency -------------------------------------------------------------------------
    def map_ordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """`map(fn, items)` on the client's pool (bounded, lazily submitted), results in order.
        Called from inside the pool it runs inline, so nested fan-outs never deadlock."""
        if getattr(_local, "in_pool", False) or self.settings.concurrency == 1:
            for item in items:
                yield fn(item)
            return
        pool = self._executor()
        window: deque[Future[R]] = deque()
        source = iter(items)
        try:
            for item in source:
                window.append(pool.submit(fn, item))
                if len(window) >= self.settings.concurrency * 2:
                    break
            while window:
                result = window.popleft().result()
                nxt = next(source, _END)
                if nxt is not _END:
                    window.append(pool.submit(fn, nxt))
                yield result
        finally:
            for fut in window:
                fut.cancel()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.concurrency, thread_name_prefix="returning",
                    initializer=_mark_pool_thread,
                )
            return self._pool

    # -- writes (never retried) --------------------------------------------------------------
    def upload_csv(self, endpoint: str, *, filename: str, content: bytes) -> dict[str, Any]:
        """POST a CSV as the multipart part `data`. Never retried: a timeout or lost connection
        after sending raises AmbiguousWriteError."""
        ep = self.settings.endpoint(endpoint)
        files = {ep.name_for("file_part"): (filename, content, "text/csv")}
        payload = self._write(ep, None, None, None, files=files)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise ContractError(ep.name, "response lacks object 'data'")
        return data

    def _write(
        self, ep: Endpoint, path_params: dict[str, Any] | None, params: dict[str, Any] | None,
        json: Any, *, files: dict[str, Any] | None = None,
    ) -> Any:
        http = self._http[ep.surface]
        url = self._path(ep, path_params)
        try:
            with self.limiter.sending():
                self.stats.bump(ep.name, requests=1)
                resp = http.request(ep.method, url, params=_query(params), json=json, files=files)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SendFailed(ep.name, type(exc).__name__) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise AmbiguousWriteError(ep.name, type(exc).__name__) from None
        self.limiter.observe(resp.status_code, resp.headers)
        self._raise_auth(ep, resp)
        if resp.status_code == 429:
            wait = retry_after(resp.headers)
            raise ApiError(ep.name, 429, f"rate limited, the request was not processed; retry after {wait or 1:g} s")
        if resp.status_code >= 500:
            raise AmbiguousWriteError(ep.name, f"HTTP {resp.status_code}: {server_message(resp)}")
        if resp.status_code >= 400:
            raise ApiError(ep.name, resp.status_code, server_message(resp))
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise AmbiguousWriteError(ep.name, "the response body was unreadable") from None

    # -- the one sending layer for reads -----------------------------------------------------
    def _read(
        self, ep: Endpoint, path_params: dict[str, Any] | None, params: dict[str, Any] | None, json: Any,
    ) -> dict[str, Any]:
        http = self._http[ep.surface]
        url = self._path(ep, path_params)
        query = _query(params)

        def send() -> dict[str, Any]:
            try:
                with self.limiter.sending():
                    self.stats.bump(ep.name, requests=1)
                    resp = http.request(ep.method, url, params=query, json=json)
            except httpx.TimeoutException as exc:
                raise Retryable(f"timeout: {type(exc).__name__}") from None
            except httpx.TransportError as exc:
                raise Retryable(f"connection: {type(exc).__name__}: {scrub(str(exc))[:120]}") from None
            self.limiter.observe(resp.status_code, resp.headers)
            self._raise_auth(ep, resp)
            if resp.status_code in RETRYABLE_STATUS:
                # a 429's Retry-After is held by the limiter for every thread; a 5xx's is honoured here
                hinted = retry_after(resp.headers)
                wait = 0.0 if resp.status_code == 429 else (min(hinted, self.policy.cap) if hinted is not None else None)
                raise Retryable(f"HTTP {resp.status_code}: {server_message(resp)[:120]}", wait=wait)
            if resp.status_code >= 400:
                raise ApiError(ep.name, resp.status_code, server_message(resp))
            try:
                payload = orjson.loads(resp.content)
            except orjson.JSONDecodeError as exc:
                raise Retryable(f"truncated body: {exc}") from None
            if not isinstance(payload, dict):
                raise ContractError(ep.name, "response body is not a JSON object")
            if payload.get("status") == "error":
                raise ApiError(ep.name, resp.status_code, str(payload.get("message", "")))
            return payload

        before = self.stats.retry.retries
        try:
            return with_retries(send, endpoint=ep.name, policy=self.policy, stats=self.stats.retry)
        finally:
            if self.stats.retry.retries != before:
                self.stats.bump(ep.name, retries=self.stats.retry.retries - before)

    def _raise_auth(self, ep: Endpoint, resp: httpx.Response) -> None:
        key_from = self.settings.origins.get("api_key")  # `RETURNING_AI_API_KEY in the environment`
        if resp.status_code == 401:
            message = server_message(resp)
            if "permission" in message.lower():  # newer servers fold 403 into 401
                raise PermissionDenied(ep.name, ep.permission, message, key_from)
            raise AuthError(ep.name, message, ep.permission, key_from)
        if resp.status_code == 403:
            raise PermissionDenied(ep.name, ep.permission, server_message(resp), key_from)

    def _path(self, ep: Endpoint, path_params: dict[str, Any] | None) -> str:
        """The request's path; every call is built here, so a client without a key stops here."""
        if not self.settings.api_key:
            raise missing_key(ep.name)
        values = dict(path_params or {})
        if "{communityId}" in ep.path and "communityId" not in values:
            if not self.settings.community_id:
                raise ConfigError(f"RETURNING_AI_COMMUNITY_ID is not set; {ep.name} needs it in its path")
            values["communityId"] = self.settings.community_id
        try:
            return ep.path.format(**{k: quote(str(v), safe="") for k, v in values.items()})
        except KeyError as exc:
            raise ConfigError(f"{ep.name} needs the path parameter {exc.args[0]}") from None


_END = object()


def _mark_pool_thread() -> None:
    _local.in_pool = True


def _query(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _place(
    ep: Endpoint, params: dict[str, Any] | None, json: Any, extra: dict[str, Any]
) -> tuple[dict[str, Any] | None, Any]:
    """Pagination parameters go into the JSON body of POST reads, the query string otherwise."""
    if ep.method == "POST":
        body = dict(json or {})
        body.update(extra)
        return params, body
    return {**(params or {}), **extra}, json
