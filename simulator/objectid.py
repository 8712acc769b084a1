"""MongoDB-style ObjectIds: 8 hex of seconds, a 6-hex tag naming the collection, 10 hex of sequence.

Ids of one collection therefore sort like (creation second, sequence), and the sequence (the row's
position in its columnar table) is read back from the id without any index.
"""

from __future__ import annotations

import re

_HEX24 = re.compile(r"^[0-9a-f]{24}$")

TAG_USER = "5e1a0c"
TAG_LOG = "9a7e11"
TAG_HISTORY = "f1e1d0"
TAG_ORDER = "0dde70"
TAG_PURCHASE = "9c4a5e"
TAG_STATUS_CHANGE = "57a7c4"
TAG_STREAK_LOG = "57e4a1"
TAG_JOB = "b01c0b"
TAG_CATALOG = "ca7a10"
TAG_MESSAGE = "3e55a9"
TAG_MINIGAME = "9a3e60"
TAG_EVENT = "e7e470"


def make(ms: int, tag: str, seq: int) -> str:
    return f"{int(ms) // 1000:08x}{tag}{int(seq):010x}"


def is_valid(text: object) -> bool:
    return isinstance(text, str) and bool(_HEX24.match(text))


def seq_of(text: str, tag: str) -> int | None:
    """Sequence number of an id of the collection `tag`, or None when the id is of another kind."""
    if text[8:14] != tag:
        return None
    return int(text[14:], 16)
