"""Channels (7.14), messages (7.15), Send Message / reply / react (8.4), and their consistency with the logs."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from tests.simadmin import EXPIRED_KEY, SimAdmin
from tests.simulator.helpers import client, ok

START = "2026-06-01T00:00:00.000Z"
HISTORY_START = "2026-03-03T00:00:00.000Z"
CHANNEL_FIELDS = {"_id", "topic", "type", "description", "isPrivate", "createdAt", "updatedAt"}
MESSAGE_FIELDS = {"id", "message", "user", "channel", "timestamp", "parentId", "reactions", "editedAt"}


def newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda m: (m["timestamp"], m["id"]), reverse=True)


def channels_by_type(api: httpx.Client) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in ok(api.get("/apis/v1/channels"))["data"]:
        out.setdefault(c["type"], []).append(c)
    return out


def test_channels_of_every_type_match_the_truth(sim: SimAdmin, api: httpx.Client) -> None:
    body = ok(api.get("/apis/v1/channels"))
    assert body["status"] == "success" and isinstance(body["message"], str)
    chans = body["data"]
    assert {c["type"] for c in chans} == {"text", "forum", "iframe", "direct"}
    assert all(set(c) == CHANNEL_FIELDS for c in chans)
    assert all(c["isPrivate"] == (c["type"] == "direct") for c in chans)
    assert chans == sim.truth_rows("channels")


def test_messages_newest_first_default_fifty_with_total(sim: SimAdmin, api: httpx.Client) -> None:
    truth = sim.truth_rows("messages")
    body = ok(api.get("/v1/messages"))
    assert (body["status"], body["message"]) == ("success", "messages fetched successfully")
    data = body["data"]
    assert data["total"] == len(truth) > 1000
    assert data["messages"] == newest_first(truth)[:50]
    assert all(set(m) == MESSAGE_FIELDS for m in data["messages"])
    assert ok(api.get("/messages", params={"count": 3}))["data"]["messages"] == newest_first(truth)[:3]


def test_count_is_capped_silently_at_1000_and_checked(api: httpx.Client) -> None:
    data = ok(api.get("/v1/messages", params={"count": 5000}))["data"]
    assert len(data["messages"]) == 1000 and data["total"] > 1000
    for bad in ("0", "-1", "x", "1.5"):
        r = api.get("/v1/messages", params={"count": bad})
        assert r.status_code == 400 and r.json()["status"] == "error", bad


def test_filters_by_channel_user_and_email(sim: SimAdmin, api: httpx.Client) -> None:
    truth = sim.truth_rows("messages")
    for chan in ok(api.get("/apis/v1/channels"))["data"]:
        want = newest_first([m for m in truth if m["channel"]["channel_id"] == chan["_id"]])
        data = ok(api.get("/v1/messages", params={"channel_id": chan["_id"], "count": 1000}))["data"]
        assert data["total"] == len(want)
        assert data["messages"] == want[:1000]
        assert (len(want) == 0) == (chan["type"] == "iframe"), chan["topic"]
    poster = Counter(m["user"]["user_id"] for m in truth).most_common(1)[0][0]
    mine = newest_first([m for m in truth if m["user"]["user_id"] == poster])
    email = mine[0]["user"]["email"]
    by_id = ok(api.get("/v1/messages", params={"user_id": poster, "count": 1000}))["data"]
    by_email = ok(api.get("/v1/messages", params={"email": email.upper(), "count": 1000}))["data"]
    assert by_id == by_email == {"total": len(mine), "messages": mine}
    chan = mine[0]["channel"]["channel_id"]
    both = ok(api.get("/v1/messages", params={"user_id": poster, "email": email, "channel_id": chan}))["data"]
    assert both["messages"] == [m for m in mine if m["channel"]["channel_id"] == chan][:50]
    other = next(m["user"]["email"] for m in truth if m["user"]["user_id"] != poster)
    assert ok(api.get("/v1/messages", params={"user_id": poster, "email": other}))["data"] == {"total": 0, "messages": []}
    assert ok(api.get("/v1/messages", params={"email": "nobody@nowhere.test"}))["data"] == {"total": 0, "messages": []}
    assert api.get("/v1/messages", params={"channel_id": "nope"}).status_code == 400
    assert api.get("/v1/messages", params={"user_id": "nope"}).status_code == 400
    assert api.get("/v1/messages", params={"channel_id": "a" * 24}).status_code == 404


def test_every_message_and_reply_log_has_its_message(sim: SimAdmin) -> None:
    logs = [r for r in sim.truth_rows("gamification_logs") if r["action"] in ("message", "reply")]
    msgs = sim.truth_rows("messages")
    from_logs = Counter((r["user_id"], r["createdAt"], r["action"] == "reply") for r in logs)
    welcome = [m for m in msgs if m["timestamp"] < HISTORY_START]
    posted = Counter((m["user"]["user_id"], m["timestamp"], m["parentId"] is not None)
                     for m in msgs if m["timestamp"] >= HISTORY_START)
    assert posted == from_logs
    # the rest are the channels' welcome notes, one per channel that takes messages, before the history
    assert len(welcome) == 8 and len({m["channel"]["channel_id"] for m in welcome}) == 8
    # a reply answers an earlier top-level message, in its channel
    by_id = {m["id"]: m for m in msgs}
    replies = [m for m in msgs if m["parentId"] is not None]
    assert len(replies) == sum(1 for r in logs if r["action"] == "reply") > 0
    for m in replies:
        parent = by_id[m["parentId"]]
        assert parent["parentId"] is None and parent["timestamp"] <= m["timestamp"]
        assert parent["channel"] == m["channel"]


def test_reactions_and_edits_stay_within_two_days(sim: SimAdmin) -> None:
    msgs = sim.truth_rows("messages")
    reacts = sum(1 for r in sim.truth_rows("gamification_logs") if r["action"] == "react")
    total = sum(m["reactions"] for m in msgs)
    assert 0 < total <= reacts
    edited = [m for m in msgs if m["editedAt"] is not None]
    assert edited
    for m in edited:
        assert m["timestamp"] < m["editedAt"] <= START
        assert hours_between(m["timestamp"], m["editedAt"]) <= 48


def hours_between(a: str, b: str) -> float:
    import datetime as dt
    f = "%Y-%m-%dT%H:%M:%S.%f%z"
    return (dt.datetime.strptime(b.replace("Z", "+0000"), f) - dt.datetime.strptime(a.replace("Z", "+0000"), f)
            ).total_seconds() / 3600


def test_advance_brings_messages_edits_and_reactions(sim: SimAdmin) -> None:
    sim.reset(users=2000)
    before = {m["id"]: m for m in sim.truth_rows("messages")}
    ch = sim.advance(24)["changes"]
    now = sim.clock()["now"]
    after = {m["id"]: m for m in sim.truth_rows("messages")}
    new = [m for i, m in after.items() if i not in before]
    assert len(new) == ch["messages"] > 0
    assert all(START < m["timestamp"] <= now for m in new)
    logs = [r for r in sim.truth_rows("gamification_logs") if r["createdAt"] > START
            and r["action"] in ("message", "reply")]
    assert len(logs) == ch["messages"]
    edited = [m for m in after.values() if m["editedAt"] is not None and m["editedAt"] > START]
    assert len(edited) == ch["message_edits"] > 0
    for m in edited:
        assert m["message"] != before.get(m["id"], {"message": None})["message"] or m["id"] not in before
        assert hours_between(m["timestamp"], m["editedAt"]) <= 48
    gained = sum(m["reactions"] for m in after.values()) - sum(m["reactions"] for m in before.values())
    assert gained == ch["reactions"] > 0
    # messages are immutable apart from edits and reactions
    for i, m in before.items():
        assert {**after[i], "reactions": 0, "editedAt": None, "message": ""} == {
            **m, "reactions": 0, "editedAt": None, "message": ""}


def member(sim: SimAdmin, api: httpx.Client) -> dict:
    u = ok(api.post("/apis/v1/users/filter", json={"fields": ["email", "username"]}))["data"]["users"][3]
    return u


def test_sent_messages_appear_in_messages_and_truth(sim: SimAdmin, api: httpx.Client) -> None:
    general = next(c for c in channels_by_type(api)["text"] if c["topic"] == "general")
    dm = channels_by_type(api)["direct"][0]
    u = member(sim, api)
    count0 = sim.truth()["messages"]["count"]
    text = "Héllo from the API ✨\nsecond line \u2028 done"
    body = ok(api.post("/apis/v1/messages/send", json={"channelId": general["_id"], "message": text, "sender": u["email"]}))
    assert body == {"status": "success", "message": "Message send successfully"}
    body = ok(api.post("/apis/v1/messages/send", json={"channelId": dm["_id"], "message": "by name", "sender": u["username"]}))
    assert body["status"] == "success"
    now = sim.clock()["now"]
    got = ok(api.get("/v1/messages", params={"channel_id": general["_id"], "count": 1}))["data"]["messages"][0]
    assert got["message"] == text and got["timestamp"] == now
    assert got["user"] == {"user_id": u["_id"], "email": u["email"]}
    assert got["channel"] == {"channel_id": general["_id"], "name": "general"}
    assert (got["parentId"], got["reactions"], got["editedAt"]) == (None, 0, None)
    newest = ok(api.get("/v1/messages", params={"count": 2}))["data"]["messages"]
    assert [m["message"] for m in newest] == ["by name", text]
    truth = sim.truth()["messages"]
    assert truth["count"] == count0 + 2
    rows = sim.truth_rows("messages")
    assert got in rows
    assert sim.counters()["by_endpoint"]["POST /apis/v1/messages/send"] == 2


def test_reply_and_react(sim: SimAdmin, api: httpx.Client) -> None:
    help_ = next(c for c in channels_by_type(api)["forum"] if c["topic"] == "help")
    u = member(sim, api)
    target = ok(api.get("/v1/messages", params={"channel_id": help_["_id"], "count": 1}))["data"]["messages"][0]
    r = ok(api.post("/apis/v1/messages/reply", json={"channelId": help_["_id"], "messageId": target["id"],
                                                     "message": "+1", "sender": u["email"]}))
    assert r["status"] == "success"
    newest = ok(api.get("/v1/messages", params={"channel_id": help_["_id"], "count": 2}))["data"]["messages"]
    assert newest[0]["parentId"] == target["id"] and newest[0]["message"] == "+1"
    r = ok(api.post("/apis/v1/messages/react", json={"channelId": help_["_id"], "messageId": target["id"],
                                                     "sender": u["username"], "emoji": "👍"}))
    assert r["status"] == "success"
    again = ok(api.get("/v1/messages", params={"channel_id": help_["_id"], "count": 2}))["data"]["messages"][1]
    assert again["id"] == target["id"] and again["reactions"] == target["reactions"] + 1
    other = next(c for c in channels_by_type(api)["text"] if c["topic"] == "general")
    for path, extra in (("/apis/v1/messages/reply", {"message": "x"}), ("/apis/v1/messages/react", {"emoji": "x"})):
        r = api.post(path, json={"channelId": other["_id"], "messageId": target["id"], "sender": u["email"], **extra})
        assert r.status_code == 404 and r.json()["message"] == "Message not found"
        r = api.post(path, json={"channelId": other["_id"], "messageId": "zz", "sender": u["email"], **extra})
        assert r.status_code == 400
    r = api.post("/apis/v1/messages/react", json={"channelId": help_["_id"], "messageId": target["id"],
                                                  "sender": u["email"], "emoji": ""})
    assert r.status_code == 400


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"channelId": "a" * 24}, 404, "Channel not found"),
    ({"channelId": "not-an-id"}, 400, "Invalid channelId"),
    ({"channelId": None}, 400, "Invalid channelId"),
    ({"channel": "iframe"}, 400, "Channel does not accept messages"),
    ({"message": ""}, 400, "Message is empty"),
    ({"message": " \n\t "}, 400, "Message is empty"),
    ({"message": "x" * 4001}, 400, "Message too long"),
    ({"message": 5}, 400, "Invalid message"),
    ({"sender": "nobody@nowhere.test"}, 404, "Sender not found"),
    ({"sender": "nobody"}, 404, "Sender not found"),
    ({"sender": "deleted"}, 404, "Sender not found"),
    ({"sender": ""}, 400, "Invalid sender"),
])
def test_send_validation(sim: SimAdmin, api: httpx.Client, change: dict, status: int, message: str) -> None:
    chans = channels_by_type(api)
    u = member(sim, api)
    body = {"channelId": chans["text"][1]["_id"], "message": "hi", "sender": u["email"], **change}
    if body.pop("channel", None) == "iframe":
        body["channelId"] = chans["iframe"][0]["_id"]
    if body["sender"] == "deleted":
        live = {r["email"] for r in sim.truth_rows("users")}
        body["sender"] = next(m["user"]["email"] for m in sim.truth_rows("messages") if m["user"]["email"] not in live)
    n0 = sim.truth()["messages"]["count"]
    r = api.post("/apis/v1/messages/send", json=body)
    assert r.status_code == status, r.text
    assert r.json()["status"] == "error" and r.json()["message"] == message
    assert sim.truth()["messages"]["count"] == n0


def test_longest_message_is_accepted(sim: SimAdmin, api: httpx.Client) -> None:
    chan = channels_by_type(api)["text"][1]
    u = member(sim, api)
    assert ok(api.post("/apis/v1/messages/send", json={"channelId": chan["_id"], "message": "é" * 4000,
                                                       "sender": u["email"]}))["status"] == "success"


def test_send_reply_react_answer_200_with_an_error_body_for_bad_keys(sim: SimAdmin, api: httpx.Client) -> None:
    chan = channels_by_type(api)["text"][1]
    u = member(sim, api)
    target = ok(api.get("/v1/messages", params={"channel_id": chan["_id"], "count": 1}))["data"]["messages"][0]
    calls = [("/apis/v1/messages/send", {"channelId": chan["_id"], "message": "hi", "sender": u["email"]}, "sendMessage"),
             ("/apis/v1/messages/reply", {"channelId": chan["_id"], "messageId": target["id"], "message": "hi",
                                          "sender": u["email"]}, "replyMessage"),
             ("/apis/v1/messages/react", {"channelId": chan["_id"], "messageId": target["id"], "emoji": "🎉",
                                          "sender": u["email"]}, "sendMessage")]
    n0 = sim.truth()["messages"]
    for path, body, permission in calls:
        for key in (None, "f" * 64, EXPIRED_KEY):
            with client(sim.base_url, key) as c:
                r = c.post(path, json=body)
            assert (r.status_code, r.json()) == (200, {"status": "error", "message": "Invalid token"}), (path, key)
        lacking = "d" * 64
        sim.post("/__sim/keys", {"key": lacking, "permissions": ["getUserData", "getMessages",
                                 *({"sendMessage", "replyMessage"} - {permission})]})
        with client(sim.base_url, lacking) as c:
            r = c.post(path, json=body)
        assert (r.status_code, r.json()) == (200, {"status": "error", "message": "Insufficient permission"}), path
    assert sim.truth()["messages"] == n0
    by_status = sim.counters()["by_status"]
    assert by_status == {"200": by_status["200"]}  # every refusal was an HTTP 200
    # the reads answer like every other endpoint
    with client(sim.base_url, "f" * 64) as c:
        assert c.get("/v1/messages").status_code == 401
    sim.post("/__sim/keys", {"key": "e" * 64, "permissions": ["sendMessage"]})
    with client(sim.base_url, "e" * 64) as c:
        assert c.get("/v1/messages").status_code == 403
        assert c.get("/apis/v1/channels").status_code == 200


def test_faults_reach_the_new_endpoints(sim: SimAdmin, api: httpx.Client) -> None:
    chan = channels_by_type(api)["text"][1]
    u = member(sim, api)
    body = {"channelId": chan["_id"], "message": "fault?", "sender": u["email"]}
    n0 = sim.truth()["messages"]["count"]
    sim.knobs(faults={"rate": 1, "kinds": ["503"], "endpoints": ["POST /apis/v1/messages/send", "GET /v1/messages"]})
    assert api.post("/apis/v1/messages/send", json=body).status_code == 503
    assert api.get("/v1/messages").status_code == 503
    assert sim.truth()["messages"]["count"] == n0  # refused before it was posted
    sim.knobs(faults={"rate": 1, "kinds": ["truncate"], "endpoints": ["POST /apis/v1/messages/send"]})
    r = api.post("/apis/v1/messages/send", json=body)
    with pytest.raises(ValueError):
        r.json()
    assert sim.truth()["messages"]["count"] == n0 + 1  # the answer was lost, the message landed
    sim.knobs(faults={"rate": 0})
    assert ok(api.get("/v1/messages", params={"count": 1}))["data"]["messages"][0]["message"] == "fault?"


def test_truth_checksum_covers_posted_text_exactly(sim: SimAdmin, api: httpx.Client) -> None:
    from tests.simulator.test_clock_truth import checksum

    chan = channels_by_type(api)["text"][1]
    u = member(sim, api)
    texts = ["ctrl \x01\x1f end", 'quote " and \\ backslash', "family 👩\u200d👩\u200d👧", "line \u2028 sep \u0085",
             "日本語のメッセージ", "tab\tnew\nline"]
    for text in texts:
        assert ok(api.post("/apis/v1/messages/send", json={"channelId": chan["_id"], "message": text,
                                                           "sender": u["email"]}))["status"] == "success"
    raw = json.dumps({"channelId": chan["_id"], "sender": u["email"], "message": "@@"}).replace("@@", "\\ud83d\\ude00 escaped pair")
    assert ok(api.post("/apis/v1/messages/send", content=raw.encode()))["status"] == "success"
    texts.append("\U0001f600 escaped pair")
    rows = sim.truth_rows("messages")
    assert [m["message"] for m in newest_first(rows)[: len(texts)]] == texts[::-1]
    assert sim.truth()["messages"] == {"count": len(rows), "checksum": checksum(rows)}
