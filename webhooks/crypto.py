"""The encrypted envelope (contract 9): `{"iv": "<base64>", "data": "<base64>"}` under AES-256.

The mode is told by the IV's length, as the contract fixes it per mode: a 12-byte IV is GCM (`data` is
the ciphertext followed by the 16-byte tag), a 16-byte IV is CBC (`data` is the PKCS#7-padded
ciphertext). Every failure raises `Undecryptable` with a reason that holds neither key nor body."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

GCM_IV = 12
CBC_IV = 16
TAG = 16
BLOCK = 16


class Undecryptable(ValueError):
    """The body could not be decrypted; the message says why, without key or content."""


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise Undecryptable(f"envelope field {name!r} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Undecryptable(f"envelope field {name!r} is not base64") from None


class Decryptor:
    """Decrypts envelopes under one 32-byte key (the GCM cipher object is made once)."""

    __slots__ = ("_key", "_gcm")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._gcm = AESGCM(key)

    def __repr__(self) -> str:
        return "Decryptor(key=***)"

    def decrypt(self, envelope: Any) -> bytes:
        """The plaintext body of an encrypted delivery, given its parsed envelope."""
        if not isinstance(envelope, dict):
            raise Undecryptable("encrypted body is not a JSON object")
        iv = _b64(envelope.get("iv"), "iv")
        data = _b64(envelope.get("data"), "data")
        if len(iv) == GCM_IV:
            if len(data) < TAG:
                raise Undecryptable("GCM data shorter than its tag")
            try:
                return self._gcm.decrypt(iv, data, None)
            except InvalidTag:
                raise Undecryptable("GCM tag does not verify (wrong key or altered data)") from None
        if len(iv) == CBC_IV:
            if not data or len(data) % BLOCK:
                raise Undecryptable("CBC data is not a whole number of blocks")
            decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            unpadder = padding.PKCS7(BLOCK * 8).unpadder()
            try:
                return unpadder.update(padded) + unpadder.finalize()
            except ValueError:
                raise Undecryptable("CBC padding is invalid (wrong key or altered data)") from None
        raise Undecryptable(f"IV of {len(iv)} bytes: neither GCM (12) nor CBC (16)")


def decrypt(envelope: Any, key: bytes) -> bytes:
    """The plaintext body of an encrypted delivery, given the parsed envelope and the 32-byte key."""
    return Decryptor(key).decrypt(envelope)
