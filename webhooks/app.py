"""The receiver's Starlette app: `POST /webhooks/returning-ai` lands a delivery, `GET /healthz`.

Answers, in the order they are checked:
- 401 the `x-api-key` header is missing or wrong (when a key is configured);
- 413 the body is over 1 MiB (by `Content-Length`, or by counting while reading: never more than
  1 MiB + 1 byte is held);
- 400 the body is not JSON, an `x-encrypted: true` body cannot be decrypted (or no AES key is set), or
  the event is not an object with string `id` and `event`;
- 503 the landing folder cannot be written (or too much already waits for the disk): retry later;
- 200 the delivery is durable on disk (written and fsynced).
A refusal is logged with its reason and the sender's address, never with the body or a key. A plain
delivery is accepted when an AES key is set too (the key check is what authenticates). Redeliveries
are landed again, each as its own line: duplicates are merged away by `id` at load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from webhooks import segments
from webhooks.auth import KeyCheck
from webhooks.config import WebhookSettings
from webhooks.crypto import Undecryptable, decrypt
from webhooks.landing import Landing, LandingBusy, LandingError

log = logging.getLogger("webhooks.app")

PATH = "/webhooks/returning-ai"
MAX_BODY = 1 << 20
_JSON = "application/json"
_LANDED = orjson.dumps({"status": "landed"})


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"status": status, "message": message}), status_code=status,
                    media_type=_JSON, headers=headers)


def _refuse(request: Request, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    client = request.client.host if request.client else "?"
    log.warning("refused delivery from %s: %d %s", client, status, reason)
    return _answer(status, reason, headers)


def _header(request: Request, name: bytes) -> bytes | None:
    for key, value in request.scope["headers"]:
        if key == name:
            return value
    return None


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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


def create_app(settings: WebhookSettings, landing: Landing | None = None) -> Starlette:
    """The app for `settings`; `landing` (started and closed with the app) defaults to one on its folder."""
    key_check = KeyCheck(settings.api_key)
    aes_key = settings.aes_key
    store = landing or Landing(settings.directory)

    async def receive(request: Request) -> Response:
        if not key_check.accepts(_header(request, b"x-api-key")):
            return _refuse(request, 401, "missing or wrong x-api-key")
        declared = _header(request, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > MAX_BODY
            except ValueError:
                return _refuse(request, 400, "Content-Length is not a number")
            if too_big:
                return _refuse(request, 413, "body over 1 MiB", {"connection": "close"})
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            log.warning("delivery abandoned: the sender closed the connection mid-body")
            return _answer(400, "incomplete body")
        if body is None:
            return _refuse(request, 413, "body over 1 MiB", {"connection": "close"})
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _refuse(request, 400, "body is not JSON")
        encrypted = (_header(request, b"x-encrypted") or b"").strip().lower() == b"true"
        if encrypted:
            if aes_key is None:
                return _refuse(request, 400, "encrypted delivery but RETURNING_WEBHOOK_AES_KEY is not set")
            try:
                body = decrypt(parsed, aes_key)
                parsed = orjson.loads(body)
            except Undecryptable as exc:
                return _refuse(request, 400, f"cannot decrypt: {exc}")
            except orjson.JSONDecodeError:
                return _refuse(request, 400, "decrypted body is not JSON")
        text, reason = _event_of(body, parsed)
        if text is None:
            return _refuse(request, 400, reason or "bad event")
        try:
            await store.land(segments.line(text, segments.stamp()))
        except LandingBusy as exc:
            return _refuse(request, 503, f"landing busy: {exc}", {"retry-after": "1"})
        except LandingError as exc:
            # the landing logs the folder's failure once per episode; each 503 is not logged again
            return _answer(503, str(exc), {"retry-after": "5"})
        return Response(_LANDED, status_code=200, media_type=_JSON)

    async def healthz(request: Request) -> Response:
        if store.healthy:
            return Response(orjson.dumps({"status": "ok"}), media_type=_JSON)
        return _answer(503, "landing folder cannot be written")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.start()
        try:
            yield
        finally:
            await asyncio.to_thread(store.close)

    app = Starlette(routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
                    lifespan=lifespan)
    app.state.landing = store
    return app
