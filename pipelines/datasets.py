"""Every dataset of the source `returning_ai`, one declaration each (`pipelines.dataset.Dataset`),
in source order; then the endpoints no dataset reads (look-ups and writes); then the views the rest
of the code reads (`pipelines/tables.py`, `pipelines/declared.py` and `pipelines/registry.py`
re-export them).

A simple list dataset is one declaration here (its endpoint, load, key and columns) plus, in tests,
its simulator route: its resource, table, Dagster asset, `check` probe and docs follow from it. A
dataset declared elsewhere (a plugin, a test) joins with `register(Dataset(...))`, or
`with registered(Dataset(...)):` for a while (docs/architecture.md, "Adding a dataset").

Per-endpoint options are typed dataclasses on the endpoint that reads them (`MessagesOptions` on
`messages`): overrides set them by name and type (`{"messages": {"max_count": 500}}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipelines.dataset import BIGINT, BOOL, DAY, DOUBLE, TEXT, TSTZ, Dataset, Load, Write
from pipelines.endpoint import Endpoint, marks
from pipelines.pagination import (
    CursorPaginator,
    HasNextPaginator,
    MetaTotalPaginator,
    SkipLimitPaginator,
    TotalPagesPaginator,
)

INC, SNAP = Load.INCREMENTAL, Load.SNAPSHOT
MERGE, REPLACE, DELETE_INSERT = Write.MERGE, Write.REPLACE, Write.DELETE_INSERT


# -- the endpoints' own options ----------------------------------------------------------------
@dataclass(frozen=True)
class UsersOptions:
    """users_filter: how the complete pass is read (pipelines/shards.py)."""

    shards: bool = True  # the pass split by join_date ranges (False: one unfiltered chain)
    shards_per_worker: int = 3  # ranges per worker
    date_format: str = "%Y-%m-%d"  # dates in the join_date filter [doc]
    platform_fields: tuple[str, ...] = ()  # platform fields requested besides the custom ones
    int_fields: tuple[str, ...] = ()  # which of them are integers


@dataclass(frozen=True)
class DaysOptions:
    """activity_stats, loyalty_overview: calls over a range of days."""

    max_days: int = 90  # the longest range one call covers


@dataclass(frozen=True)
class DailyOptions:
    """activity_daily: members' daily history, by batches of emails."""

    max_identifiers: int = 100  # emails per call


@dataclass(frozen=True)
class MessagesOptions:
    """messages: Get Messages has no page: `count` grows (pipelines/resources/messaging.py)."""

    default_count: int = 50  # `count` when nothing tells more [assumed]
    max_count: int = 1000  # the largest `count` answered [assumed]
    member_fallback: bool = True  # a channel's messages past `max_count` read per member


@dataclass(frozen=True)
class MinigameLogsOptions:
    discover: bool = True  # players found through the gamification logs too


@dataclass(frozen=True)
class StreakLogsOptions:
    reconcile: bool = True  # logs before the window counted, re-read when they differ


@dataclass(frozen=True)
class MessageSendOptions:
    max_chars: int = 4000  # the longest message sent


# -- the contract's names ----------------------------------------------------------------------
_COMMUNITY = "/apis/v1/communities/{communityId}"
_TS = {"from": "from", "to": "to"}
_PAGES = TotalPagesPaginator()  # the `data.pagination` block (docs/contract-readings.md)
DOC_PLATFORM_FIELDS = ("email", "first_name", "last_name", "join_date", "xp", "coins")  # 7.1 [doc]
ASSUMED_PLATFORM_FIELDS = ("username", "display_name", "last_login", "tier", "level", "premium_currency", "language",
                           "login_streak", "total_messages", "total_reactions", "visit_count", "is_deleted")


