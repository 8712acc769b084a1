"""An independent sender for the receiver's tests: events, encrypted envelopes built here with
`cryptography` (not with the receiver's code), and a receiver process started on loopback."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from returning_sync.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
KEY = "whk_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AES_KEY = "0123456789ABCDEFghijklmnopqrstuv"  # 32 ASCII characters = the 256-bit key
COMMUNITY = "6502c9e514a3e564c5c09c0a"
PATH = "/webhooks/returning-ai"


def event(i: int, kind: str = "user.joined", **extra: Any) -> dict[str, Any]:
    """A plausible event with a unique 24-hex id."""
    body: dict[str, Any] = {
        "id": f"{i:024x}", "event": kind, "communityId": COMMUNITY,
        "createdAt": "2026-05-18T12:00:00.000Z",
        "data": {"user": {"_id": f"{i + 1:024x}", "email": f"member{i}@example.com", "username": f"m{i}"},
                 "joinedAt": "2026-05-18T12:00:00.000Z"},
    }
    body.update(extra)
    return body


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def gcm(plain: bytes, key: str = AES_KEY, iv: bytes | None = None) -> bytes:
    iv = iv or os.urandom(12)
    data = AESGCM(key.encode()).encrypt(iv, plain, None)  # ciphertext + 16-byte tag
    return dumps({"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()})


def cbc(plain: bytes, key: str = AES_KEY, iv: bytes | None = None) -> bytes:
    iv = iv or os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv)).encryptor()
    data = enc.update(padded) + enc.finalize()
    return dumps({"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()})


def headers(key: str | None = KEY, encrypted: bool = False) -> dict[str, str]:
    h = {"content-type": "application/json"}
    if key is not None:
        h["x-api-key"] = key
    if encrypted:
        h["x-encrypted"] = "true"
    return h


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(ServerProcess):
    """A receiver process (`python -m webhooks`) landing into `directory`, and everything it printed."""

    def __init__(self, directory: Path, cmd: list[str], env: dict[str, str]) -> None:
        super().__init__("webhooks", cmd, cwd=REPO, env=env, stop_timeout=20)
        self.directory = directory

    @property
    def endpoint(self) -> str:
        return self.url + PATH


def receiver_env(directory: Path, key: str | None = KEY, aes_key: str | None = AES_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNING_WEBHOOK_")}
    env["RETURNING_WEBHOOK_DIR"] = str(directory)
    env["PYTHONPATH"] = str(REPO)
    if key is not None:
        env["RETURNING_WEBHOOK_KEY"] = key
    if aes_key is not None:
        env["RETURNING_WEBHOOK_AES_KEY"] = aes_key
    return env


def start_receiver(directory: Path, *args: str, port: int = 0, env: dict[str, str] | None = None,
                   command: tuple[str, ...] = ("-m", "webhooks")) -> Receiver:
    """Start a receiver on loopback; return once it printed that it listens."""
    cmd = [sys.executable, *command, "--host", "127.0.0.1", "--port", str(port), *args]
    return Receiver(directory, cmd, env or receiver_env(directory)).start()


def landed(directory: Path) -> list[dict[str, Any]]:
    """Every landed line (open and sealed segments), parsed independently of the receiver's reader."""
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*")):
        if path.suffix not in (".open", ".jsonl"):
            continue
        for raw in path.read_bytes().split(b"\n"):
            if raw:
                out.append(json.loads(raw))
    return out


def landed_ids(directory: Path) -> list[str]:
    return [line["payload"]["id"] for line in landed(directory)]
