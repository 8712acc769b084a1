"""The dlt source `returning_ai`: one resource per warehouse table (shared/interfaces.md).

| table | endpoint | write | cursor / key |
|---|---|---|---|
| users | users_filter, complete pass | merge | `_id`; absent users flagged `is_deleted`, `deleted_at` |
| user_fields | user_fields | replace | `_id` |
| user_field_histories | user_field_histories | append once | `createdAt` / `_id` |
| gamification_daily | activity_daily per (100 users, day) | merge | last day / `(user_id, date)` |
| gamification_logs | activity_logs | append once | `createdAt` / `_id` |
| activity_stats | activity_stats per active user | merge | `(user_id, date)` |
| loyalty_overview | loyalty_overview | merge | last day / `date` |
| redemption_orders | redemption_transactions | merge | `updatedAt` / `transactionId` |
| redemption_statuses | redemption_statuses | replace | |
| redemption_status_history | status-history per changed order | append once | `_id` |
| purchase_histories | purchase_histories, newest first | merge | `updatedAt` / `_id` |
| store_products, store_categories | products, categories | merge | `_id` |
| store_config | store_config | merge | `_id` |
| leaderboards, streaks | leaderboards, streaks | merge | `_id` |
| streak_logs | streak_logs | append once | `createdAt` / `_id` |
| tiers | tiers (`data.tiers`; levels in `tiers__levels`) | replace | |
| bulk_jobs | bulk_jobs | merge | `jobId` |
| channels | channels | replace | `_id` |
| messages | messages per channel, newest first, `count` growing (+ per member past `max_count`) | merge | `timestamp` per channel / `id` |
| minigame_logs | minigame_logs per active member | append once | `createdAt` / `_id` |
| user_game_stats | minigame_stats per active member (`games`, `streaks` child tables) | merge | `user_id` |
| webhook_events | the receiver's landed segments (no API call; a segment is removed once its load is committed) | merge | `id` |

"Append once" = event rows merged on their key (delete-insert): a re-read (lookback window for
late data, a record repeated across pages) never duplicates them. Timestamps are UTC timestamps, day fields
dates; nested objects are flattened by dlt (`status__name`) and lists become child tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import RESOURCE_ENDPOINTS, RunContext, Tracker
from pipelines.errors import ContractError
from pipelines.resources.activity import activity_stats_resource, loyalty_overview_resource
from pipelines.resources.commerce import (
    purchase_histories_resource,
    redemption_orders_resource,
    redemption_status_history_resource,
)
from pipelines.resources.entities import entity_list_resource, one_response_resource
from pipelines.resources.gamification import (
    gamification_daily_resource,
    gamification_logs_resource,
    streak_logs_resource,
)
from pipelines.resources.messaging import channels_resource, messages_resource
from pipelines.resources.minigames import minigame_logs_resource, user_game_stats_resource
from pipelines.resources.users import user_field_histories_resource, user_fields_resource, users_resource
from pipelines.resources.webhook_events import webhook_events_resource

# a transformer whose parent carries incremental state must load its parent too
PARENTS: dict[str, str] = {"redemption_status_history": "redemption_orders"}


@dlt.source(name="returning_ai")
def returning_ai(
    settings: Settings | None = None,
    start_date: date | datetime | None = None,
    end_date: date | datetime | None = None,
    backfill: bool = False,
    refresh: bool = False,
    client: ReturningClient | None = None,
    tracker: Tracker | None = None,
) -> list[DltResource]:
    """Every Returning.AI dataset. `start_date`/`end_date` bound incremental reads (half-open);
    `backfill=True` re-reads from `start_date` without moving the stored high-water marks;
    `refresh=True` tells the resources that their tables are being rebuilt (full refresh)."""
    settings = settings or Settings.from_env()
    ctx = RunContext(settings, client=client, start_date=start_date, end_date=end_date,
                     backfill=backfill, refresh=refresh, tracker=tracker)
    users = users_resource(ctx)
    orders = redemption_orders_resource(ctx)
    resources = [
        users,
        user_fields_resource(ctx),
        user_field_histories_resource(ctx),
        gamification_daily_resource(ctx, users),
        gamification_logs_resource(ctx),
        activity_stats_resource(ctx, users),
        # beside the other fan-outs of users: dlt starts the users pass where its first transformer sits
        minigame_logs_resource(ctx, users),
        user_game_stats_resource(ctx, users),
        loyalty_overview_resource(ctx),
        orders,
        one_response_resource(ctx, "redemption_statuses", "redemption_statuses"),
        redemption_status_history_resource(ctx, orders),
        purchase_histories_resource(ctx),
        entity_list_resource(ctx, "store_products", "products"),
        entity_list_resource(ctx, "store_categories", "categories"),
        one_response_resource(ctx, "store_config", "store_config", disposition="merge", key="_id"),
        entity_list_resource(ctx, "leaderboards", "leaderboards"),
        entity_list_resource(ctx, "streaks", "streaks"),
        streak_logs_resource(ctx),
        one_response_resource(ctx, "tiers", "tiers"),
        entity_list_resource(ctx, "bulk_jobs", "bulk_jobs", key="jobId"),
        channels_resource(ctx),
        messages_resource(ctx),
        webhook_events_resource(ctx),
    ]
    for resource in resources:
        guard(resource)
    return resources


def guard(resource: DltResource) -> DltResource:
    """Checks on what a resource yields, before dlt sees it: a record without its key breaks the
    contract: ContractError during extract, so nothing is committed (dlt would otherwise fail
    later, at normalize or load, after moving the cursors, and leave a package that fails every
    following run). Repeats of a key within one load (a record repeated across pages, a page
    boundary that shifted) are deduplicated by dlt's merge, which keeps one row per key."""
    keys = [c for c, hints in resource.compute_table_schema()["columns"].items() if hints.get("primary_key")]
    if not keys:
        return resource
    endpoint = (RESOURCE_ENDPOINTS.get(resource.name) or (resource.name,))[0]

    def check(item: Any) -> Any:
        if isinstance(item, pa.Table):
            for key in keys:
                if key not in item.column_names or item.column(key).null_count:
                    raise ContractError(endpoint, f"a record lacks its key '{key}'")
        elif isinstance(item, dict):
            for key in keys:
                if item.get(key) is None:
                    raise ContractError(endpoint, f"a record lacks its key '{key}'")
        return item

    return resource.add_map(check)
