"""uvicorn around the receiver's app: `returning-sync webhooks` (or `python -m webhooks`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable

import uvicorn

from returning_errors import ConfigError
from webhooks.app import create_app
from webhooks.config import WebhookSettings
from webhooks.landing import SEGMENT_AGE_S, SEGMENT_BYTES, Landing


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # the standard loop works too, a little slower
        return None
    return uvloop.new_event_loop


class _Announcing(uvicorn.Server):
    """A server that prints `line` once it accepts connections (the line callers wait for)."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self.line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.line, flush=True)


def serve(settings: WebhookSettings, host: str = "127.0.0.1", port: int = 8766, *,
          segment_bytes: int = SEGMENT_BYTES, segment_age: float = SEGMENT_AGE_S) -> int:
    """Serve until SIGINT/SIGTERM; prints `webhooks listening on http://HOST:PORT` once accepting."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the writer thread needs the GIL as soon as its fsync returns: ask for it after 1 ms, not 5
    sys.setswitchinterval(0.001)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    landing = Landing(settings.directory, segment_bytes=segment_bytes, segment_age=segment_age)
    # no proxy-headers middleware: the sender's address is the socket's (nothing behind a proxy is trusted)
    config = uvicorn.Config(create_app(settings, landing), log_level="warning", access_log=False,
                            lifespan="on", timeout_keep_alive=30, proxy_headers=False,
                            server_header=False)
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    server = _Announcing(config, f"webhooks listening on http://{shown}:{real_port}")
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))
    return 0 if server.started else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 = a free port (the one chosen is printed)")
    parser.add_argument("--allow-no-key", action="store_true",
                        help="accept deliveries without x-api-key when RETURNING_WEBHOOK_KEY is unset "
                             "(otherwise the receiver refuses to start without a key)")
    parser.add_argument("--segment-bytes", type=int, default=SEGMENT_BYTES,
                        help=f"seal a segment once it would pass this size (default {SEGMENT_BYTES})")
    parser.add_argument("--segment-age", type=float, default=SEGMENT_AGE_S,
                        help=f"seal a segment this many seconds after it was opened (default {SEGMENT_AGE_S:g})")


def run(args: argparse.Namespace) -> int:
    """Settings from the environment and `args`; a bad one raises `ConfigError` (exit 2)."""
    if args.segment_bytes < 1 or args.segment_age <= 0:
        raise ConfigError("--segment-bytes and --segment-age must be positive")
    settings = WebhookSettings.from_env(allow_no_key=args.allow_no_key)
    return serve(settings, args.host, args.port, segment_bytes=args.segment_bytes, segment_age=args.segment_age)
