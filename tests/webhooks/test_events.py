"""Landed events turned into `webhook_events` rows: the columns, redeliveries merged, payload kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipelines.declared import DECLARED
from webhooks import events, segments


def land(directory, *payloads: bytes, name: str = "a") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = b"".join(segments.line(p, f"2026-05-18T12:00:0{i}.000000Z") for i, p in enumerate(payloads))
    (directory / f"{name}.jsonl").write_bytes(lines)


def row_of(payload: dict) -> dict:
    raw = json.dumps(payload).encode()
    landed = segments.parse_line(segments.line(raw, "2026-05-18T12:00:01.500000Z")[:-1])
    assert landed is not None
    return events.to_row(landed)


def test_user_joined_row_has_the_envelope_and_the_member():
    row = row_of({"id": "e1", "event": "user.joined", "communityId": "c1", "createdAt": "2026-05-18T12:00:00.123Z",
                  "data": {"user": {"_id": "u1", "email": "a@b.c", "username": "a"}, "joinedAt": "x"}})
    assert {k: v for k, v in row.items() if k != "payload"} == {
        "id": "e1", "event": "user.joined", "community_id": "c1",
        "created_at": datetime(2026, 5, 18, 12, 0, 0, 123000, tzinfo=UTC),
        "received_at": datetime(2026, 5, 18, 12, 0, 1, 500000, tzinfo=UTC),
        "member_id": "u1", "member_email": "a@b.c", "channel_id": None, "order_id": None,
    }
    assert tuple(row) == tuple(DECLARED["webhook_events"])


def test_message_posted_row_takes_user_id_and_channel():
    row = row_of({"id": "e2", "event": "message.posted", "communityId": "c1", "createdAt": "2026-05-18T12:00:00.000Z",
                  "data": {"message": {"id": "m"}, "user": {"user_id": "u2", "email": "x@y.z"},
                           "channel": {"channel_id": "ch", "name": "general"}}})
    assert (row["member_id"], row["member_email"], row["channel_id"], row["order_id"]) == ("u2", "x@y.z", "ch", None)


def test_store_purchased_row_takes_the_order():
    row = row_of({"id": "e3", "event": "store.purchased", "data": {"orderID": "ORD7", "user": {"_id": "u3"}}})
    assert (row["order_id"], row["member_id"], row["community_id"], row["created_at"]) == ("ORD7", "u3", None, None)


def test_unknown_event_with_odd_shapes_still_makes_a_row():
    row = row_of({"id": "e4", "event": "user.levelled_up", "createdAt": "not a date", "data": ["x"]})
    assert (row["event"], row["created_at"], row["member_id"]) == ("user.levelled_up", None, None)
    row = row_of({"id": "e5", "event": "x", "data": {"user": "u", "channel": 3}})
    assert (row["member_id"], row["channel_id"]) == (None, None)


def test_payload_is_the_event_exactly_as_sent(tmp_path):
    sent = b'{"id":"e6","event":"user.visited","big":123456789012345678901234567890,"n":[1.50,2]}'
    land(tmp_path, sent)
    [row] = events.rows(segments.sealed(tmp_path))
    assert row["payload"] == sent.decode()


def test_rows_keep_the_first_landed_copy_of_each_id(tmp_path):
    first = b'{"id":"e1","event":"user.joined","copy":1}'
    land(tmp_path, first, b'{"id":"e2","event":"user.joined"}', name="a")
    land(tmp_path, b'{"id":"e1","event":"user.joined","copy":2}', b'{"id":"e3","event":"user.joined"}', name="b")
    rows = list(events.rows(segments.sealed(tmp_path)))
    assert [r["id"] for r in rows] == ["e1", "e2", "e3"]
    assert rows[0]["payload"] == first.decode()
