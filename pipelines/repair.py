"""What a killed run left, put right before anything new loads (under the sync lock): the half-loaded
package aborted, the extracted one loaded, an interrupted full refresh redone; and `reset_cursors`,
a full refresh's first step."""

from __future__ import annotations

import json

import dlt
from dlt.pipeline.helpers import pipeline_drop

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.lock import lock_path
from pipelines.pipeline import loader_file_format, make_source
from pipelines.tables import RESOURCES

__all__ = ["abort_partial_load", "repair", "reset_cursors"]


def abort_partial_load(pipeline: dlt.Pipeline) -> list[str]:
    """A load killed midway leaves its package half loaded. dlt would run the interrupted jobs
    again, and a job whose insert committed just before the kill loads its rows twice. Abort the
    package instead: dlt restores the local state (cursors) and schemas to what they were before
    it was extracted, so this run reads its data again and merges it once.
    Returns the resources a full refresh in the aborted package had already emptied: their old
    cursors came back with the state, so the caller must refresh them again or their history is lost."""
    for load_id in pipeline.list_normalized_load_packages():
        jobs = pipeline.get_load_package_info(load_id).jobs
        if jobs["started_jobs"] or jobs["completed_jobs"] or jobs["failed_jobs"]:
            package = pipeline.get_load_package_state(load_id)
            dropped = {t["name"] for t in package.get("dropped_tables") or [] if isinstance(t, dict)}
            pipeline.abort_packages()
            return [r for r in RESOURCES if r in dropped]
    return []


def repair(pipeline: dlt.Pipeline, settings: Settings, client: ReturningClient | None = None) -> None:
    """Before loading anything new, under the sync lock: abort what a run killed mid-load left
    (see `abort_partial_load`), and redo a full refresh of an earlier release killed after it
    emptied tables: their cursors are reset and they are read again from the start. That redo is
    noted beside the lock and stays owed until a refresh succeeds, even if this run fails too."""
    owed = lock_path(settings).with_name("refresh-owed.json")
    redo = sorted(set(abort_partial_load(pipeline)) | set(json.loads(owed.read_text()) if owed.exists() else []))
    # a package a killed run extracted but never started loading is complete: load it now. Left to
    # `pipeline.run`, dlt would load it and return without reading anything new
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        pipeline.load()
    if redo:
        owed.write_text(json.dumps(redo))
        reset_cursors(pipeline, redo)
        pipeline.run(make_source(settings, redo, refresh=True, client=client),
                     loader_file_format=loader_file_format(settings))
        owed.unlink()


def reset_cursors(pipeline: dlt.Pipeline, resources: list[str]) -> list[str]:
    """A full refresh's first step: forget the stored state (high-water marks, per-channel marks,
    stored days, users-pass stamps) of `resources`, committed to the warehouse on its own, so the
    run that follows reads them from the start. The tables are never dropped or emptied: what the
    read brings is merged over what they hold, and history the API no longer serves (deleted
    members' daily history and messages, webhook events already loaded) stays. A run that fails
    after this leaves the cursors reset: the next run reads everything again, losing nothing.
    Returns the resources whose state was reset (none on a pipeline that never ran)."""
    pipeline.sync_destination()  # a fresh machine: the state and schema come from the warehouse
    if not pipeline.default_schema_name:
        return []
    drop = pipeline_drop(pipeline, resources=[f"re:^{name}$" for name in resources], state_only=True)
    if drop.is_empty:
        return []
    drop()
    return list(drop.info["resource_states"])

