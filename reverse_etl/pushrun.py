"""One push run: what its steps share (the definition, the settings, the API client, the result) and
the warehouse that holds its ledger, opened once per step (`PushRun.db`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reverse_etl.definitions import Definition
from reverse_etl.result import PushResult
from reverse_etl.schema import ensure_schema
from warehouse.connection import Connection, connect
from warehouse.location import WarehouseLocation

if TYPE_CHECKING:
    from pipelines.client import ReturningClient
    from pipelines.config import Settings


def location_of(settings: Any) -> WarehouseLocation:
    """The warehouse of `settings` (`pipelines.config.Settings.location`, a WarehouseLocation itself,
    or anything with a `warehouse` path: DuckDB)."""
    location = settings if isinstance(settings, WarehouseLocation) else getattr(settings, "location", None)
    if isinstance(location, WarehouseLocation):
        return location
    return WarehouseLocation(path=Path(settings.warehouse))


def files_dir(settings: Any) -> Path:
    """Where upload files and previews go: `out/pushes/` beside the warehouse file (git-ignored)."""
    return Path(settings.warehouse).resolve().parent / "out" / "pushes"


@contextmanager
def open_ledger(settings: Any, read_only: bool = False) -> Iterator[Connection]:
    """The warehouse of `settings`, its ledger schema ensured unless `read_only`."""
    con = connect(location_of(settings), read_only=read_only, wait_seconds=60.0)
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


@dataclass
class PushRun:
    """One run of one definition; each step of the run takes it instead of its parts."""

    definition: Definition
    settings: Settings
    client: ReturningClient
    result: PushResult
    untracked: str | None = None  # why no upload can be followed to its job (no bulk-jobs list), once per run

    @classmethod
    def start(cls, definition: Definition, settings: Settings, client: ReturningClient, dry_run: bool) -> PushRun:
        return cls(definition, settings, client, PushResult(definition=definition.name, dry_run=dry_run,
                                                            state="dry_run" if dry_run else "pending"))

    @property
    def push_id(self) -> str:
        """The push this run recorded (set once its claim is committed)."""
        if self.result.push_id is None:
            raise RuntimeError(f"push {self.definition.name}: no push recorded yet")
        return self.result.push_id

    @property
    def files(self) -> Path:
        """This definition's folder of upload files and previews."""
        return files_dir(self.settings) / self.definition.name

    def db(self, read_only: bool = False) -> AbstractContextManager[Connection]:
        """The ledger's warehouse for one step (a connection per step: nothing is held while waiting)."""
        return open_ledger(self.settings, read_only)
