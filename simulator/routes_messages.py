"""Channels (7.14), messages (7.15), and Send Message, reply and react (8.4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator import catalog as C
from simulator import events, messaging, render
from simulator.envelopes import (
    Reply,
    bad_request,
    check_object_id,
    envelope_a,
    envelope_done,
    found,
    int_param,
    not_found,
)
from simulator.routing import Call, route
from simulator.world import World

DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_EMOJI_CHARS = 32


@route("GET", "/apis/v1/channels", "sendMessage")
def channels(call: Call) -> Reply:
    recs = render.channels()
    return envelope_a(recs, "Channels fetched successfully", recs)


def _channel(value: Any, name: str) -> int:
    check_object_id(value, name)
    return found(C.CHANNEL_BY_ID.get(value), "Channel not found", f"No channel {value}")


@route("GET", "/v1/messages", "getMessages")
def messages(call: Call) -> Reply:
    w = call.world
    q = call.query
    count = min(int_param(q.get("count"), "count", DEFAULT_COUNT), MAX_COUNT)
    channel = _channel(q["channel_id"], "channel_id") if q.get("channel_id") else None
    user: int | None = None
    nobody = False
    if q.get("user_id"):
        check_object_id(q["user_id"], "user_id")
        user = w.find_user_id(q["user_id"], include_deleted=True)
        nobody = user is None
    if q.get("email"):
        i = w.find_email(q["email"], include_deleted=True)
        nobody = nobody or i is None or (user is not None and i != user)
        user = i
    n = w.messages.n
    if nobody:
        total, rows = 0, np.zeros(0, np.int64)
    else:
        match = messaging.select(w, channel, user)
        if match is None:
            total, rows = n, np.arange(n - 1, max(n - count, 0) - 1, -1)
        else:
            total, rows = len(match), match[::-1][:count]
    recs = render.messages(w, rows)
    return envelope_a({"total": total, "messages": recs}, "messages fetched successfully", recs)


def _sender(w: World, body: dict[str, Any]) -> int:
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        raise bad_request("Invalid sender", "sender must be a member's email or username")
    return found(w.find_member(sender), "Sender not found", f"No live member with email or username {sender!r}")


def _postable(body: dict[str, Any]) -> int:
    c = _channel(body.get("channelId"), "channelId")
    if C.CHANNELS[c]["type"] == "iframe":
        raise bad_request("Channel does not accept messages", f"Channel {body.get('channelId')} is an iframe channel")
    return c


def _text(body: dict[str, Any]) -> str:
    text = body.get("message")
    if not isinstance(text, str):
        raise bad_request("Invalid message", "message must be a string")
    if not text.strip():
        raise bad_request("Message is empty", "message must not be empty or only whitespace")
    if len(text) > C.MAX_MESSAGE_CHARS:
        raise bad_request("Message too long", f"message has {len(text)} characters; at most {C.MAX_MESSAGE_CHARS}")
    return text


def _target(w: World, body: dict[str, Any], channel: int) -> int:
    mid = check_object_id(body.get("messageId"), "messageId")
    row = w.find_message(mid)
    if row is None or int(w.messages["channel"][row]) != channel:
        raise not_found("Message not found", f"No message {mid} in channel {body.get('channelId')}")
    return row


def _post(call: Call, is_reply: bool) -> None:
    """Post the body's message (a reply to its `messageId` when `is_reply`) and record the event."""
    w = call.world
    body = call.json()
    channel = _postable(body)
    parent = _target(w, body, channel) if is_reply else -1
    text = _text(body)
    row = messaging.post(w, _sender(w, body), channel, text, parent)
    events.record(w, messages=(row, row + 1))


@route("POST", "/apis/v1/messages/send", "sendMessage", auth_in_body=True)
def send(call: Call) -> Reply:
    _post(call, is_reply=False)
    return envelope_done("Message send successfully")


@route("POST", "/apis/v1/messages/reply", "replyMessage", auth_in_body=True)
def reply(call: Call) -> Reply:
    _post(call, is_reply=True)
    return envelope_done("Reply send successfully")


@route("POST", "/apis/v1/messages/react", "sendMessage", auth_in_body=True)
def react(call: Call) -> Reply:
    w = call.world
    body = call.json()
    channel = _postable(body)
    row = _target(w, body, channel)
    _sender(w, body)
    emoji = body.get("emoji")
    if not isinstance(emoji, str) or not emoji.strip() or len(emoji) > MAX_EMOJI_CHARS:
        raise bad_request("Invalid emoji", f"emoji must be a non-empty string of at most {MAX_EMOJI_CHARS} characters")
    w.messages["reactions"][row] += 1
    w.version += 1
    return envelope_done("Reaction added successfully")
