"""A growable columnar table: named numpy columns sharing one length, appended to in batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class Table:
    def __init__(self, dtypes: Mapping[str, Any], capacity: int = 16) -> None:
        self._cols: dict[str, np.ndarray] = {k: np.zeros(max(capacity, 16), dtype=v) for k, v in dtypes.items()}
        self.n = 0

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Table:
        t = cls({k: v.dtype for k, v in arrays.items()}, 16)
        t._cols = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        t.n = len(next(iter(arrays.values()))) if arrays else 0
        return t

    @property
    def names(self) -> list[str]:
        return list(self._cols)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> np.ndarray:
        """A view of the live rows of column `name` (writes go through)."""
        return self._cols[name][: self.n]

    def append(self, batch: Mapping[str, Any]) -> int:
        """Append rows; returns the position of the first one."""
        m = len(next(iter(batch.values())))
        start = self.n
        if start == 0 and m > 4096 and all(
                isinstance(batch[k], np.ndarray) and batch[k].dtype == col.dtype and batch[k].flags.c_contiguous
                for k, col in self._cols.items()):
            self._cols = {k: batch[k] for k in self._cols}  # adopt a big first batch without copying
            self.n = m
            return 0
        need = start + m
        cap = len(next(iter(self._cols.values())))
        if need > cap:
            new_cap = max(need, cap + cap // 4 + 16)
            for k, col in self._cols.items():
                grown = np.zeros(new_cap, dtype=col.dtype)
                grown[:start] = col[:start]
                self._cols[k] = grown
        for k, col in self._cols.items():
            col[start:need] = np.asarray(batch[k], dtype=col.dtype) if m else col[start:need]
        self.n = need
        return start


class GroupIndex:
    """Rows of an append-only table grouped by one of its integer columns, in row order within each
    group: `positions(g)` without a scan. Rows appended since the last call are slotted in, not re-sorted."""

    def __init__(self, table: Table, column: str) -> None:
        self.table = table
        self.column = column
        self.n = 0
        self.order = np.zeros(0, np.int64)
        self.offsets = np.zeros(1, np.int64)

    def _refresh(self, n_groups: int) -> None:
        n = self.table.n
        if n == self.n and len(self.offsets) >= n_groups + 1:
            return
        keys = self.table[self.column]
        if n < self.n:  # the table was replaced: start over
            self.n, self.order, self.offsets = 0, np.zeros(0, np.int64), np.zeros(1, np.int64)
        groups = max(n_groups, int(keys.max()) + 1 if n else 0, len(self.offsets) - 1)
        offsets = self.offsets
        if len(offsets) < groups + 1:
            offsets = np.r_[offsets, np.full(groups + 1 - len(offsets), offsets[-1])]
        new = keys[self.n: n].astype(np.int64)
        if self.n == 0:
            self.order = np.argsort(new, kind="stable").astype(np.int64)
        elif len(new):
            srt = np.argsort(new, kind="stable")
            self.order = np.insert(self.order, offsets[new[srt] + 1], np.arange(self.n, n)[srt])
        self.offsets = np.r_[0, np.cumsum(np.bincount(keys, minlength=groups))].astype(np.int64)
        self.n = n

    def positions(self, group: int, n_groups: int = 0) -> np.ndarray:
        """Row positions of `group`, ascending."""
        self._refresh(n_groups)
        if group + 1 >= len(self.offsets):
            return np.zeros(0, np.int64)
        return self.order[self.offsets[group]: self.offsets[group + 1]]
