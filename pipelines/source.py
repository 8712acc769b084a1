"""The dlt source `returning_ai`: one resource per warehouse table (docs/interfaces.md).

| table | holds | read from | load | write | key |
|---|---|---|---|---|---|
| users | each member of the community with profile and custom fields; members the API no longer lists stay, flagged `is_deleted` / `deleted_at` | users_filter; complete pass | snapshot | merge | `_id` |
| user_fields | the community's custom user field definitions (name, type, options) | user_fields | snapshot | replace | `_id` |
| user_field_histories | each change of a member's custom field value (previous and new value) | user_field_histories; since the last `createdAt` | incremental | delete-insert | `_id` |
| gamification_daily | xp and coins each member earned per UTC day | activity_daily; per (100 users, day), from the last day | incremental | merge | `(user_id, date)` |
| gamification_logs | each gamification event: the action, the xp and coins it moved, the balances after | activity_logs; since the last `createdAt` | incremental | delete-insert | `_id` |
| activity_stats | messages, replies, reactions and socials per active member and day | activity_stats; one call per member active since the last run | incremental | merge | `(user_id, date)` |
| minigame_logs | each mini-game play of a member (game, outcome, xp and coins won) | minigame_logs; one call per member active since the last run, since the last `createdAt` | incremental | delete-insert | `_id` |
| user_game_stats | each member's mini-game and streak stats (child tables `games`, `streaks`) | minigame_stats; one call per member active since the last run | snapshot | merge | `user_id` |
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
| webhook_events | each event the platform pushed to the webhook receiver, once per event id | the receiver's landed segments (no API call; a segment is removed once its load is committed) | incremental | merge | `id` |

One row per dataset declared in `pipelines/datasets.py` (a test keeps this copy equal to
`pipelines.tables.markdown()`); the resources are built from the declarations, in their order. Load: incremental tables are date-keyed, loaded hourly from the stored
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
from pipelines.dataset import Builder, Dataset
from pipelines.datasets import TABLES
from pipelines.isolation import Isolation, isolate
from pipelines.privacy import Policy, Privacy
from pipelines.resources import (
    activity,
    commerce,
    entities,
    gamification,
    messaging,
    minigames,
    users,
    webhook_events,
)

# the modules a declaration's `build = "module.function"` names
MODULES = {m.__name__.rsplit(".", 1)[1]: m for m in (activity, commerce, entities, gamification, messaging,
                                                      minigames, users, webhook_events)}


def builder(dataset: Dataset) -> Builder:
    """The function that builds `dataset`'s resource (`Dataset.build`)."""
    if dataset.build is None:
        return entities.generic
    if callable(dataset.build):
        return dataset.build
    module, _, name = dataset.build.partition(".")
    found = getattr(MODULES.get(module), name, None)
    if not callable(found):
        raise ValueError(f"dataset {dataset.name!r}: no builder {dataset.build!r} in pipelines/resources")
    return found  # type: ignore[no-any-return]


def resources_of(ctx: RunContext, datasets: list[Dataset]) -> dict[str, DltResource]:
    """Each dataset's resource, built in order (a transformer after what it reads from)."""
    built: dict[str, DltResource] = {}
    for dataset in datasets:
        built[dataset.name] = builder(dataset)(ctx, dataset, built)
    return built


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
    resources = list(resources_of(ctx, list(TABLES)).values())
    isolation = Isolation(ctx, off)
    privacy = Privacy(Policy.from_env(), ctx)  # PII hashed or dropped before dlt sees it; erased members left out
    for resource in resources:
        isolate(ctx, isolation, resource)
        privacy.apply(resource)
    return resources
