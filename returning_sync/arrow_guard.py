"""The sync keeps pandas out of its process, even where pandas is installed (`returning-sync[pandas]`).

pyarrow asks for pandas once per process, on its first array (to tell pandas objects and pandas' NA
apart), and imports it when it is installed: 0.2-0.36 s holding the GIL while the users pass waits,
then a check against pandas' NA on every conversion (bench/README.md). `keep_pandas_out()` lets
pyarrow settle that question before the sync builds any array: pandas looks absent for that one
import, so pyarrow never imports it. Nothing else changes: `import pandas` works afterwards, and so
do `Table.to_pandas()` and `Table.from_pandas()`, which import pandas themselves.
Only the command line's `sync` calls it, first thing, in a process that is the sync's alone. The
library never does: a notebook or a Dagster run that imports `pipelines` keeps pyarrow's pandas
integration as pyarrow set it up (a process-wide decision is not a library's to make).
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from typing import Any


class _PandasAbsent:
    """A meta path finder for which pandas does not exist."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"{name} is kept out of the sync's process (returning_sync/arrow_guard.py)")
        return None


def keep_pandas_out() -> None:
    """pyarrow decides, now and for the process, that pandas is absent; a no-op when pandas is
    already imported (then there is nothing to save)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _PandasAbsent()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0], type=pa.int64())  # pyarrow's one attempt to import pandas fails, and is remembered
    finally:
        sys.meta_path.remove(finder)
