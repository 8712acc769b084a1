"""A landed delivery turned into its `returning_raw.webhook_events` row (one row per event `id`).

For the loader: `rows(segments.ready(folder))` yields the rows of those segments, redeliveries merged
away (the first landed copy is kept); load them with primary key `id` (merge), and only once that load
is committed call `segments.remove(those segments)`. A crash in between loads the same ids again, which
the merge absorbs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from webhooks import segments
from webhooks.segments import LandedEvent


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def _member(data: dict) -> dict:
    user = data.get("user")
    return user if isinstance(user, dict) else {}


def to_row(landed: LandedEvent) -> dict[str, Any]:
    """The row of one landed event: the envelope's fields, the common fields pulled out of `data`
    (`user._id` or `user.user_id`, `user.email`, `channel.channel_id`, `orderID`) and the whole event,
    unknown fields included, as JSON text in `payload`."""
    event = landed.event
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    user = _member(data)
    channel = data.get("channel")
    channel = channel if isinstance(channel, dict) else {}
    member_id = user.get("_id")
    if member_id is None:
        member_id = user.get("user_id")
    return {
        "id": event["id"],
        "event": event["event"],
        "community_id": _text(event.get("communityId")),
        "created_at": _timestamp(event.get("createdAt")),
        "received_at": _timestamp(landed.received_at),
        "member_id": _text(member_id),
        "member_email": _text(user.get("email")),
        "channel_id": _text(channel.get("channel_id")),
        "order_id": _text(data.get("orderID")),
        "payload": landed.raw.decode("utf-8"),
    }


def rows(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """The rows of these segments, in landing order, each event `id` once."""
    seen: set[str] = set()
    for path in paths:
        for landed in segments.read(path):
            event_id = landed.event.get("id")
            if not isinstance(event_id, str) or event_id in seen:
                continue
            seen.add(event_id)
            yield to_row(landed)
