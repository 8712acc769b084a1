"""Receiver settings from the environment. The keys never appear in a repr, a message or a log: a bad
setting is a `ConfigError` (exit 2) naming the variable and the kind of fault, never the value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from returning_errors import ConfigError

DEFAULT_DIR = Path("warehouse/landing/webhooks")
AES_KEY_LENGTH = 32


@dataclass(frozen=True)
class WebhookSettings:
    """What the receiver needs: the expected `x-api-key`, the AES key, the landing folder."""

    api_key: str | None = field(default=None, repr=False)
    aes_key: bytes | None = field(default=None, repr=False)
    directory: Path = DEFAULT_DIR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, allow_no_key: bool = False) -> WebhookSettings:
        """Read `RETURNING_WEBHOOK_KEY`, `RETURNING_WEBHOOK_AES_KEY` and `RETURNING_WEBHOOK_DIR`.

        Without a key every delivery would be accepted from anyone who can reach the port, so a
        missing key is a configuration error unless the caller opts out (`--allow-no-key`)."""
        env = os.environ if environ is None else environ
        api_key = env.get("RETURNING_WEBHOOK_KEY", "").strip() or None
        if api_key is None and not allow_no_key:
            raise ConfigError(
                "RETURNING_WEBHOOK_KEY is not set: set it to the key the community sends as x-api-key, "
                "or pass --allow-no-key to accept deliveries without one")
        raw_aes = env.get("RETURNING_WEBHOOK_AES_KEY", "")
        aes_key = parse_aes_key(raw_aes) if raw_aes.strip() else None
        directory = Path(env.get("RETURNING_WEBHOOK_DIR", "").strip() or DEFAULT_DIR)
        return cls(api_key=api_key, aes_key=aes_key, directory=directory)


def parse_aes_key(raw: str) -> bytes:
    """The key's 32 ASCII characters are the 256-bit key (contract 9)."""
    value = raw.strip()
    if len(value) != AES_KEY_LENGTH or not value.isascii():
        # the length and the kind of fault only: never the value, not even in part
        raise ConfigError(
            f"RETURNING_WEBHOOK_AES_KEY must be {AES_KEY_LENGTH} ASCII characters "
            f"(got {len(value)} characters{'' if value.isascii() else ', not all ASCII'})")
    return value.encode("ascii")


def landing_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The landing folder, for the loader (which needs no keys)."""
    env = os.environ if environ is None else environ
    return Path(env.get("RETURNING_WEBHOOK_DIR", "").strip() or DEFAULT_DIR)
