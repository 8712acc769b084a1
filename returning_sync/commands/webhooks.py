"""`returning-sync webhooks`: receive the platform's outgoing webhooks and land them durably."""

from __future__ import annotations

import argparse

from webhooks.landing import SEGMENT_AGE_S, SEGMENT_BYTES


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
    from webhooks.config import WebhookConfigError, WebhookSettings
    from webhooks.server import serve

    if args.segment_bytes < 1 or args.segment_age <= 0:
        raise WebhookConfigError("--segment-bytes and --segment-age must be positive")
    settings = WebhookSettings.from_env(allow_no_key=args.allow_no_key)
    return serve(settings, args.host, args.port, segment_bytes=args.segment_bytes, segment_age=args.segment_age)
