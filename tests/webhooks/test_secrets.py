"""Secrets canary for the receiver: a random webhook key and AES key, used for good and refused
deliveries and a bad start, appear in no output of the receiver and in no file it wrote."""

from __future__ import annotations

import base64
import os
import secrets
import string

import httpx

from tests.webhooks.sender import PATH, cbc, dumps, event, gcm, headers, receiver_env, start_receiver
from tests.webhooks.test_cli import run_cli


def canary_aes_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def forms(secret: str) -> list[bytes]:
    """The secret as text and in the encodings a leak would likely take."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), repr(raw).encode()]


def test_keys_appear_in_no_log_or_landed_file(tmp_path):
    key = "canary-" + secrets.token_hex(16)
    aes = canary_aes_key()
    other = "canary-other-" + secrets.token_hex(8)  # a wrong key a sender tried: not logged either
    landing = tmp_path / "landing"
    rec = start_receiver(landing, env=receiver_env(landing, key=key, aes_key=aes))
    try:
        with httpx.Client(base_url=rec.url, timeout=10) as c:
            statuses = [
                c.post(PATH, content=dumps(event(1)), headers=headers(key=key)).status_code,
                c.post(PATH, content=gcm(dumps(event(2)), key=aes), headers=headers(key=key, encrypted=True)).status_code,
                c.post(PATH, content=cbc(dumps(event(3)), key=aes), headers=headers(key=key, encrypted=True)).status_code,
                c.post(PATH, content=dumps(event(4)), headers=headers(key=other)).status_code,
                c.post(PATH, content=gcm(dumps(event(5)), key="W" * 32), headers=headers(key=key, encrypted=True)).status_code,
                c.post(PATH, content=b"{broken", headers=headers(key=key)).status_code,
                c.post(PATH, content=dumps({"id": "x"}), headers=headers(key=key)).status_code,
                c.post(PATH, content=b"x" * (2 << 20), headers=headers(key=key)).status_code,
            ]
            assert statuses == [200, 200, 200, 401, 400, 400, 400, 413]
    finally:
        rec.stop()
    bad_start = run_cli(receiver_env(tmp_path, key=key, aes_key=aes[:31]), "--port", "0")
    assert bad_start.returncode == 2
    outputs = "".join(rec.output).encode() + bad_start.stdout.encode() + bad_start.stderr.encode()
    assert b"refused delivery" in outputs  # the refusals were logged ...
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files)
    for secret in (key, aes, aes[:31], other):
        for form in forms(secret):
            assert form not in outputs, "a key in the receiver's output"
            for path in files:
                assert form not in path.read_bytes(), f"a key in {path.name}"
    assert not [p for p in files if os.access(p, os.X_OK)]
