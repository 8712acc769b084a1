"""webhook_events: the platform's live events (contract 9) as the receiver landed them, no API call.

The receiver (`returning-sync webhooks`, package `webhooks`) appends every delivery to segment
files under RETURNING_WEBHOOK_DIR. This resource reads the sealed ones (sealing what a dead receiver
left open), one row per event `id` (merged: the platform redelivers), and hands the segments to the
tracker: `run_sync` removes them only after the load that holds them is committed. A crash between
the load and the removal reads them again next time, and the merge on `id` absorbs it. The
receiver's events are the default community's: another community's sync leaves them where they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.dataset import Dataset
from pipelines.declared import arrow_schema
from warehouse.location import DEFAULT_COMMUNITY
from webhooks import events, segments
from webhooks.config import landing_dir

BATCH = 5000
SCHEMA = arrow_schema("webhook_events")


def webhook_events_resource(ctx: RunContext, dataset: Dataset, built: Mapping[str, DltResource]) -> DltResource:
    @dlt.resource(**dataset.hints())
    def webhook_events() -> Iterator[pa.Table]:
        ctx.tracker.start("webhook_events")
        # the receiver lands one community's events (its key, its folder): the default community's;
        # another community's sync reads none of them (its table stays the declared empty one)
        ready = segments.ready(landing_dir()) if ctx.settings.community == DEFAULT_COMMUNITY else []
        ctx.tracker.after_load(lambda: segments.remove(ready))
        batch: list[dict[str, object]] = []
        yielded = False
        for row in events.rows(ready):
            batch.append(row)
            if len(batch) >= BATCH:
                yield _table(batch)
                ctx.tracker.page("webhook_events", len(batch))
                yielded, batch = True, []
        if batch or not yielded:
            ctx.tracker.page("webhook_events", len(batch))
            yield _table(batch)  # no rows: the declared empty table

    return webhook_events()


def _table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.table({name: [r.get(name) for r in rows] for name in SCHEMA.names}, schema=SCHEMA)
