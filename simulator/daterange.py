"""A request's `from`/`to` ISO-8601 bounds, and the rows they select in a time-sorted column."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.envelopes import bad_request
from simulator.timefmt import parse_iso


def iso_bounds(src: Any, lo: str = "from", hi: str = "to") -> tuple[int | None, int | None]:
    """The two bounds in ms (None where absent); 400 `Invalid date` when one is malformed."""
    try:
        return (parse_iso(src[lo]) if src.get(lo) else None,
                parse_iso(src[hi]) if src.get(hi) else None)
    except ValueError as e:
        raise bad_request("Invalid date", str(e)) from None


def window(ts: np.ndarray, src: Any) -> tuple[int, int]:
    """Positions [a, b) of sorted `ts` from `from` (inclusive) to `to` (exclusive); b >= a."""
    lo, hi = iso_bounds(src)
    a = int(np.searchsorted(ts, lo, "left")) if lo is not None else 0
    b = int(np.searchsorted(ts, hi, "left")) if hi is not None else len(ts)
    return a, max(a, b)
