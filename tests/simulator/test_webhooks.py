"""Outgoing webhooks (contract 9): registration, events for the clock's changes, encryption, retries,
duplicates. A small threaded HTTP receiver in the test process takes the deliveries; tests await them
through `POST /__sim/webhooks/flush`, never by sleeping."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.simadmin import COMMUNITY_ID, SimAdmin
from tests.simulator.helpers import ok

START = "2026-06-01T00:00:00.000Z"
AES_KEY = "0123456789abcdefghijklmnopqrstuv"
KINDS = {"user.joined", "user.visited", "message.posted", "store.purchased"}


@dataclass
class Receiver:
    """Records every delivery; answers `fail_first` requests with 500, then 200."""
    fail_first: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/returning-ai"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = outer.fail_first > 0
                    outer.fail_first -= failing
                status = 500 if failing else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    def start(self, listen: bool = True) -> Receiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler(), bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()
        if listen:
            self.listen()
        return self

    def listen(self) -> None:
        assert self.server is not None
        self.server.server_activate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, aes_key: str | None = None, mode: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(decrypt(body, aes_key, mode) if mode else body) for _, body in self.requests]


def decrypt(body: bytes, aes_key: str | None, mode: str) -> bytes:
    assert aes_key is not None
    env = json.loads(body)
    iv, data = base64.b64decode(env["iv"]), base64.b64decode(env["data"])
    key = aes_key.encode()
    if mode == "gcm":
        assert len(iv) == 12
        return AESGCM(key).decrypt(iv, data, None)
    assert len(iv) == 16
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(dec.update(data) + dec.finalize()) + unpadder.finalize()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    assert r.server is not None
    r.server.shutdown()
    r.server.server_close()


def register(sim: SimAdmin, **body: Any) -> dict[str, Any]:
    return sim.post("/__sim/webhooks", {"retry_base_ms": 5, "retry_max_ms": 50, **body})


def flush(sim: SimAdmin, timeout_s: float = 30) -> dict[str, Any]:
    return sim.post("/__sim/webhooks/flush", {"timeout_s": timeout_s})


def test_plain_deliveries_carry_the_key_and_match_the_truth(sim: SimAdmin, receiver: Receiver) -> None:
    assert sim.get("/__sim/webhooks")["registered"] is False
    sim.advance(24)  # before any registration: no events
    assert sim.truth()["webhook_events"]["count"] == 0
    status = register(sim, url=receiver.url, key="s3cret-key", mode=None, duplicate_rate=0)
    assert status["registered"] and status["receiver"]["key_set"] and "s3cret-key" not in json.dumps(status)
    start = sim.clock()["now"]
    ch = sim.advance(48)["changes"]
    done = flush(sim)
    assert done["done"] and done["pending"] == 0
    truth = sim.truth_rows("webhook_events")
    assert len(truth) == ch["events"] == done["generated"] == done["acknowledged"] > 0
    assert {e["event"] for e in truth} == KINDS
    assert all(h["x-api-key"] == "s3cret-key" and "x-encrypted" not in h for h, _ in receiver.requests)
    assert all(h["content-type"] == "application/json" for h, _ in receiver.requests)
    got = receiver.bodies()
    assert sorted(got, key=lambda e: e["id"]) == sorted(truth, key=lambda e: e["id"])
    assert len({e["id"] for e in truth}) == len(truth)
    assert all(e["communityId"] == COMMUNITY_ID and start < e["createdAt"] <= sim.clock()["now"] for e in truth)
    assert [e["createdAt"] for e in truth] == sorted(e["createdAt"] for e in truth)


def test_events_mirror_the_clocks_changes(sim: SimAdmin, receiver: Receiver) -> None:
    register(sim, url=receiver.url, mode=None)
    users0 = {u["_id"] for u in sim.truth_rows("users")}
    ch = sim.advance(24)["changes"]
    assert flush(sim)["done"]
    events: dict[str, list[dict]] = {}
    for e in sim.truth_rows("webhook_events"):
        events.setdefault(e["event"], []).append(e["data"])
    assert all("x-api-key" not in h for h, _ in receiver.requests)  # key null: no header
    joined = {d["user"]["_id"] for d in events["user.joined"]}
    all_users = {u["_id"]: u for u in sim.truth_rows("users")}
    assert len(joined) == ch["users_joined"] > 0 and joined >= set(all_users) - users0  # some left again
    for d in events["user.joined"]:
        if d["user"]["_id"] in all_users:
            u = all_users[d["user"]["_id"]]
            assert (d["user"]["email"], d["user"]["username"], d["joinedAt"]) == (u["email"], u["username"], u["join_date"])
    visits = Counter((r["user_id"], r["createdAt"]) for r in sim.truth_rows("gamification_logs")
                     if r["action"] == "visit" and r["createdAt"] > START)
    assert Counter((d["user"]["_id"], d["visitedAt"]) for d in events["user.visited"]) == visits
    msgs = {m["id"]: m for m in sim.truth_rows("messages") if m["timestamp"] > START}
    assert {d["message"]["id"] for d in events["message.posted"]} == set(msgs)
    for d in events["message.posted"]:
        m = msgs[d["message"]["id"]]
        assert (d["user"], d["channel"], d["message"]["timestamp"], d["message"]["parentId"]) == (
            m["user"], m["channel"], m["timestamp"], m["parentId"])
    orders = {o["transactionId"]: o for o in sim.truth_rows("redemption_orders") if o["createdAt"] > START}
    assert {d["orderID"] for d in events["store.purchased"]} == set(orders)
    for d in events["store.purchased"]:
        o = orders[d["orderID"]]
        assert (d["user"]["_id"], d["product"]["_id"], d["quantity"], d["currency"], d["createdAt"]) == (
            o["userId"], o["productId"], o["quantity"], o["currency"], o["createdAt"])
        assert d["product"]["price"] * d["quantity"] == o["price"] or d["currency"] == "premium"


@pytest.mark.parametrize("mode", ["gcm", "cbc"])
def test_encrypted_deliveries_decrypt_to_the_plain_body(sim: SimAdmin, receiver: Receiver, mode: str) -> None:
    status = register(sim, url=receiver.url, key="k", aes_key=AES_KEY, mode=mode)
    assert AES_KEY not in json.dumps(status) and status["receiver"]["mode"] == mode
    sim.advance(24)
    assert flush(sim)["done"]
    assert all(h["x-encrypted"] == "true" and h["x-api-key"] == "k" for h, _ in receiver.requests)
    for _, body in receiver.requests:
        assert set(json.loads(body)) == {"iv", "data"}
    got = {e["id"]: e for e in receiver.bodies(AES_KEY, mode)}
    assert got == {e["id"]: e for e in sim.truth_rows("webhook_events")}


def test_non_2xx_answers_are_retried_until_acknowledged(sim: SimAdmin) -> None:
    receiver = Receiver(fail_first=7).start()
    try:
        register(sim, url=receiver.url, mode=None, duplicate_rate=0)
        sim.advance(24)
        done = flush(sim)
        truth = sim.truth_rows("webhook_events")
        assert done["done"] and done["acknowledged"] == len(truth) > 7
        assert done["failed_attempts"] == 7 and done["by_status"] == {"500": 7, "200": len(truth)}
        assert done["attempts"] == len(receiver.requests) == len(truth) + 7
        assert {e["id"] for e in receiver.bodies()} == {e["id"] for e in truth}
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_receiver_that_is_down_gets_everything_once_it_listens(sim: SimAdmin) -> None:
    receiver = Receiver().start(listen=False)  # bound, not listening: connections are refused
    try:
        register(sim, url=receiver.url, mode=None)
        sim.advance(24)
        for _ in range(600):  # await the first refused attempt (each flush call waits at most 50 ms)
            waiting = flush(sim, timeout_s=0.05)
            if waiting["failed_attempts"]:
                break
        assert not waiting["done"] and waiting["pending"] > 0 and waiting["acknowledged"] == 0
        assert waiting["failed_attempts"] > 0 and waiting["last_error"]
        receiver.listen()
        done = flush(sim)
        assert done["done"] and done["acknowledged"] == done["generated"]
        assert {e["id"] for e in receiver.bodies()} == {e["id"] for e in sim.truth_rows("webhook_events")}
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_seeded_share_is_delivered_twice(sim: SimAdmin, receiver: Receiver) -> None:
    register(sim, url=receiver.url, mode=None, duplicate_rate=0.3)
    sim.advance(48)
    done = flush(sim)
    seen = Counter(e["id"] for e in receiver.bodies())
    twice = {i for i, n in seen.items() if n == 2}
    assert set(seen.values()) == {1, 2}
    assert len(twice) == done["duplicates_planned"] == done["duplicates_delivered"]
    assert 0.15 < len(twice) / len(seen) < 0.45
    assert len(seen) == done["acknowledged"] == done["generated"]
    # the same community and clock duplicate the same events
    first = twice
    sim.reset()
    receiver.requests.clear()
    register(sim, url=receiver.url, mode=None, duplicate_rate=0.3)
    sim.advance(48)
    flush(sim)
    assert {i for i, n in Counter(e["id"] for e in receiver.bodies()).items() if n == 2} == first


def test_messages_posted_through_the_api_are_events_too(sim: SimAdmin, receiver: Receiver, api: httpx.Client) -> None:
    register(sim, url=receiver.url, mode=None, duplicate_rate=0)
    chan = next(c for c in ok(api.get("/apis/v1/channels"))["data"] if c["topic"] == "general")
    u = ok(api.post("/apis/v1/users/filter", json={"fields": ["email"]}))["data"]["users"][0]
    assert ok(api.post("/apis/v1/messages/send", json={"channelId": chan["_id"], "message": "live!",
                                                       "sender": u["email"]}))["status"] == "success"
    assert flush(sim)["done"]
    [event] = receiver.bodies()
    assert event["event"] == "message.posted" and event["data"]["message"]["message"] == "live!"
    assert event["data"]["user"] == {"user_id": u["_id"], "email": u["email"]}
    newest = ok(api.get("/v1/messages", params={"count": 1}))["data"]["messages"][0]
    assert event["data"]["message"]["id"] == newest["id"]


def test_unregister_and_reset_stop_the_events(sim: SimAdmin, receiver: Receiver) -> None:
    register(sim, url=receiver.url, mode=None)
    sim.advance(6)
    flush(sim)
    n = sim.truth()["webhook_events"]["count"]
    with httpx.Client(base_url=sim.base_url) as c:
        assert c.delete("/__sim/webhooks").json()["registered"] is False
    sim.advance(24)
    assert sim.truth()["webhook_events"]["count"] == n  # the history stays, nothing new is recorded
    register(sim, url=receiver.url, mode=None)
    sim.reset()
    assert sim.get("/__sim/webhooks")["registered"] is False
    assert sim.truth()["webhook_events"]["count"] == 0


@pytest.mark.parametrize("body", [
    {"url": "ftp://x"}, {"mode": "ecb"}, {"mode": "gcm"}, {"mode": "gcm", "aes_key": "short"},
    {"mode": "cbc", "aes_key": "é" * 32}, {"duplicate_rate": 2}, {"retry_base_ms": -1}, {"concurrency": 0},
    {"key": ""}, {"colour": "blue"},
])
def test_bad_registrations_are_refused(sim: SimAdmin, receiver: Receiver, body: dict[str, Any]) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        r = c.post("/__sim/webhooks", json={"url": receiver.url, **body})
        assert r.status_code == 400 and r.json()["status"] == "error", body
        assert c.post("/__sim/webhooks/flush", json={"timeout_s": -1}).status_code == 400
    assert sim.get("/__sim/webhooks")["registered"] is False


def test_a_month_of_a_5000_member_community_makes_over_10000_events(sim: SimAdmin) -> None:
    receiver = Receiver().start(listen=False)  # nothing is delivered: this is about generating them
    try:
        sim.reset(users=5000)
        register(sim, url=receiver.url, mode=None, concurrency=1, retry_base_ms=60_000)
        ch = sim.advance(24 * 30)["changes"]
        with httpx.Client(base_url=sim.base_url) as c:
            status = c.delete("/__sim/webhooks").json()
        assert ch["events"] == status["generated"] >= 10_000
    finally:
        assert receiver.server is not None
        receiver.server.server_close()
