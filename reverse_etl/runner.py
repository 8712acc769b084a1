"""Run one push: its definition, an API client, and the push protocol (`protocol.Push`) as the
definition's target takes it: a CSV bulk upload (`bulk`) or one call per row (`perrow`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reverse_etl import jobs, ledger
from reverse_etl.bulk import BulkPush
from reverse_etl.definitions import get_definition
from reverse_etl.perrow import RowPush
from reverse_etl.protocol import Push
from reverse_etl.pushrun import PushRun, location_of, open_ledger
from reverse_etl.result import PushResult
from reverse_etl.rowsend import Pacing


def run_push(name: str, settings: Any, dry_run: bool = False, *, client: Any = None,
             waiting: jobs.Waiting | None = None, definitions_dir: Path | None = None,
             pacing: Pacing | None = None) -> PushResult:
    """Run the push `name` against the configured warehouse (`waiting`: how long a CSV upload's job
    is awaited; `pacing`: the waits between a per-row call's tries)."""
    definition = get_definition(name, definitions_dir)
    if client is None:
        from pipelines.client import ReturningClient

        with ReturningClient(settings) as owned:
            return _push(PushRun.start(definition, settings, owned, dry_run), waiting, pacing).execute()
    return _push(PushRun.start(definition, settings, client, dry_run), waiting, pacing).execute()


def _push(run: PushRun, waiting: jobs.Waiting | None, pacing: Pacing | None) -> Push:
    if run.definition.per_row:
        return RowPush(run, pacing)
    return BulkPush(run, waiting or jobs.Waiting())


def last_runs(settings: Any) -> dict[str, dict[str, Any]]:
    """definition -> its latest push, from the ledger on the configured warehouse ({} before any)."""
    location = location_of(settings)
    if location.embedded and not location.file.exists():
        return {}
    with open_ledger(settings, read_only=True) as con:
        return ledger.last_runs(con)