# -- the datasets, in source order -------------------------------------------------------------
# (the fan-outs of users sit together after its first transformer: dlt starts the users pass there)
BUILT_IN: tuple[Dataset, ...] = (
    Dataset(
        "users", "each member of the community with profile and custom fields; members the API no longer "
        "lists stay, flagged `is_deleted` / `deleted_at`",
        # 7.1: body, filters, pagination and the first six platform fields [doc]; the response layout
        # (`data.users`, `_id`, `total`) and the further platform fields [assumed]
        Endpoint("users_filter", "POST", "/apis/v1/users/filter", "integration", "getUserData",
                 # `total` per page [assumed]: the pass split by join_date (pipelines/shards.py) needs it
                 pagination=CursorPaginator(cursor_param="cursor", cursor_path="data.next_cursor",
                                            total_path="data.total"),
                 records="data.users", records_status="assumed", page_size=200, status="doc",
                 fields={"fields": "fields", "filter": "filter", "id": "_id", "email": "email",
                         "last_login": "last_login", "join_date": "join_date", "is_deleted": "is_deleted",
                         "total_messages": "total_messages",
                         # the split pass: `filter` with gte/lte on dates [doc]
                         "shard_field": "join_date", "gte": "gte", "lte": "lte"},
                 params=marks(doc="fields filter"),
                 record_fields=marks(doc=" ".join(DOC_PLATFORM_FIELDS), assumed="_id " + " ".join(
                     ASSUMED_PLATFORM_FIELDS)),
                 options=UsersOptions(
                     # platform fields requested besides the custom ones [doc: first six]
                     platform_fields=DOC_PLATFORM_FIELDS + ASSUMED_PLATFORM_FIELDS,
                     int_fields=("xp", "coins", "level", "premium_currency", "login_streak", "total_messages",
                                 "total_reactions", "visit_count"))),
        SNAP, MERGE, ("_id",), read="complete pass", arrow=True, build="users.users_resource",
        # every platform field the sync requests ([assumed] ones too: models and pushes read them, so the
        # column exists, null, when the API does not send one)
        columns={"_id": TEXT, "email": TEXT, "first_name": TEXT, "last_name": TEXT, "join_date": TEXT, "xp": BIGINT,
                 "coins": BIGINT, "username": TEXT, "display_name": TEXT, "last_login": TSTZ, "tier": TEXT,
                 "level": BIGINT, "premium_currency": BIGINT, "language": TEXT, "login_streak": BIGINT,
                 "total_messages": BIGINT, "total_reactions": BIGINT, "visit_count": BIGINT, "is_deleted": BOOL,
                 "deleted_at": TSTZ},
        pii=("email", "first_name", "last_name", "username", "display_name"), member_id="_id"),
    Dataset(
        "user_fields", "the community's custom user field definitions (name, type, options)",
        Endpoint("user_fields", "GET", _COMMUNITY + "/user-fields", "application", "userFields",
                 records_status="doc", fields={"key": "field", "type": "type"}, record_fields="doc"),
        SNAP, REPLACE, ("_id",), build="users.user_fields_resource",
        columns={"_id": TEXT, "field": TEXT, "name": TEXT, "type": TEXT, "description": TEXT, "required": BOOL,
                 "defaultValue": TEXT, "communityId": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
        nullable_objects=("creator",)),
    Dataset(
        "user_field_histories", "each change of a member's custom field value (previous and new value)",
        Endpoint("user_field_histories", "GET", _COMMUNITY + "/user-field-histories", "application", "userFields",
                 pagination=MetaTotalPaginator(), page_size=100,
                 fields={**_TS, "cursor": "createdAt", "sort": "createdAt:asc"},
                 params=marks(assumed="from to sort"), record_fields="assumed"),
        INC, DELETE_INSERT, ("_id",), read="since the last `createdAt`", build="users.user_field_histories_resource",
        columns={"_id": TEXT, "communityId": TEXT, "userId": TEXT, "fieldId": TEXT, "field": TEXT,
                 "previousValue": TEXT, "value": TEXT, "source": TEXT, "createdAt": TSTZ},
        member_id="userId"),
    Dataset(
        "gamification_daily", "xp and coins each member earned per UTC day",
        Endpoint("activity_daily", "POST", "/apis/v1/users/activity/daily", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100, status="doc",
                 fields={"identifier": "identifier", "identifier_type": "identifier_type", "date": "date"},
                 params=marks(doc="identifier identifier_type date"), record_fields="doc", options=DailyOptions()),
        INC, MERGE, ("user_id", "date"), read="per (100 users, day), from the last day", arrow=True, needs="users",
        build="gamification.gamification_daily_resource",
        columns={"identifier": TEXT, "user_id": TEXT, "date": DAY, "coins": BIGINT, "xp": BIGINT},
        pii=("identifier",), member_id="user_id"),
    Dataset(
        "gamification_logs", "each gamification event: the action, the xp and coins it moved, the balances after",
        Endpoint("activity_logs", "POST", "/apis/v1/users/activity/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"},
                 params=marks(assumed="from to"), record_fields="assumed"),
        INC, DELETE_INSERT, ("_id",), read="since the last `createdAt`", arrow=True,
        build="gamification.gamification_logs_resource",
        columns={"_id": TEXT, "user_id": TEXT, "identifier": TEXT, "action": TEXT, "xp": BIGINT, "coins": BIGINT,
                 "balance_xp": BIGINT, "balance_coins": BIGINT, "createdAt": TSTZ},
        pii=("identifier",), member_id="user_id"),
    Dataset(
        "activity_stats", "messages, replies, reactions and socials per active member and day",
        Endpoint("activity_stats", "POST", "/apis/v1/users/activity/stats", "integration", "getUserStats",
                 status="doc", fields={"identifier": "identifier", "identifier_type": "identifier_type",
                                       "days": "days"},
                 params=marks(doc="identifier identifier_type days"),
                 # the answer's `user_id`, `range`, `daily_stats`; then the fields of each `daily_stats` entry
                 record_fields=marks(doc="user_id range.end_date daily_stats date messages replies reaction socials"),
                 options=DaysOptions()),
        INC, MERGE, ("user_id", "date"), read="one call per member active since the last run", arrow=True,
        needs="users", build="activity.activity_stats_resource",
        columns={"user_id": TEXT, "date": DAY, "messages": BIGINT, "replies": BIGINT, "reaction": BIGINT,
                 "socials": BIGINT},
        member_id="user_id"),
    Dataset(
        "minigame_logs", "each mini-game play of a member (game, outcome, xp and coins won)",
        # 7.16 / 7.17: title and POST doc; paths and shapes assumed
        Endpoint("minigame_logs", "POST", "/apis/v1/users/minigames/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "email": "email", "cursor": "createdAt",
                         # players found through the gamification logs (7.6: a rewarded play logs
                         # `minigame`), deleted members too: the users pass lists only live ones
                         "log_action": "action", "log_minigame": "minigame", "log_email": "identifier"},
                 params=marks(assumed="email from to"),
                 record_fields="assumed",
                 options=MinigameLogsOptions()),
        INC, DELETE_INSERT, ("_id",), read="one call per member active since the last run, since the last "
        "`createdAt`", arrow=True, needs="users", build="minigames.minigame_logs_resource",
        columns={"_id": TEXT, "user_id": TEXT, "email": TEXT, "game": TEXT, "outcome": TEXT, "xp": BIGINT,
                 "coins": BIGINT, "createdAt": TSTZ},
        pii=("email",), member_id="user_id"),
    Dataset(
        "user_game_stats", "each member's mini-game and streak stats (child tables `games`, `streaks`)",
        Endpoint("minigame_stats", "POST", "/apis/v1/users/minigames/stats", "integration", "getUserStats",
                 fields={"email": "email"}, params=marks(assumed="email"),
                 record_fields=marks(assumed="user_id email games streaks")),
        SNAP, MERGE, ("user_id",), read="one call per member active since the last run", needs="users",
        build="minigames.user_game_stats_resource",
        columns={"user_id": TEXT, "email": TEXT},  # `games`, `streaks`: child tables, with their first row
        pii=("email",), member_id="user_id"),
    Dataset(
        "loyalty_overview", "the community's daily totals: active, new and returning users, xp, coins, redemptions",
        Endpoint("loyalty_overview", "GET", "/v1/analytics/loyalty-overview", "partner", "analytics",
                 fields=_TS, params=marks(assumed="from to"),
                 record_fields="assumed",
                 options=DaysOptions()),
        INC, MERGE, ("date",), read="from the last day", build="activity.loyalty_overview_resource",
        columns={"date": DAY, "activeUsers": BIGINT, "newUsers": BIGINT, "returningUsers": BIGINT,
                 "messages": BIGINT, "xpEarned": BIGINT, "coinsEarned": BIGINT, "coinsSpent": BIGINT,
                 "redemptions": BIGINT, "retention7d": DOUBLE}),
    Dataset(
        "redemption_orders", "each store redemption order with its current status",
        Endpoint("redemption_transactions", "GET", "/apis/v1/redemption-transactions", "integration",
                 "redemptions", pagination=_PAGES, records="data.results", page_size=100,
                 fields={"from": "updatedFrom", "to": "updatedTo", "cursor": "updatedAt", "sort": "updatedAt:asc",
                         "key": "transactionId"},
                 params=marks(assumed="updatedFrom updatedTo sort"),
                 # the status object's fields [doc] (7.9), the order's [assumed]
                 record_fields=marks(doc="status._id status.name status.category status.color",
                                     assumed="_id transactionId userId email productId productName quantity "
                                             "price currency statusId status createdAt updatedAt")),
        INC, MERGE, ("transactionId",), read="since the last `updatedAt`",
        build="commerce.redemption_orders_resource",
        columns={"_id": TEXT, "transactionId": TEXT, "userId": TEXT, "email": TEXT, "productId": TEXT,
                 "productName": TEXT, "quantity": BIGINT, "price": DOUBLE, "currency": TEXT, "statusId": TEXT,
                 "status___id": TEXT, "status__name": TEXT, "status__category": TEXT, "status__color": TEXT,
                 "createdAt": TSTZ, "updatedAt": TSTZ},
        pii=("email",), member_id="userId", nullable_objects=("status",)),
    Dataset(
        "redemption_statuses", "the statuses a redemption order can have (name, category, colour)",
        Endpoint("redemption_statuses", "GET", "/apis/v1/redemption-statuses", "integration", "redemptions",
                 record_fields="doc"),
        SNAP, REPLACE,
        columns={"_id": TEXT, "name": TEXT, "category": TEXT, "color": TEXT}),
    Dataset(
        "redemption_status_history", "each status change of a redemption order (who, when, to which status)",
        Endpoint("redemption_status_history", "GET",
                 "/apis/v1/redemption-transactions/{transactionId}/status-history", "integration", "redemptions",
                 record_fields="assumed"),
        INC, DELETE_INSERT, ("_id",), read="per changed order", parent="redemption_orders",
        build="commerce.redemption_status_history_resource",
        columns={"_id": TEXT, "transactionId": TEXT, "statusId": TEXT, "statusName": TEXT, "category": TEXT,
                 "changedAt": TSTZ, "changedBy": TEXT}),
    Dataset(
        "purchase_histories", "each purchase with its product, voucher code and expiry",
        # 7.11: the list [assumed]; its records as the PATCH's answer [doc]
        Endpoint("purchase_histories", "GET", "/v1/purchase-histories", "partner", "purchase-history",
                 pagination=SkipLimitPaginator(), page_size=100,
                 fields={"cursor": "updatedAt", "sort": "updatedAt:desc"},
                 params=marks(assumed="sort"), record_fields="doc"),
        INC, MERGE, ("_id",), read="newest first, down to the last `updatedAt`",
        build="commerce.purchase_histories_resource",
        columns={"_id": TEXT, "orderID": TEXT, "communityID": TEXT, "userID": TEXT, "voucherCode": TEXT,
                 "voucherExpiryDate": TEXT, "statusID": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
        member_id="userID", nullable_objects=("product",)),
    Dataset(
        "store_products", "the store's products (price, type, stock, discount)",
        Endpoint("products", "GET", "/v1/products", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc", record_fields="doc"),
        SNAP, MERGE, ("_id",),
        columns={"_id": TEXT, "communityID": TEXT, "name": TEXT, "description": TEXT, "image": TEXT, "price": DOUBLE,
                 "type": TEXT, "categoryID": TEXT, "stocks": BIGINT, "discountPrice": DOUBLE,
                 "isDiscountEnabled": BOOL, "isArchived": BOOL, "totalOrders": BIGINT, "displayOrder": BIGINT,
                 "redemptionInstructions": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
        nullable_objects=("userInformation", "expiringVoucherHighlight", "i18n", "customOptions",
                          "purchaseStatusOverride")),
    Dataset(
        "store_categories", "the store's product categories",
        Endpoint("categories", "GET", "/v1/categories", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc", record_fields="doc"),
        SNAP, MERGE, ("_id",),
        columns={"_id": TEXT, "communityID": TEXT, "name": TEXT, "coverImage": TEXT, "shouldShowCover": BOOL,
                 "isArchived": BOOL, "viewType": TEXT, "displayOrder": BIGINT, "defaultPurchaseStatusID": TEXT,
                 "createdAt": TSTZ, "updatedAt": TSTZ}),
    Dataset(
        "store_config", "the store's configuration (one row: title, currency, widget)",
        Endpoint("store_config", "GET", "/stores", "partner", "store", status="doc", record_fields="doc"),
        SNAP, MERGE, ("_id",),
        columns={"_id": TEXT, "communityID": TEXT, "isEnabled": BOOL, "title": TEXT, "description": TEXT,
                 "widgetID": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
        nullable_objects=("cover", "currency", "widget")),
    Dataset(
        "leaderboards", "the community's leaderboards and what they rank by",
        Endpoint("leaderboards", "GET", "/v1/leaderboards", "partner", "gamification",
                 pagination=MetaTotalPaginator(), page_size=100, status="doc", record_fields="doc"),
        SNAP, MERGE, ("_id",),
        columns={"_id": TEXT, "communityID": TEXT, "name": TEXT, "slug": TEXT, "description": TEXT, "image": TEXT,
                 "rankBy": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
        nullable_objects=("duration",)),
    Dataset(
        "streaks", "the streaks members can keep (timeframe, action, active days)",
        Endpoint("streaks", "GET", "/apis/v1/streaks", "application", "gamification",
                 pagination=HasNextPaginator(), page_size=100, status="doc", record_fields="doc"),
        SNAP, MERGE, ("_id",),
        columns={"_id": TEXT, "name": TEXT, "communityId": TEXT, "timezone": TEXT, "startDate": TSTZ,
                 "activeDaysType": TEXT, "order": BIGINT, "createdAt": TSTZ, "updatedAt": TSTZ}),
    Dataset(
        "streak_logs", "each streak event of a member (started, continued, broken)",
        Endpoint("streak_logs", "POST", "/apis/v1/streaks/logs", "integration", "gamification",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"}, params=marks(assumed="from to"),
                 record_fields="assumed",
                 options=StreakLogsOptions()),
        INC, DELETE_INSERT, ("_id",), read="since the last `createdAt`", arrow=True,
        build="gamification.streak_logs_resource",
        columns={"_id": TEXT, "streakId": TEXT, "user_id": TEXT, "identifier": TEXT, "count": BIGINT, "status": TEXT,
                 "createdAt": TSTZ},
        pii=("identifier",), member_id="user_id"),
    Dataset(
        "tiers", "the tiers (levels with their xp in `tiers__levels`)",
        Endpoint("tiers", "GET", "/apis/v1/tiers", "integration", "gamification", records="data.tiers",
                 fields={"xp_setting": "data.xpSetting"},  # one object beside the tiers: tiers_xp_settings
                 record_fields=marks(assumed="name icon levels")),
        SNAP, REPLACE, read="`data.tiers`",
        columns={"name": TEXT, "icon": TEXT},
        # `tiers.levels` is [assumed]; dim_users joins `tiers__levels`
        child_tables={"levels": {"level": BIGINT, "xp": BIGINT}}),
    Dataset(
        "tiers_xp_settings", "the xp settings, one row: whether xp is on, and per action (`message`, `reply`, "
        "`react`, `visit`) whether it earns, how much xp and the cooldown `time`",
        "tiers", SNAP, REPLACE, read="`data.xpSetting`, the same call as tiers", part="xp_setting",
        columns={"enabled": BOOL}),  # each action's object flattened by dlt (`message__xp`)
    Dataset(
        "bulk_jobs", "the bulk update jobs the API ran (reverse ETL uploads) and their outcome",
        Endpoint("bulk_jobs", "GET", "/apis/v1/bulk-jobs", "integration", "bulkUpdateUser",
                 pagination=_PAGES, records="data.results", page_size=100, record_fields="assumed"),
        SNAP, MERGE, ("jobId",),
        columns={"jobId": TEXT, "type": TEXT, "fileName": TEXT, "status": TEXT, "totalRows": BIGINT,
                 "processedRows": BIGINT, "successRows": BIGINT, "failedRows": BIGINT, "createdAt": TSTZ,
                 "startedAt": TSTZ, "finishedAt": TSTZ}),
    Dataset(
        "channels", "the community's chat channels (name, type, private)",
        # 7.14: path and the listed fields doc; permission (sendMessage) assumed
        Endpoint("channels", "GET", "/apis/v1/channels", "integration", "sendMessage", status="doc",
                 fields={"id": "_id"}, record_fields="doc"),
        SNAP, REPLACE, ("_id",), build="messaging.channels_resource",
        columns={"_id": TEXT, "topic": TEXT, "type": TEXT, "description": TEXT, "isPrivate": BOOL, "createdAt": TSTZ,
                 "updatedAt": TSTZ}),
    Dataset(
        "messages", "each chat message with its channel, member, replies and reactions",
        # 7.15: doc page "Get Messages"; permission name, `count` default/max, `total`,
        # parentId/reactions/editedAt assumed. No page, cursor or date filter: `count` grows.
        Endpoint("messages", "GET", "/v1/messages", "partner", "getMessages", records="data.messages",
                 status="doc",
                 fields={"channel_id": "channel_id", "user_id": "user_id", "email": "email", "count": "count",
                         "total": "data.total", "id": "id", "cursor": "timestamp",
                         "message_channel": "channel.channel_id", "message_user_id": "user.user_id",
                         "message_email": "user.email"},
                 params=marks(doc="channel_id user_id email count"),
                 record_fields=marks(doc="id message user.user_id user.email channel.channel_id channel.name "
                                         "timestamp", assumed="parentId reactions editedAt"),
                 # edits keep `timestamp`: re-read this far below the high-water mark for them
                 lookback_seconds=604800, options=MessagesOptions()),
        INC, MERGE, ("id",), read="per channel, newest first, `count` growing (+ per member past `max_count`), "
        "down to the last `timestamp`", arrow=True, needs="channels", build="messaging.messages_resource",
        # nested `user` / `channel` objects flattened as dlt would (`user__email`)
        columns={"id": TEXT, "message": TEXT, "user__user_id": TEXT, "user__email": TEXT, "channel__channel_id": TEXT,
                 "channel__name": TEXT, "timestamp": TSTZ, "parentId": TEXT, "reactions": BIGINT, "editedAt": TSTZ},
        pii=("user__email",), member_id="user__user_id"),
    Dataset(
        "webhook_events", "each event the platform pushed to the webhook receiver, once per event id",
        None, INC, MERGE, ("id",), read="the receiver's landed segments (no API call; a segment is removed once its "
        "load is committed)", arrow=True, build="webhook_events.webhook_events_resource",
        columns={"id": TEXT, "event": TEXT, "community_id": TEXT, "created_at": TSTZ, "received_at": TSTZ,
                 "member_id": TEXT, "member_email": TEXT, "channel_id": TEXT, "order_id": TEXT,
                 "payload": TEXT},  # the whole event as JSON text
        pii=("member_email",), pii_text=("payload",), member_id="member_id"),
)

# -- the endpoints no dataset reads: look-ups and writes -----------------------------------------
OTHER_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("user_info", "POST", "/apis/v1/users/info", "integration", "getUserData", status="doc",
             params=marks(doc="idOrEmail")),
    Endpoint("redemption_by_email", "POST", "/apis/v1/redemption-transactions/by-email", "integration",
             "redemptions", pagination=_PAGES, records="data.results", page_size=100,
             params=marks(assumed="email")),
    Endpoint("redemption_status_update", "PUT", "/apis/v1/redemption-transactions/status", "integration",
             "redemptions", status="doc", read=False,
             fields={"transaction_id": "transactionId", "status_id": "statusId"},
             params=marks(doc="transactionId statusId")),
    Endpoint("purchase_history_update", "PATCH", "/v1/purchase-histories/{purchaseHistoryID}", "partner",
             "purchase-history", status="doc", read=False,
             fields={"id": "purchaseHistoryID", "voucher_code": "voucherCode",
                     "voucher_expiry_date": "voucherExpiryDate",
                     "redemption_instructions": "redemptionInstructions"},
             params=marks(doc="purchaseHistoryID voucherCode voucherExpiryDate redemptionInstructions")),
    # 8.4 Send Message [doc]: answers HTTP 200 even for "Invalid token" / "Insufficient permission"
    # (the body's `status` says error); no idempotency key, no message id in the answer
    Endpoint("message_send", "POST", "/apis/v1/messages/send", "integration", "sendMessage", status="doc",
             read=False, fields={"channel_id": "channelId", "sender": "sender", "message": "message"},
             params=marks(doc="channelId sender message"), options=MessageSendOptions()),
    Endpoint("bulk_update_users", "POST", "/apis/v1/users/bulk-update", "integration", "bulkUpdateUser",
             status="doc", read=False, fields={"file_part": "data"}, params=marks(doc="data")),
    Endpoint("bulk_update_premium_currency", "POST", "/apis/v1/users/bulk-update/premium-currency",
             "integration", "bulkUpdateUser", read=False, fields={"file_part": "data"},
             params=marks(assumed="data")),
    Endpoint("bulk_job", "GET", "/apis/v1/bulk-jobs/{jobId}", "integration", "bulkUpdateUser",
             record_fields=marks(assumed="jobId status")),
    Endpoint("bulk_job_details", "GET", "/apis/v1/bulk-jobs/{jobId}/details", "integration", "bulkUpdateUser",
             pagination=_PAGES, records="data.results", page_size=100,
             record_fields=marks(assumed="row email status error")),
)


# -- the catalogue and its views ---------------------------------------------------------------
# Each view is one object, refreshed in place when a dataset is registered, so a module that
# imported it (`from pipelines.tables import RESOURCES`) sees the dataset too.
CATALOGUE: dict[str, Dataset] = {}  # by name, in source order
TABLES: list[Dataset] = []
RESOURCES: list[str] = []
INCREMENTAL_TABLES: list[str] = []
SNAPSHOT_TABLES: list[str] = []
ARROW_TABLES: set[str] = set()
PARENTS: dict[str, str] = {}
NEEDS: dict[str, str] = {}  # skipped with what it needs (its `needs`, or its parent)
ENDPOINTS: dict[str, Endpoint] = {}  # every endpoint by name: the registry before overrides
ALIASES: dict[str, str] = {}  # dataset names accepted for their one endpoint (`users` for `users_filter`)
DECLARED: dict[str, dict[str, str]] = {}  # the declared columns, by table
PII: dict[str, tuple[str, ...]] = {}
PII_TEXT: dict[str, tuple[str, ...]] = {}
MEMBER_ID: dict[str, str] = {}
CHILD_TABLES: dict[str, dict[str, dict[str, str]]] = {}
NULLABLE_OBJECTS: dict[str, tuple[str, ...]] = {}


def _refresh() -> None:
    datasets = list(CATALOGUE.values())
    TABLES[:] = datasets
    RESOURCES[:] = [d.name for d in datasets]
    INCREMENTAL_TABLES[:] = [d.name for d in datasets if d.load is Load.INCREMENTAL]
    SNAPSHOT_TABLES[:] = [d.name for d in datasets if d.load is Load.SNAPSHOT]
    _replace(ARROW_TABLES, {d.name for d in datasets if d.arrow})
    _replace(PARENTS, {d.name: d.parent for d in datasets if d.parent})
    _replace(NEEDS, {d.name: n for d in datasets if (n := d.needs or d.parent)})
    own = {d.endpoint.name: d.endpoint for d in datasets if isinstance(d.endpoint, Endpoint)}
    _replace(ENDPOINTS, {**own, **{e.name: e for e in OTHER_ENDPOINTS}})
    _replace(ALIASES, {d.name: d.endpoints[0] for d in datasets if d.endpoints and d.name not in ENDPOINTS})
    _replace(DECLARED, {d.name: dict(d.columns) for d in datasets})
    _replace(PII, {d.name: d.pii for d in datasets if d.pii})
    _replace(PII_TEXT, {d.name: d.pii_text for d in datasets if d.pii_text})
    _replace(MEMBER_ID, {d.name: d.member_id for d in datasets if d.member_id})
    _replace(CHILD_TABLES, {d.name: {k: dict(v) for k, v in d.child_tables.items()} for d in datasets
                            if d.child_tables})
    _replace(NULLABLE_OBJECTS, {d.name: d.nullable_objects for d in datasets if d.nullable_objects})


def _replace(view: dict | set, value: dict | set) -> None:  # type: ignore[type-arg]
    view.clear()
    view.update(value)  # type: ignore[arg-type]


def register(dataset: Dataset) -> Dataset:
    """Add `dataset` to the source (after the others): its resource, table, asset, probe and
    endpoint follow. ValueError when it does not fit the catalogue."""
    problem = _misfit(dataset)
    if problem:
        raise ValueError(f"dataset {dataset.name!r}: {problem}")
    CATALOGUE[dataset.name] = dataset
    _refresh()
    return dataset


def unregister(name: str) -> None:
    """Remove a registered dataset (the built-in ones stay)."""
    if name in {d.name for d in BUILT_IN}:
        raise ValueError(f"dataset {name!r} is built in")
    CATALOGUE.pop(name, None)
    _refresh()


@contextmanager
def registered(*datasets: Dataset) -> Iterator[tuple[Dataset, ...]]:
    """The datasets registered for the block, removed after it."""
    done: list[str] = []
    try:
        for dataset in datasets:
            done.append(register(dataset).name)
        yield datasets
    finally:
        for name in reversed(done):
            unregister(name)


def _misfit(dataset: Dataset) -> str:
    """Why `dataset` cannot join the catalogue ("" when it can)."""
    if dataset.name in CATALOGUE:
        return "a dataset of that name exists"
    if isinstance(dataset.endpoint, Endpoint) and dataset.endpoint.name in ENDPOINTS:
        return f"endpoint {dataset.endpoint.name!r} exists (name the endpoint to share its call)"
    if isinstance(dataset.endpoint, str) and dataset.endpoint not in ENDPOINTS:
        return f"names unknown endpoint {dataset.endpoint!r}"
    for what in ("parent", "needs"):
        other = getattr(dataset, what)
        if other is not None and other not in CATALOGUE:
            return f"its {what} {other!r} is not a dataset"
    absent = [k for k in dataset.key if dataset.columns and k not in dataset.columns]
    if absent:
        return f"its key {', '.join(absent)} is not among its columns"
    return ""


for _built_in in BUILT_IN:
    register(_built_in)
