"""Every table, always: the columns each dataset's table is created with when the API has no rows
for it yet (a community with no bulk jobs, a window with no new logs), from the contract's record
fields (docs/returning-api.md section 7), named as the API names them (dlt normalises them).

`empty_table` is the one way a resource with no rows creates its table, in the form its rows take:
an empty Arrow table with these columns for the tables loaded from Arrow (`tables.ARROW_TABLES`, whose
column types come from here too: `arrow_types`), dlt's `materialize_table_schema` with them for
the others (a table dlt creates from Python rows has `_dlt_load_id` / `_dlt_id` columns that an
Arrow load would leave empty). When rows come, dlt types the columns from the data, as before;
resources whose columns may be null in every row of a load declare them to dlt (`column_hints`).
Nested objects that are often null (`creator`, `purchaseStatusOverride`, ...) are dropped from a
record while null (`drop_null_objects`), so dlt never sees a column it cannot type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import dlt
import pyarrow as pa

from pipelines.shapes import BOOL as ARROW_BOOL
from pipelines.shapes import DATE, FLOAT, INT, STR, TS
from pipelines.tables import ARROW_TABLES, table

if TYPE_CHECKING:
    from pipelines.memo import RunMemo

TEXT, BIGINT, DOUBLE, BOOL, TSTZ, DAY = "text", "bigint", "double", "bool", "timestamp", "date"

DECLARED: dict[str, dict[str, str]] = {
    # every platform field the sync requests ([assumed] ones too: models and pushes read them, so the
    # column exists, null, when the API does not send one)
    "users": {"_id": TEXT, "email": TEXT, "first_name": TEXT, "last_name": TEXT, "join_date": TEXT, "xp": BIGINT, "coins": BIGINT,
              "username": TEXT, "display_name": TEXT, "last_login": TSTZ, "tier": TEXT, "level": BIGINT,
              "premium_currency": BIGINT, "language": TEXT, "login_streak": BIGINT, "total_messages": BIGINT,
              "total_reactions": BIGINT, "visit_count": BIGINT, "is_deleted": BOOL, "deleted_at": TSTZ},
    "user_fields": {"_id": TEXT, "field": TEXT, "name": TEXT, "type": TEXT, "description": TEXT, "required": BOOL,
                    "defaultValue": TEXT, "communityId": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
    "user_field_histories": {"_id": TEXT, "communityId": TEXT, "userId": TEXT, "fieldId": TEXT, "field": TEXT,
                             "previousValue": TEXT, "value": TEXT, "source": TEXT, "createdAt": TSTZ},
    "gamification_daily": {"identifier": TEXT, "user_id": TEXT, "date": DAY, "coins": BIGINT, "xp": BIGINT},
    "gamification_logs": {"_id": TEXT, "user_id": TEXT, "identifier": TEXT, "action": TEXT, "xp": BIGINT, "coins": BIGINT,
                          "balance_xp": BIGINT, "balance_coins": BIGINT, "createdAt": TSTZ},
    "activity_stats": {"user_id": TEXT, "date": DAY, "messages": BIGINT, "replies": BIGINT, "reaction": BIGINT, "socials": BIGINT},
    "loyalty_overview": {"date": DAY, "activeUsers": BIGINT, "newUsers": BIGINT, "returningUsers": BIGINT, "messages": BIGINT,
                         "xpEarned": BIGINT, "coinsEarned": BIGINT, "coinsSpent": BIGINT, "redemptions": BIGINT, "retention7d": DOUBLE},
    "redemption_orders": {"_id": TEXT, "transactionId": TEXT, "userId": TEXT, "email": TEXT, "productId": TEXT,
                          "productName": TEXT, "quantity": BIGINT, "price": DOUBLE, "currency": TEXT, "statusId": TEXT,
                          "status___id": TEXT, "status__name": TEXT, "status__category": TEXT, "status__color": TEXT,
                          "createdAt": TSTZ, "updatedAt": TSTZ},
    "redemption_statuses": {"_id": TEXT, "name": TEXT, "category": TEXT, "color": TEXT},
    "redemption_status_history": {"_id": TEXT, "transactionId": TEXT, "statusId": TEXT, "statusName": TEXT, "category": TEXT,
                                  "changedAt": TSTZ, "changedBy": TEXT},
    "purchase_histories": {"_id": TEXT, "orderID": TEXT, "communityID": TEXT, "userID": TEXT, "voucherCode": TEXT,
                           "voucherExpiryDate": TEXT, "statusID": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
    "store_products": {"_id": TEXT, "communityID": TEXT, "name": TEXT, "description": TEXT, "image": TEXT, "price": DOUBLE, "type": TEXT,
                       "categoryID": TEXT, "stocks": BIGINT, "discountPrice": DOUBLE, "isDiscountEnabled": BOOL,
                       "isArchived": BOOL, "totalOrders": BIGINT, "displayOrder": BIGINT, "redemptionInstructions": TEXT,
                       "createdAt": TSTZ, "updatedAt": TSTZ},
    "store_categories": {"_id": TEXT, "communityID": TEXT, "name": TEXT, "coverImage": TEXT, "shouldShowCover": BOOL,
                         "isArchived": BOOL, "viewType": TEXT, "displayOrder": BIGINT, "defaultPurchaseStatusID": TEXT,
                         "createdAt": TSTZ, "updatedAt": TSTZ},
    "store_config": {"_id": TEXT, "communityID": TEXT, "isEnabled": BOOL, "title": TEXT, "description": TEXT, "widgetID": TEXT,
                     "createdAt": TSTZ, "updatedAt": TSTZ},
    "leaderboards": {"_id": TEXT, "communityID": TEXT, "name": TEXT, "slug": TEXT, "description": TEXT, "image": TEXT,
                     "rankBy": TEXT, "createdAt": TSTZ, "updatedAt": TSTZ},
    "streaks": {"_id": TEXT, "name": TEXT, "communityId": TEXT, "timezone": TEXT, "startDate": TSTZ, "activeDaysType": TEXT,
                "order": BIGINT, "createdAt": TSTZ, "updatedAt": TSTZ},
    "streak_logs": {"_id": TEXT, "streakId": TEXT, "user_id": TEXT, "identifier": TEXT, "count": BIGINT, "status": TEXT,
                    "createdAt": TSTZ},
    "tiers": {"name": TEXT, "icon": TEXT},
    "tiers_xp_settings": {"enabled": BOOL},  # each action's object flattened by dlt (`message__xp`)
    "channels": {"_id": TEXT, "topic": TEXT, "type": TEXT, "description": TEXT, "isPrivate": BOOL, "createdAt": TSTZ,
                 "updatedAt": TSTZ},
    # nested `user` / `channel` objects flattened as dlt would (`user__email`)
    "messages": {"id": TEXT, "message": TEXT, "user__user_id": TEXT, "user__email": TEXT, "channel__channel_id": TEXT,
                 "channel__name": TEXT, "timestamp": TSTZ, "parentId": TEXT, "reactions": BIGINT, "editedAt": TSTZ},
    "minigame_logs": {"_id": TEXT, "user_id": TEXT, "email": TEXT, "game": TEXT, "outcome": TEXT, "xp": BIGINT,
                      "coins": BIGINT, "createdAt": TSTZ},
    "user_game_stats": {"user_id": TEXT, "email": TEXT},  # `games`, `streaks`: child tables, with their first row
    "webhook_events": {"id": TEXT, "event": TEXT, "community_id": TEXT, "created_at": TSTZ, "received_at": TSTZ,
                       "member_id": TEXT, "member_email": TEXT, "channel_id": TEXT, "order_id": TEXT,
                       "payload": TEXT},  # the whole event as JSON text
    "bulk_jobs": {"jobId": TEXT, "type": TEXT, "fileName": TEXT, "status": TEXT, "totalRows": BIGINT, "processedRows": BIGINT,
                  "successRows": BIGINT, "failedRows": BIGINT, "createdAt": TSTZ, "startedAt": TSTZ, "finishedAt": TSTZ},
}

# A member's personal data, by table (API names; `pipelines/privacy.py` applies the policy to them:
# `keep` by default, `hash` or `drop` when configured). Email, names, username and display name are
# PII, and so is an `identifier` (the member's email); counters, ids and dates are not. Custom user
# fields are PII when configured as personal (`privacy.personal_fields`).
PII: dict[str, tuple[str, ...]] = {
    "users": ("email", "first_name", "last_name", "username", "display_name"),
    "gamification_daily": ("identifier",),
    "gamification_logs": ("identifier",),
    "streak_logs": ("identifier",),
    "redemption_orders": ("email",),
    "messages": ("user__email",),
    "minigame_logs": ("email",),
    "user_game_stats": ("email",),
    "webhook_events": ("member_email",),
}
# text that may quote a row's PII (the whole event as JSON): each PII value of the row in it is
# replaced by its hash (or by nothing, when dropped)
PII_TEXT: dict[str, tuple[str, ...]] = {"webhook_events": ("payload",)}
# the column naming the member a row belongs to (the member's `_id`), by table: erased members'
# rows are left out of every load (`pipelines/privacy.py`)
MEMBER_ID: dict[str, str] = {
    "users": "_id", "user_field_histories": "userId", "gamification_daily": "user_id",
    "gamification_logs": "user_id", "activity_stats": "user_id", "redemption_orders": "userId",
    "purchase_histories": "userID", "streak_logs": "user_id", "messages": "user__user_id",
    "minigame_logs": "user_id", "user_game_stats": "user_id", "webhook_events": "member_id",
}
# lists models read as child tables, by parent and field: created empty when no record has the field
# (`tiers.levels` is [assumed]; dim_users joins `tiers__levels`)
CHILD_TABLES: dict[str, dict[str, dict[str, str]]] = {
    "tiers": {"levels": {"level": BIGINT, "xp": BIGINT}},
}
_CHILD_KEYS = {"_dlt_parent_id": TEXT, "_dlt_list_idx": BIGINT, "_dlt_id": TEXT, "_dlt_root_id": TEXT}

# nested objects the contract lets be null: dropped while null, flattened by dlt when present
NULLABLE_OBJECTS: dict[str, tuple[str, ...]] = {
    "user_fields": ("creator",),
    "store_products": ("userInformation", "expiringVoucherHighlight", "i18n", "customOptions",
                       "purchaseStatusOverride"),
    "store_config": ("cover", "currency", "widget"),
    "redemption_orders": ("status",),
    "purchase_histories": ("product",),
    "leaderboards": ("duration",),
}


ARROW: dict[str, pa.DataType] = {TEXT: STR, BIGINT: INT, DOUBLE: FLOAT, BOOL: ARROW_BOOL, TSTZ: TS, DAY: DATE}


def column_hints(resource: str) -> dict[str, Any]:
    """dlt column hints of the declared columns: a column null in every row of a first load still
    gets its type (dlt would otherwise leave it out until a value arrives)."""
    return {name: {"data_type": kind} for name, kind in DECLARED.get(resource, {}).items()}


def arrow_types(resource: str) -> dict[str, pa.DataType]:
    """The declared columns as Arrow types, in their order (for `shapes.to_arrow`)."""
    if resource not in ARROW_TABLES:
        raise ValueError(f"{resource} is not loaded from Arrow tables (tables.ARROW_TABLES)")
    return {name: ARROW[kind] for name, kind in DECLARED[resource].items()}


def arrow_schema(resource: str) -> pa.Schema:
    """The declared columns as an Arrow schema, key columns not nullable as dlt declares them (and
    `shapes.to_arrow` makes them): otherwise dlt warns that the hints differ on every load."""
    keys = set(table(resource).key)
    return pa.schema([pa.field(n, t, nullable=n not in keys) for n, t in arrow_types(resource).items()])


def empty_table(resource: str) -> Any:
    """What a resource yields when it had no rows: its table, created with the declared columns."""
    if resource in ARROW_TABLES:
        return arrow_schema(resource).empty_table()
    return dlt.mark.with_hints(dlt.mark.materialize_table_schema(), dlt.mark.make_hints(columns=column_hints(resource)))


def empty_children(resource: str, rows: list[dict[str, Any]], held: set[str]) -> list[Any]:
    """The declared child tables (`CHILD_TABLES`) no row of `rows` brings and the warehouse does not
    hold yet (`held`: its table names), created empty with their columns and dlt's parent keys."""
    out = []
    for name, columns in CHILD_TABLES.get(resource, {}).items():
        child = f"{resource}__{name}"
        if child in held or any(isinstance(r.get(name), list) and r[name] for r in rows):
            continue
        hints = {c: {"name": c, "data_type": k} for c, k in {**columns, **_CHILD_KEYS}.items()}
        out.append(dlt.mark.with_hints(dlt.mark.materialize_table_schema(),
                                       dlt.mark.make_hints(table_name=child, columns=hints)))  # type: ignore[arg-type]
    return out


def drop_null_objects(resource: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    names = NULLABLE_OBJECTS.get(resource, ())
    if not names:
        return list(rows)
    return [{k: v for k, v in r.items() if not (v is None and k in names)} for r in rows]


def empty_once(memo: RunMemo, resource: str) -> Any:
    """For transformers (called once per parent page): the empty table the first time a page
    brings no rows in this run, None after. Declared types equal the ones the data brings."""
    if resource in memo.emptied:
        return None
    memo.emptied.add(resource)
    return empty_table(resource)
