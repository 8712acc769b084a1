"""Gamification set-up and streak logs, plus the bulk-jobs list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.resources.common import APPEND_ONCE, incremental, window
from pipelines.shapes import INT, STR, TS, to_arrow

STREAK_LOG_TYPES = {"_id": STR, "streakId": STR, "user_id": STR, "identifier": STR, "count": INT,
                    "status": STR, "createdAt": TS}


def streak_logs_resource(ctx: RunContext) -> DltResource:
    ep = ctx.settings.endpoint("streak_logs")

    @dlt.resource(name="streak_logs", write_disposition=APPEND_ONCE, primary_key="_id")
    def streak_logs(
        cursor: dlt.sources.incremental[datetime] = incremental(ctx, ep.f("cursor")),  # noqa: B008
    ) -> Iterator[pa.Table]:
        ctx.tracker.start("streak_logs")
        start, end = window(cursor)
        body = {k: v for k, v in ((ep.f("from"), start), (ep.f("to"), end)) if v is not None}
        for page in ctx.client.paginate("streak_logs", json=body):
            ctx.tracker.page("streak_logs", len(page))
            if page:
                yield to_arrow(page, STREAK_LOG_TYPES, keys=("_id",))

    return streak_logs()
