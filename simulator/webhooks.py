"""Delivery of outgoing webhook events (contract 9) to one registered receiver.

`POST /__sim/webhooks` registers a receiver; from then on the world records events (`events.py`) and
background asyncio tasks POST each one (one event per request) with an httpx client: plain JSON, or the
AES-256-GCM/CBC envelope with `x-encrypted: true`; `x-api-key` when a key is set. A 2xx acknowledges; any
other answer or a connection error is retried with capped exponential back-off. A seeded share of events is
delivered a second time after its acknowledgement; with several deliveries in flight and retries, the
receiver sees events out of order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from simulator.world import World

MODES = (None, "gcm", "cbc")

try:  # httpcore imports sniffio on every request; when it is absent each miss is a full import search
    import sniffio  # noqa: F401  (~0.4 ms): remember the miss so httpcore falls back to asyncio at once
except ImportError:
    sys.modules.setdefault("sniffio", None)  # type: ignore[assignment]


def seal(plain: bytes, key: bytes, mode: str) -> bytes:
    """The encrypted body `{"iv": <base64>, "data": <base64>}` of contract 9."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if mode == "gcm":
        iv = os.urandom(12)
        data = AESGCM(key).encrypt(iv, plain, None)  # ciphertext followed by the 16-byte tag
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        data = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    return orjson.dumps({"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()})


@dataclass
class Receiver:
    url: str
    key: str | None = None
    aes_key: str | None = None
    mode: str | None = None
    retry_base_ms: float = 500
    retry_max_ms: float = 30_000
    duplicate_rate: float = 0.05
    concurrency: int = 8
    timeout_s: float = 10
    give_up_after_s: float = 86_400

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Receiver:
        """From a register body; ValueError on a bad value."""
        known = set(cls.__dataclass_fields__)
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {sorted(known)}")
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        r = cls(url)
        for name in ("key", "aes_key"):
            v = body.get(name)
            if v is not None and (not isinstance(v, str) or not v):
                raise ValueError(f"{name} must be a non-empty string or null")
            setattr(r, name, v)
        r.mode = body.get("mode")
        if r.mode not in MODES:
            raise ValueError("mode must be gcm, cbc or null")
        if r.mode and (r.aes_key is None or len(r.aes_key) != 32 or not r.aes_key.isascii()):
            raise ValueError("aes_key must be 32 ASCII characters when mode is set")
        for name, lo, hi in (("retry_base_ms", 0, 3_600_000), ("retry_max_ms", 0, 86_400_000),
                             ("duplicate_rate", 0, 1), ("concurrency", 1, 256), ("timeout_s", 0.01, 600),
                             ("give_up_after_s", 0, 86_400 * 7)):
            if name in body:
                v = body[name]
                if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                    raise ValueError(f"{name} must be a number in [{lo}, {hi}]")
                setattr(r, name, int(v) if name == "concurrency" else v)
        return r

    def public(self) -> dict[str, Any]:
        """The settings, keys left out."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("key", "aes_key")}
        return {**out, "key_set": self.key is not None, "aes_key_set": self.aes_key is not None}


@dataclass
class Delivery:
    index: int  # the event's position in World.events
    duplicate: bool = False
    attempt: int = 0
    first_try: float = field(default_factory=time.monotonic)


class Webhooks:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.receiver: Receiver | None = None
        self.generation = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self.events: list[dict[str, Any]] | None = None  # the world's list, while registered
        self.upto = 0  # events handed to the queue
        self.queue: asyncio.Queue[Delivery] | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.client: httpx.AsyncClient | None = None
        self.pending: dict[int, int] = {}  # event index -> deliveries still owed (original and duplicate)
        self.acked: set[int] = set()
        self.dup_planned: set[int] = set()
        self.counts = {"attempts": 0, "failed_attempts": 0, "duplicates_delivered": 0, "abandoned": 0,
                       "in_flight": 0}
        self.by_status: dict[str, int] = {}
        self.last_error: str | None = None
        self.rng = random.Random(self.seed * 31 + 5)
        self.idle: asyncio.Event | None = None

    # ---- registration ----------------------------------------------------------------------------
    def register(self, world: World, receiver: Receiver) -> dict[str, Any]:
        """Start (or re-point) delivery; must run inside the server's event loop."""
        if self.receiver is not None and self.events is world.events:  # re-register: keep the queue
            self.receiver = receiver
            self._restart_client()
            return self.status(world)
        self.stop()
        world.record_events = True
        self.receiver = receiver
        self.events = world.events
        self.upto = len(world.events)  # events recorded before (by an earlier receiver) are not resent
        self.queue = asyncio.Queue()
        self.idle = asyncio.Event()
        self.idle.set()
        self._restart_client()
        return self.status(world)

    def _restart_client(self) -> None:
        assert self.receiver is not None and self.queue is not None
        for t in self.tasks:
            t.cancel()
        old = self.client
        if old is not None:
            asyncio.get_running_loop().create_task(old.aclose())
        n = self.receiver.concurrency
        self.client = httpx.AsyncClient(timeout=self.receiver.timeout_s, trust_env=False,
                                        limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._work(self.generation)) for _ in range(n)]

    def stop(self) -> None:
        """Forget the receiver and everything owed to it (reset, unregister)."""
        self.generation += 1
        for t in self.tasks:
            t.cancel()
        if self.client is not None:
            with contextlib.suppress(RuntimeError):  # no loop running (a Sim built outside a server)
                asyncio.get_running_loop().create_task(self.client.aclose())
        self.receiver = None
        self._reset_state()

    # ---- queueing ----------------------------------------------------------------------------------
    def _duplicated(self, event_id: str) -> bool:
        assert self.receiver is not None
        h = int.from_bytes(hashlib.sha256(f"{self.seed}:{event_id}".encode()).digest()[:8], "big")
        return h / 2**64 < self.receiver.duplicate_rate

    def pump(self, world: World) -> int:
        """Queue the events recorded since the last call; returns how many."""
        if self.receiver is None or self.queue is None or world.events is not self.events:
            return 0
        events = self.events
        new = range(self.upto, len(events))
        for i in new:
            owed = 1
            if self._duplicated(events[i]["id"]):
                self.dup_planned.add(i)
                owed = 2
            self.pending[i] = owed
            self.queue.put_nowait(Delivery(i))
        self.upto = len(events)
        if self.pending and self.idle is not None:
            self.idle.clear()
        return len(new)

    def _settle(self, index: int, n: int = 1) -> None:
        left = self.pending.get(index, 0) - n
        if left > 0:
            self.pending[index] = left
        else:
            self.pending.pop(index, None)
        if not self.pending and self.idle is not None:
            self.idle.set()

    # ---- delivery ----------------------------------------------------------------------------------
    def _request(self, index: int) -> tuple[bytes, dict[str, str]]:
        r = self.receiver
        assert r is not None and self.events is not None
        plain = orjson.dumps(self.events[index])
        headers = {"content-type": "application/json"}
        if r.key is not None:
            headers["x-api-key"] = r.key
        if r.mode:
            assert r.aes_key is not None
            return seal(plain, r.aes_key.encode("ascii"), r.mode), {**headers, "x-encrypted": "true"}
        return plain, headers

    async def _work(self, generation: int) -> None:
        while generation == self.generation:
            assert self.queue is not None and self.client is not None
            d = await self.queue.get()
            self.counts["in_flight"] += 1
            try:
                ok = await self._send(d)
            except asyncio.CancelledError:
                self.queue.put_nowait(d)  # re-pointed or stopped mid-request: deliver again
                raise
            finally:
                self.counts["in_flight"] -= 1
            if generation != self.generation:
                return
            self._after(d, ok)

    async def _send(self, d: Delivery) -> bool:
        assert self.client is not None and self.receiver is not None
        content, headers = self._request(d.index)
        d.attempt += 1
        self.counts["attempts"] += 1
        try:
            resp = await self.client.post(self.receiver.url, content=content, headers=headers)
        except httpx.HTTPError as e:
            self.last_error = f"{type(e).__name__}: {e}"
            self.by_status["error"] = self.by_status.get("error", 0) + 1
            return False
        code = str(resp.status_code)
        self.by_status[code] = self.by_status.get(code, 0) + 1
        if 200 <= resp.status_code < 300:
            return True
        self.last_error = f"HTTP {resp.status_code}"
        return False

    def _after(self, d: Delivery, ok: bool) -> None:
        assert self.receiver is not None and self.queue is not None
        if ok:
            if d.duplicate:
                self.counts["duplicates_delivered"] += 1
            else:
                self.acked.add(d.index)
                if d.index in self.dup_planned:  # the platform redelivers an acknowledged event
                    self.queue.put_nowait(Delivery(d.index, duplicate=True))
            self._settle(d.index)
            return
        self.counts["failed_attempts"] += 1
        if time.monotonic() - d.first_try > self.receiver.give_up_after_s:
            self.counts["abandoned"] += 1
            self._settle(d.index, 1 if d.duplicate or d.index not in self.dup_planned else 2)
            return
        delay = min(self.receiver.retry_max_ms, self.receiver.retry_base_ms * 2 ** min(d.attempt - 1, 30))
        delay *= 0.5 + self.rng.random() / 2
        generation, queue = self.generation, self.queue
        asyncio.get_running_loop().call_later(delay / 1000, lambda: generation == self.generation and
                                              queue.put_nowait(d))

    # ---- status ------------------------------------------------------------------------------------
    async def flush(self, world: World, timeout_s: float) -> dict[str, Any]:
        """Wait until nothing is owed (every event acknowledged, duplicates sent) or the timeout passes."""
        self.pump(world)
        done = True
        if self.idle is not None:
            try:
                await asyncio.wait_for(self.idle.wait(), timeout_s)
            except TimeoutError:
                done = False
        return {"done": done and not self.pending, **self.status(world)}

    def status(self, world: World) -> dict[str, Any]:
        """Counts of the deliveries: `pending` counts deliveries still owed (duplicates included)."""
        return {
            "registered": self.receiver is not None,
            "receiver": self.receiver.public() if self.receiver else None,
            "generated": len(world.events),
            "acknowledged": len(self.acked),
            "pending": sum(self.pending.values()),
            "pending_events": len(self.pending),
            "pending_ids": [self.events[i]["id"] for i in sorted(self.pending)[:100]] if self.events else [],
            "duplicates_planned": len(self.dup_planned),
            **self.counts,
            "by_status": dict(self.by_status),
            "last_error": self.last_error,
        }
