"""The dlt source `returning_ai`: one resource per warehouse table (docs/interfaces.md).

| table | holds | read from | load | write | key |
|---|---|---|---|---|---|
| users | each member of the community with profile and custom fields; members the API no longer lists stay, flagged `is_deleted` / `deleted_at` | users_filter; complete pass | snapshot | merge | `_id` |
| user_fields | the community's custom user field definitions (name, type, options) | user_fields | snapshot | replace | `_id` |
| user_field_histories | each change of a member's custom field value (previous and new value) | user_field_histories; since the last `createdAt` | incremental | delete-insert | `_id` |
| gamification_daily | xp and coins each member earned per UTC day | activity_daily; per (100 users, day), from the last day | incremental | merge | `(user_id, date)` |
| gamification_logs | each gamification event: the action, the xp and coins it moved, the balances after | activity_logs; since the last `createdAt` | incremental | delete-insert | `_id` |
| activity_stats | messages, replies, reactions and socials per active member and day | activity_stats; one call per member active since the last run | incremental | merge | `(user_id, date)` |
| loyalty_overview | the community's daily totals: active, new and returning users, xp, coins, redemptions | loyalty_overview; from the last day | incremental | merge | `date` |
| redemption_orders | each store redemption order with its current status | redemption_transactions; since the last `updatedAt` | incremental | merge | `transactionId` |
| redemption_statuses | the statuses a redemption order can have (name, category, colour) | redemption_statuses | snapshot | replace |  |
| redemption_status_history | each status change of a redemption order (who, when, to which status) | redemption_status_history; per changed order | incremental | delete-insert | `_id` |
| purchase_histories | each purchase with its product, voucher code and expiry | purchase_histories; newest first, down to the last `updatedAt` | incremental | merge | `_id` |
| store_products | the store's products (price, type, stock, discount) | products | snapshot | merge | `_id` |
| store_categories | the store's product categories | categories | snapshot | merge | `_id` |
| store_config | the store's configuration (one row: title, currency, widget) | store_config | snapshot | merge | `_id` |
| leaderboards | the community's leaderboards and what they rank by | leaderboards | snapshot | merge | `_id` |
| streaks | the streaks members can keep (timeframe, action, active days) | streaks | snapshot | merge | `_id` |
| streak_logs | each streak event of a member (started, continued, broken) | streak_logs; since the last `createdAt` | incremental | delete-insert | `_id` |
| tiers | the tiers (levels with their xp in `tiers__levels`) | tiers; `data.tiers` | snapshot | replace |  |
| tiers_xp_settings | the xp settings, one row: whether xp is on, and per action (`message`, `reply`, `react`, `visit`) whether it earns, how much xp and the cooldown `time` | tiers; `data.xpSetting`, the same call as tiers | snapshot | replace |  |
| bulk_jobs | the bulk update jobs the API ran (reverse ETL uploads) and their outcome | bulk_jobs | snapshot | merge | `jobId` |
| channels | the community's chat channels (name, type, private) | channels | snapshot | replace | `_id` |
| messages | each chat message with its channel, member, replies and reactions | messages; per channel, newest first, `count` growing (+ per member past `max_count`), down to the last `timestamp` | incremental | merge | `id` |
| minigame_logs | each mini-game play of a member (game, outcome, xp and coins won) | minigame_logs; one call per member active since the last run, since the last `createdAt` | incremental | delete-insert | `_id` |
| user_game_stats | each member's mini-game and streak stats (child tables `games`, `streaks`) | minigame_stats; one call per member active since the last run | snapshot | merge | `user_id` |
| webhook_events | each event the platform pushed to the webhook receiver, once per event id | the receiver's landed segments (no API call; a segment is removed once its load is committed) | incremental | merge | `id` |

The rows come from `pipelines/tables.py` (one row per table; a test keeps this copy equal to
`pipelines.tables.markdown()`). Load: incremental tables are date-keyed, loaded hourly from the stored
high-water mark (or a half-open window); snapshots are read whole. Write `delete-insert` = event rows
merged on their key: a re-read (lookback window for late data, a record repeated across pages) never
duplicates them. Timestamps are UTC timestamps, day fields dates; nested objects are flattened by dlt
(`status__name`) and lists become child tables.
"""

from __future__ import annotations

from datetime import date, datetime

import dlt
from dlt.extract.resource import DltResource

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.context import RunContext, Tracker
from pipelines.isolation import Isolation, isolate
from pipelines.privacy import Policy, Privacy
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


@dlt.source(name="returning_ai")
def returning_ai(
    settings: Settings | None = None,
    start_date: date | datetime | None = None,
    end_date: date | datetime | None = None,
    backfill: bool = False,
    refresh: bool = False,
    client: ReturningClient | None = None,
    tracker: Tracker | None = None,
    strict: bool = False,
    off: tuple[str, ...] = (),
) -> list[DltResource]:
    """Every Returning.AI dataset. `start_date`/`end_date` bound incremental reads (half-open);
    `backfill=True` re-reads from `start_date` without moving the stored high-water marks;
    `refresh=True` tells the resources that their tables are being rebuilt (full refresh).
    Each resource is isolated (`pipelines/isolation.py`): one that cannot be read is skipped and
    reported in `tracker.skips`, the others load; `strict=True` lets the first failure end the run.
    The resources named in `off` (disabled, or needing a disabled one) read nothing: on a first sync
    they only create their declared empty tables."""
    settings = settings or Settings.from_env()
    ctx = RunContext(settings, client=client, start_date=start_date, end_date=end_date,
                     backfill=backfill, refresh=refresh, tracker=tracker, strict=strict)
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
        one_response_resource(ctx, "redemption_statuses"),
        redemption_status_history_resource(ctx, orders),
        purchase_histories_resource(ctx),
        entity_list_resource(ctx, "store_products"),
        entity_list_resource(ctx, "store_categories"),
        one_response_resource(ctx, "store_config"),
        entity_list_resource(ctx, "leaderboards"),
        entity_list_resource(ctx, "streaks"),
        streak_logs_resource(ctx),
        one_response_resource(ctx, "tiers"),
        one_response_resource(ctx, "tiers_xp_settings", records="xp_setting"),
        entity_list_resource(ctx, "bulk_jobs"),
        channels_resource(ctx),
        messages_resource(ctx),
        webhook_events_resource(ctx),
    ]
    isolation = Isolation(ctx, off)
    privacy = Privacy(Policy.from_env(), ctx)  # PII hashed or dropped before dlt sees it; erased members left out
    for resource in resources:
        isolate(ctx, isolation, resource)
        privacy.apply(resource)
    return resources
