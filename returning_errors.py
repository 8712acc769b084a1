"""The base of every error the project raises on purpose, and the meanings more than one layer raises.

One hierarchy, as httpx's `_exceptions.py`: a caller catches by meaning; the command line catches
`ReturningError` and ends with its `exit_code` (docs/interfaces.md) and its one-line message.
Each layer defines its own subclasses beside its code:

    ReturningError
    ├── ConfigError         PushError (reverse_etl/errors.py), ModelError, WarehouseMissing (warehouse/)
    ├── Busy (exit 6)       SyncBusy (here), WarehouseLocked (warehouse/duck.py)
    ├── KeyRefused          AuthError, PermissionDenied (pipelines/errors.py)
    ├── ApiFailure          ContractError, ApiError, RetriesExhausted, ... (pipelines/errors.py)
    └── WarehouseError      WarehouseUnreachable, WarehouseQueryError, ... (warehouse/errors.py)

Messages never carry a secret: each passes through `scrub`, which replaces every value given to
`register_secret` (the API key). Messages that count something say so with `plural` (`1 row`). This module imports nothing, so importing it costs nothing.
"""

from __future__ import annotations

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (the API key) so that no error message can ever carry it."""
    if value and len(value) >= 8:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`, `1,681 pages` (`many`: an irregular plural): every message that counts
    something says it this way."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


class ReturningError(Exception):
    """Base of every error raised on purpose: one line saying what to fix, never a secret."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class ConfigError(ReturningError):
    """Bad or missing configuration or command-line values; the message names the setting."""

    exit_code = 2


class Busy(ReturningError):
    """Another process holds a lock this one needs, longer than this one waits for it: nothing is
    wrong, try again later (exit 6, so a scheduler can tell "busy" from a failure)."""

    exit_code = 6


class SyncBusy(Busy):
    """Another sync is loading into the same warehouse (its sync lock or the dataset's advisory lock)."""


__all__ = ["Busy", "ConfigError", "ReturningError", "SyncBusy", "plural", "register_secret", "scrub"]
