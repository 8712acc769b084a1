"""The receiver's ASGI app: `POST /webhooks/returning-ai` lands a delivery, `GET /healthz` (Starlette).

Answers, in the order they are checked:
- 401 the `x-api-key` header is missing or wrong (when a key is configured);
- 413 the body is over 1 MiB (by `Content-Length`, or by counting while reading: at most 1 MiB of body
  is ever kept, reading stops at the chunk that passes it);
- 400 the body is not JSON, an `x-encrypted: true` body cannot be decrypted (or no AES key is set), or
  the event is not an object with string `id` and `event`;
- 503 the landing folder cannot be written (or too much already waits for the disk): retry later;
- 200 (empty body) the delivery is durable on disk (written and fsynced);
- `GET /healthz`: 200 `{"status": "ok"}`, or 503 while the landing folder cannot be written.
A refusal is logged with its reason and the sender's address, never with the body or a key. A plain
delivery is accepted when an AES key is set too (the key check is what authenticates). Redeliveries
are landed again, each as its own line: duplicates are merged away by `id` at load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from webhooks import segments
from webhooks.auth import KeyCheck
from webhooks.config import WebhookSettings
from webhooks.crypto import Decryptor, Undecryptable
from webhooks.landing import Landing, LandingBusy, LandingError

log = logging.getLogger("webhooks.app")

PATH = "/webhooks/returning-ai"
MAX_BODY = 1 << 20
_JSON = "application/json"


def _json(status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, list, bytes]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    return status, headers, body


def _answer(status: int, message: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, list, bytes]:
    return _json(status, orjson.dumps({"status": status, "message": message}), extra)


_CLOSE = [(b"connection", b"close")]
# 200 with no body: uvicorn writes a response's head and its body with one send each; an empty body
# saves the second (about a tenth of the receiver's CPU per delivery)
_LANDED_ANSWER = (200, [(b"content-length", b"0")], b"")


def _event_of(body: bytes, parsed: object) -> tuple[bytes | None, str | None]:
    """The JSON text to land and None, or None and the reason the event is refused."""
    if not isinstance(parsed, dict):
        return None, "the event is not a JSON object"
    for name in ("id", "event"):
        value = parsed.get(name)
        if not isinstance(value, str) or not value:
            return None, f"the event has no {name!r} string"
    text = body.strip()
    if b"\n" in text:  # one line per delivery: re-serialise a pretty-printed body
        text = orjson.dumps(parsed)
    return text, None


class _Disconnected(Exception):
    """The sender hung up before its body was complete."""


class DeliveryEndpoint:
    """`POST /webhooks/returning-ai` at the ASGI level (the hot path: no Request/Response objects)."""

    def __init__(self, key_check: KeyCheck, aes_key: bytes | None, landing: Landing) -> None:
        self.key_check = key_check
        self.decryptor = Decryptor(aes_key) if aes_key else None
        self.landing = landing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self.handle(scope, receive)
        except _Disconnected:
            log.warning("delivery abandoned: the sender closed the connection mid-body")
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def refuse(self, scope: Scope, status: int, reason: str,
               extra: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, list, bytes]:
        client = scope.get("client")
        log.warning("refused delivery from %s: %d %s", client[0] if client else "?", status, reason)
        return _answer(status, reason, extra)

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, list, bytes]:
        api_key = declared = encrypted = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value if api_key is None else api_key
            elif name == b"content-length":
                declared = value
            elif name == b"x-encrypted":
                encrypted = value
        if not self.key_check.accepts(api_key):
            return self.refuse(scope, 401, "missing or wrong x-api-key")
        if declared is not None:
            try:
                too_big = int(declared) > MAX_BODY
            except ValueError:
                return self.refuse(scope, 400, "Content-Length is not a number")
            if too_big:
                return self.refuse(scope, 413, "body over 1 MiB", _CLOSE)
        body = await _read_body(receive)
        if body is None:
            return self.refuse(scope, 413, "body over 1 MiB", _CLOSE)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self.refuse(scope, 400, "body is not JSON")
        if encrypted is not None and encrypted.strip().lower() == b"true":
            if self.decryptor is None:
                return self.refuse(scope, 400, "encrypted delivery but RETURNING_WEBHOOK_AES_KEY is not set")
            try:
                body = self.decryptor.decrypt(parsed)
                parsed = orjson.loads(body)
            except Undecryptable as exc:
                return self.refuse(scope, 400, f"cannot decrypt: {exc}")
            except orjson.JSONDecodeError:
                return self.refuse(scope, 400, "decrypted body is not JSON")
        text, reason = _event_of(body, parsed)
        if text is None:
            return self.refuse(scope, 400, reason or "bad event")
        try:
            await self.landing.land(segments.line(text, segments.stamp()))
        except LandingBusy as exc:
            return self.refuse(scope, 503, f"landing busy: {exc}", [(b"retry-after", b"1")])
        except LandingError as exc:
            # the landing logs the folder's failure once per episode; each 503 is not logged again
            return _answer(503, str(exc), [(b"retry-after", b"5")])
        return _LANDED_ANSWER


async def _read_body(receive: Receive) -> bytes | None:
    """The body, or None once it passes MAX_BODY (reading stops at the chunk that passes it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def create_app(settings: WebhookSettings, landing: Landing | None = None) -> Receiver:
    """The app for `settings`; `landing` (started and closed with the app) defaults to one on its folder."""
    store = landing or Landing(settings.directory)
    endpoint = DeliveryEndpoint(KeyCheck(settings.api_key), settings.aes_key, store)

    async def healthz(request: Request) -> Response:
        if not store.healthy:  # failing: look again now rather than report the last batch's failure
            with contextlib.suppress(LandingError):
                await asyncio.wrap_future(store.probe())
        if store.healthy:
            return Response(orjson.dumps({"status": "ok"}), media_type=_JSON)
        return Response(orjson.dumps({"status": 503, "message": "landing folder cannot be written"}),
                        status_code=503, media_type=_JSON)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.start()
        try:
            yield
        finally:
            await asyncio.to_thread(store.close)

    app = Starlette(routes=[Route(PATH, endpoint, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
                    lifespan=lifespan)
    app.state.landing = store
    return Receiver(app, endpoint)


class Receiver:
    """The Starlette app, with `POST /webhooks/returning-ai` dispatched straight to its endpoint: Starlette's
    middleware and routing would cost about as much CPU per delivery as the endpoint itself. Everything
    else (lifespan, `/healthz`, 404 and 405 answers) is Starlette's."""

    def __init__(self, app: Starlette, endpoint: DeliveryEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
