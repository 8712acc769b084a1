"""Receiver settings. The keys never appear in a repr, a message or a log.

They resolve in the project's one order (`warehouse.configuration`): the `RETURNING_WEBHOOK_*`
variable, then dlt's `sources.returning_ai.webhook_key` / `webhook_aes_key` (secrets: the
environment or `.dlt/secrets.toml`) / `webhook_dir`, resolved by dlt when the receiver starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from returning_errors import ConfigError
from warehouse.configuration import Found, Lookup, aliases_of, as_text

DEFAULT_DIR = Path("warehouse/landing/webhooks")
AES_KEY_LENGTH = 32
ALIASES = aliases_of("webhook_key", "webhook_aes_key", "webhook_dir")


@dataclass(frozen=True)
class WebhookSettings:
    """What the receiver needs: the expected `x-api-key`, the AES key, the landing folder."""

    api_key: str | None = field(default=None, repr=False)
    aes_key: bytes | None = field(default=None, repr=False)
    directory: Path = DEFAULT_DIR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, allow_no_key: bool = False) -> WebhookSettings:
        """Read `RETURNING_WEBHOOK_KEY`, `RETURNING_WEBHOOK_AES_KEY` and `RETURNING_WEBHOOK_DIR`
        (or their dlt names; `environ` given: that mapping alone).

        Without a key every delivery would be accepted from anyone who can reach the port, so a
        missing key is a configuration error unless the caller opts out (`--allow-no-key`)."""
        settings = _resolver(environ)
        key = settings.first("webhook_key", secret=True)
        if key is None and not allow_no_key:
            raise ConfigError(
                "RETURNING_WEBHOOK_KEY is not set (nor webhook_key under [sources.returning_ai] in "
                ".dlt/secrets.toml): set it to the key the community sends as x-api-key, "
                "or pass --allow-no-key to accept deliveries without one")
        aes = settings.first("webhook_aes_key", secret=True)
        return cls(api_key=as_text(key, ConfigError) if key else None,
                   aes_key=parse_aes_key(as_text(aes, ConfigError), aes.name) if aes else None,
                   directory=_directory(settings.first("webhook_dir")))


def parse_aes_key(raw: str, name: str = "RETURNING_WEBHOOK_AES_KEY") -> bytes:
    """The key's 32 ASCII characters are the 256-bit key (contract 9)."""
    value = raw.strip()
    if len(value) != AES_KEY_LENGTH or not value.isascii():
        # the length and the kind of fault only: never the value, not even in part
        raise ConfigError(
            f"{name} must be {AES_KEY_LENGTH} ASCII characters "
            f"(got {len(value)} characters{'' if value.isascii() else ', not all ASCII'})")
    return value.encode("ascii")


def landing_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The landing folder, for the loader (which needs no keys)."""
    return _directory(_resolver(environ).first("webhook_dir"))


def _resolver(environ: Mapping[str, str] | None) -> Lookup:
    return Lookup(environ=environ, error=ConfigError)


def _directory(found: Found | None) -> Path:
    return Path(as_text(found, ConfigError)) if found else DEFAULT_DIR
