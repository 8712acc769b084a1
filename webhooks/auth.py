"""The `x-api-key` check (contract 9): the header must equal the configured key, compared in constant time."""

from __future__ import annotations

import hmac


class KeyCheck:
    """Holds the expected key as bytes; `accepts` tells whether a delivery's header matches it.

    With no key configured (the receiver was started with `--allow-no-key`) every delivery is accepted."""

    __slots__ = ("_expected",)

    def __init__(self, expected: str | None) -> None:
        self._expected = expected.encode("utf-8") if expected else None

    def __repr__(self) -> str:
        return f"KeyCheck(configured={self._expected is not None})"

    @property
    def required(self) -> bool:
        return self._expected is not None

    def accepts(self, header: bytes | None) -> bool:
        if self._expected is None:
            return True
        if header is None:
            return False
        # compare_digest takes time independent of where the first difference is
        return hmac.compare_digest(header.strip(), self._expected)
