"""Time in the simulator: integer milliseconds since the epoch, and the API's date formats."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CLOCK_START_MS = calendar.timegm((2026, 6, 1, 0, 0, 0)) * 1000
HISTORY_DAYS = 90
HISTORY_START_MS = CLOCK_START_MS - HISTORY_DAYS * DAY_MS

_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]00:?00)?$")


def iso(ms: int) -> str:
    """`2026-03-05T11:04:15.754Z`."""
    ms = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    """ISO-8601 UTC (date, or date-time with optional fraction and Z) to ms; ValueError when malformed."""
    m = _ISO_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    y, mo, d, hh, mi, ss, frac, _ = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=UTC)
    ms = int(dt.timestamp()) * 1000
    if frac:
        ms += int((frac + "000")[:3])
    return ms


def ymd(day: int) -> str:
    """Day number to `YYYY-MM-DD`."""
    return time.strftime("%Y-%m-%d", time.gmtime(int(day) * 86400))


def dmy(day: int) -> str:
    """Day number to `dd/mm/yyyy`."""
    return time.strftime("%d/%m/%Y", time.gmtime(int(day) * 86400))


def parse_ymd(text: object) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    dt = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(dt.timestamp()) // 86400


def parse_dmy(text: object) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
        raise ValueError(f"not a dd/mm/yyyy date: {text!r}")
    dt = datetime.strptime(text, "%d/%m/%Y").replace(tzinfo=UTC)
    return int(dt.timestamp()) // 86400
