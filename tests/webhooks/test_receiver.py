"""Each kind of delivery gets its status, and only 2xx ones are on disk (contract 9, issue 13)."""

from __future__ import annotations

import base64
import json
import os
import socket

import httpx

from tests.webhooks.sender import (
    AES_KEY,
    KEY,
    PATH,
    Receiver,
    cbc,
    dumps,
    event,
    gcm,
    headers,
    landed,
    landed_ids,
)

_counter = iter(range(10_000_000, 20_000_000))


def fresh(kind: str = "user.joined", **extra) -> dict:
    return event(next(_counter), kind, **extra)


def post(client: httpx.Client, body: bytes, **kw) -> httpx.Response:
    return client.post(PATH, content=body, headers=headers(**kw))


def test_right_key_lands_the_event_once_durably(client, receiver: Receiver):
    ev = fresh()
    r = post(client, dumps(ev))
    assert r.status_code == 200 and r.content == b""
    lines = [x for x in landed(receiver.directory) if x["payload"]["id"] == ev["id"]]
    assert [x["payload"] for x in lines] == [ev]
    assert lines[0]["received_at"].endswith("Z")


def test_missing_key_is_401_and_nothing_lands(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    r = post(client, dumps(fresh()), key=None)
    assert r.status_code == 401
    assert len(landed(receiver.directory)) == before


def test_wrong_key_is_401_and_nothing_lands(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    for wrong in (KEY[:-1], KEY + "x", KEY.upper(), "", "x" * len(KEY)):
        r = post(client, dumps(fresh()), key=wrong)
        assert r.status_code == 401, wrong
    assert len(landed(receiver.directory)) == before


def test_gcm_delivery_is_decrypted_and_landed_as_plaintext(client, receiver: Receiver):
    ev = fresh("message.posted", data={"message": {"id": "m1", "message": "hi"}, "channel": {"channel_id": "c9"}})
    r = post(client, gcm(dumps(ev)), encrypted=True)
    assert r.status_code == 200, r.text
    assert [x["payload"] for x in landed(receiver.directory) if x["payload"]["id"] == ev["id"]] == [ev]


def test_cbc_delivery_is_decrypted_and_landed_as_plaintext(client, receiver: Receiver):
    ev = fresh("store.purchased", data={"orderID": "ORD1", "quantity": 2})
    r = post(client, cbc(dumps(ev)), encrypted=True)
    assert r.status_code == 200, r.text
    assert [x["payload"] for x in landed(receiver.directory) if x["payload"]["id"] == ev["id"]] == [ev]


def test_undecryptable_bodies_are_400_and_nothing_lands(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    plain = dumps(fresh())
    good = json.loads(gcm(plain))
    data = bytearray(base64.b64decode(good["data"]))
    data[0] ^= 1
    flipped = dumps({"iv": good["iv"], "data": base64.b64encode(bytes(data)).decode()})
    cases = {
        "wrong key gcm": gcm(plain, key="Z" * 32),
        "wrong key cbc": cbc(plain, key="Z" * 32),
        "altered ciphertext": flipped,
        "truncated ciphertext": dumps({"iv": good["iv"], "data": good["data"][:-8]}),
        "iv of 8 bytes": dumps({"iv": base64.b64encode(os.urandom(8)).decode(), "data": good["data"]}),
        "not base64": dumps({"iv": "!!!", "data": good["data"]}),
        "no iv": dumps({"data": good["data"]}),
        "plain event marked encrypted": plain,
        "encrypted garbage, not JSON inside": cbc(b"not json at all"),
    }
    for name, body in cases.items():
        r = post(client, body, encrypted=True)
        assert r.status_code == 400, (name, r.status_code, r.text)
    assert len(landed(receiver.directory)) == before


def test_bad_bodies_are_400_and_nothing_lands(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    full = dumps(fresh())
    cases = {
        "not JSON": b"hello",
        "truncated body": full[: len(full) // 2],
        "empty": b"",
        "array": b"[1,2]",
        "missing id": dumps({k: v for k, v in fresh().items() if k != "id"}),
        "missing event": dumps({k: v for k, v in fresh().items() if k != "event"}),
        "numeric id": dumps({**fresh(), "id": 5}),
        "not UTF-8": b'{"id":"\xff","event":"x"}',
        "NaN": b'{"id":"a","event":"x","n":NaN}',
    }
    for name, body in cases.items():
        r = post(client, body)
        assert r.status_code == 400, (name, r.status_code, r.text)
    assert len(landed(receiver.directory)) == before


def test_body_over_one_mebibyte_is_413_by_declared_length(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    ev = fresh(pad="x" * (1 << 20))
    r = post(client, dumps(ev))
    assert r.status_code == 413
    assert len(landed(receiver.directory)) == before


def test_body_over_one_mebibyte_is_413_when_streamed_without_length(client, receiver: Receiver):
    before = len(landed(receiver.directory))
    ev = dumps(fresh(pad="x" * (1 << 20)))

    def chunks():
        for i in range(0, len(ev), 65536):
            yield ev[i:i + 65536]

    r = client.post(PATH, content=chunks(), headers=headers())  # chunked: no Content-Length
    assert r.status_code == 413
    assert len(landed(receiver.directory)) == before


def test_body_of_exactly_one_mebibyte_is_accepted(client, receiver: Receiver):
    ev = fresh(pad="")
    ev["pad"] = "x" * ((1 << 20) - len(dumps(ev)))
    body = dumps(ev)
    assert len(body) == 1 << 20
    assert post(client, body).status_code == 200


def test_a_client_that_hangs_up_mid_body_lands_nothing(receiver: Receiver, client):
    before = len(landed(receiver.directory))
    body = dumps(fresh())
    with socket.create_connection(("127.0.0.1", int(receiver.url.rsplit(":", 1)[1]))) as s:
        s.sendall(f"POST {PATH} HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\n"
                  f"content-length: {len(body) + 100}\r\n\r\n".encode() + body)
        s.shutdown(socket.SHUT_WR)
        s.recv(65536)  # the server closes (or answers 400); either way nothing is landed
    assert client.get("/healthz").status_code == 200  # the receiver still serves
    assert len(landed(receiver.directory)) == before


def test_replayed_event_is_acknowledged_each_time_and_kept_as_two_lines(client, receiver: Receiver):
    ev = fresh()
    assert post(client, dumps(ev)).status_code == 200
    assert post(client, gcm(dumps(ev)), encrypted=True).status_code == 200
    assert landed_ids(receiver.directory).count(ev["id"]) == 2  # merged by id at load, not here


def test_unknown_event_types_and_fields_are_kept_as_sent(client, receiver: Receiver):
    body = (b'{"id":"feedfacefeedfacefeedface","event":"user.levelled_up","big":123456789012345678901234567890,'
            b'"data":{"novel":{"deep":[1,2.50,null]},"user":{"_id":"u1"}},"extra":"\\u00e9"}')
    assert post(client, body).status_code == 200
    raw = [line for path in sorted(receiver.directory.iterdir()) for line in path.read_bytes().split(b"\n")
           if b"feedfacefeedfacefeedface" in line]
    assert raw == [raw[0]] and raw[0].endswith(b',"payload":' + body + b"}")


def test_pretty_printed_body_lands_as_one_line(client, receiver: Receiver):
    ev = fresh(data={"a": [1, 2], "b": {"c": "d"}})
    assert post(client, json.dumps(ev, indent=2).encode()).status_code == 200
    assert [x["payload"] for x in landed(receiver.directory) if x["payload"]["id"] == ev["id"]] == [ev]


def test_plain_delivery_is_accepted_while_an_aes_key_is_set(client, receiver: Receiver):
    assert AES_KEY  # the receiver has one
    assert post(client, dumps(fresh())).status_code == 200


def test_healthz_answers_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_refusals_are_logged_with_their_reason_and_no_body(client, receiver: Receiver):
    marker = "body-marker-7f3a"
    post(client, dumps(fresh(secret_field=marker)), key="wrong-key-value")
    post(client, b"not json " + marker.encode())
    client.get("/healthz")  # the log lines are written before the answers; wait for one more round trip
    text = "".join(receiver.output)
    assert "401 missing or wrong x-api-key" in text and "400 body is not JSON" in text
    assert marker not in text and "wrong-key-value" not in text
