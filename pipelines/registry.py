"""The ONE endpoint registry: every path, parameter and field name the client relies on.

Status per entry: "doc" = stated in Returning.AI's reference, "assumed" = our reading
(shared/returning-api.md, docs/contract-readings.md). Any entry can be corrected without touching
code through `Settings.registry_overrides` (RETURNING_SYNC_REGISTRY_OVERRIDES), e.g.
`{"redemption_transactions": {"path": "/apis/v1/redemptions", "fields": {"from": "since"}}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

Surface = Literal["integration", "partner", "application"]
Scheme = Literal["none", "cursor", "page-total-pages", "page-meta-total", "skip-limit", "has-next"]
SCHEMES: tuple[str, ...] = ("none", "cursor", "page-total-pages", "page-meta-total", "skip-limit", "has-next")
SURFACES: tuple[str, ...] = ("integration", "partner", "application")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    surface: Surface
    permission: str
    pagination: Scheme = "none"
    records: str = "data"  # dotted path to the records (list) or the object
    page_size: int | None = None  # the server's maximum page size (None: no limit parameter sent)
    status: Literal["doc", "assumed"] = "assumed"
    read: bool = True  # reads are retried (POST reads too); writes never are
    fields: Mapping[str, str] = field(default_factory=dict)  # request/response names used

    def f(self, key: str, default: str | None = None) -> str:
        """A field name this endpoint uses (cursor field, filter parameter, ...)."""
        if key in self.fields:
            return self.fields[key]
        if default is None:
            raise KeyError(f"endpoint {self.name} has no field name for {key!r}")
        return default


def _e(name: str, method: str, path: str, surface: Surface, permission: str, **kw: Any) -> Endpoint:
    return Endpoint(name=name, method=method, path=path, surface=surface, permission=permission, **kw)


_COMMUNITY = "/apis/v1/communities/{communityId}"
_TS = {"from": "from", "to": "to"}

DEFAULT_REGISTRY: dict[str, Endpoint] = {
    e.name: e
    for e in [
        _e("users_filter", "POST", "/apis/v1/users/filter", "integration", "getUserData",
           pagination="cursor", records="data.users", page_size=200, status="doc",
           fields={"cursor": "cursor", "next_cursor": "data.next_cursor", "fields": "fields",
                   "filter": "filter", "id": "_id", "email": "email", "last_login": "last_login",
                   "join_date": "join_date", "is_deleted": "is_deleted",
                   # the pass split by join_date ranges (pipelines/shards.py): `filter` with gte/lte on
                   # dates [doc], `total` per page [assumed]; "shards": "off" reads one unfiltered chain
                   "total": "data.total", "shard_field": "join_date", "gte": "gte", "lte": "lte",
                   "date_format": "%Y-%m-%d", "shards": "auto", "shards_per_worker": "3",
                   # platform fields requested besides the custom ones [doc: first six]
                   "platform_fields": "email,first_name,last_name,join_date,xp,coins,username,display_name,"
                                      "last_login,tier,level,premium_currency,language,login_streak,"
                                      "total_messages,total_reactions,visit_count,is_deleted",
                   "int_fields": "xp,coins,level,premium_currency,login_streak,total_messages,"
                                 "total_reactions,visit_count"}),
        _e("user_info", "POST", "/apis/v1/users/info", "integration", "getUserData", status="doc"),
        _e("user_fields", "GET", _COMMUNITY + "/user-fields", "application", "userFields",
           fields={"key": "field", "type": "type"}),
        _e("user_field_histories", "GET", _COMMUNITY + "/user-field-histories", "application", "userFields",
           pagination="page-meta-total", page_size=100,
           fields={**_TS, "cursor": "createdAt", "sort": "createdAt:asc"}),
        _e("activity_daily", "POST", "/apis/v1/users/activity/daily", "integration", "getUserStats",
           pagination="page-total-pages", records="data.results", page_size=100, status="doc",
           fields={"identifier": "identifier", "identifier_type": "identifier_type", "date": "date",
                   "max_identifiers": "100"}),
        _e("activity_logs", "POST", "/apis/v1/users/activity/logs", "integration", "getUserStats",
           pagination="page-total-pages", records="data.results", page_size=100,
           fields={**_TS, "cursor": "createdAt"}),
        _e("activity_stats", "POST", "/apis/v1/users/activity/stats", "integration", "getUserStats",
           status="doc", fields={"identifier": "identifier", "identifier_type": "identifier_type",
                                 "days": "days", "max_days": "90"}),
        _e("loyalty_overview", "GET", "/v1/analytics/loyalty-overview", "partner", "analytics",
           fields={**_TS, "max_days": "90"}),
        _e("redemption_transactions", "GET", "/apis/v1/redemption-transactions", "integration", "redemptions",
           pagination="page-total-pages", records="data.results", page_size=100,
           fields={"from": "updatedFrom", "to": "updatedTo", "cursor": "updatedAt", "sort": "updatedAt:asc"}),
        _e("redemption_by_email", "POST", "/apis/v1/redemption-transactions/by-email", "integration",
           "redemptions", pagination="page-total-pages", records="data.results", page_size=100),
        _e("redemption_statuses", "GET", "/apis/v1/redemption-statuses", "integration", "redemptions"),
        _e("redemption_status_history", "GET",
           "/apis/v1/redemption-transactions/{transactionId}/status-history", "integration", "redemptions"),
        _e("redemption_status_update", "PUT", "/apis/v1/redemption-transactions/status", "integration",
           "redemptions", status="doc", read=False),
        _e("purchase_histories", "GET", "/v1/purchase-histories", "partner", "purchase-history",
           pagination="skip-limit", page_size=100, fields={"cursor": "updatedAt", "sort": "updatedAt:desc"}),
        _e("purchase_history_update", "PATCH", "/v1/purchase-histories/{purchaseHistoryID}", "partner",
           "purchase-history", status="doc", read=False),
        _e("products", "GET", "/v1/products", "partner", "store", pagination="skip-limit", page_size=100,
           status="doc"),
        _e("categories", "GET", "/v1/categories", "partner", "store", pagination="skip-limit", page_size=100,
           status="doc"),
        _e("store_config", "GET", "/stores", "partner", "store", status="doc"),
        _e("leaderboards", "GET", "/v1/leaderboards", "partner", "gamification", pagination="page-meta-total",
           page_size=100, status="doc"),
        _e("streaks", "GET", "/apis/v1/streaks", "application", "gamification", pagination="has-next",
           page_size=100, status="doc"),
        _e("streak_logs", "POST", "/apis/v1/streaks/logs", "integration", "gamification",
           pagination="page-total-pages", records="data.results", page_size=100,
           fields={**_TS, "cursor": "createdAt"}),
        _e("tiers", "GET", "/apis/v1/tiers", "integration", "gamification", records="data.tiers"),
        # 7.14: path doc; permission (sendMessage) and the fields beyond the doc's assumed
        _e("channels", "GET", "/apis/v1/channels", "integration", "sendMessage", status="doc",
           fields={"id": "_id"}),
        # 7.15: doc page "Get Messages"; permission name, `count` default/max, `total`,
        # parentId/reactions/editedAt assumed. No page, cursor or date filter: `count` grows.
        _e("messages", "GET", "/v1/messages", "partner", "getMessages", records="data.messages", status="doc",
           fields={"channel_id": "channel_id", "user_id": "user_id", "email": "email", "count": "count",
                   "total": "data.total", "id": "id", "cursor": "timestamp",
                   "message_channel": "channel.channel_id",
                   "default_count": "50", "max_count": "1000",
                   # edits keep `timestamp`: re-read this far below the high-water mark for them
                   "lookback_seconds": "604800",
                   # a channel holding more new messages than `max_count`: read the rest per member
                   "member_fallback": "true"}),
        # 8.4 Send Message [doc]: answers HTTP 200 even for "Invalid token" / "Insufficient permission"
        # (the body's `status` says error); no idempotency key, no message id in the answer
        _e("message_send", "POST", "/apis/v1/messages/send", "integration", "sendMessage", status="doc",
           read=False, fields={"channel_id": "channelId", "sender": "sender", "message": "message",
                               "max_chars": "4000"}),
        # 7.16 / 7.17: title and POST doc; paths and shapes assumed
        _e("minigame_logs", "POST", "/apis/v1/users/minigames/logs", "integration", "getUserStats",
           pagination="page-total-pages", records="data.results", page_size=100,
           fields={**_TS, "email": "email", "cursor": "createdAt",
                   # players found through the gamification logs (7.6: a rewarded play logs `minigame`),
                   # deleted members too: the users pass lists only live ones
                   "discover": "true", "log_action": "action", "log_minigame": "minigame",
                   "log_email": "identifier"}),
        _e("minigame_stats", "POST", "/apis/v1/users/minigames/stats", "integration", "getUserStats",
           fields={"email": "email"}),
        _e("bulk_update_users", "POST", "/apis/v1/users/bulk-update", "integration", "bulkUpdateUser",
           status="doc", read=False, fields={"file_part": "data"}),
        _e("bulk_update_premium_currency", "POST", "/apis/v1/users/bulk-update/premium-currency",
           "integration", "bulkUpdateUser", read=False, fields={"file_part": "data"}),
        _e("bulk_jobs", "GET", "/apis/v1/bulk-jobs", "integration", "bulkUpdateUser",
           pagination="page-total-pages", records="data.results", page_size=100),
        _e("bulk_job", "GET", "/apis/v1/bulk-jobs/{jobId}", "integration", "bulkUpdateUser"),
        _e("bulk_job_details", "GET", "/apis/v1/bulk-jobs/{jobId}/details", "integration", "bulkUpdateUser",
           pagination="page-total-pages", records="data.results", page_size=100),
    ]
}

_OVERRIDABLE = {f.name for f in fields(Endpoint)} - {"name"}


def build_registry(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Endpoint]:
    """The default registry with `overrides` applied (unknown names or attributes raise ValueError;
    `fields` are merged into the defaults rather than replacing them)."""
    registry = dict(DEFAULT_REGISTRY)
    for name, attrs in (overrides or {}).items():
        if name not in registry:
            raise ValueError(f"registry override names unknown endpoint {name!r}")
        if not isinstance(attrs, Mapping):
            raise ValueError(f"registry override for {name!r} must be a table of attributes")
        unknown = set(attrs) - _OVERRIDABLE
        if unknown:
            raise ValueError(f"registry override for {name!r} has unknown attribute(s) {sorted(unknown)}")
        changes = dict(attrs)
        if "fields" in changes:
            changes["fields"] = {**registry[name].fields, **changes["fields"]}
        if "pagination" in changes and changes["pagination"] not in SCHEMES:
            raise ValueError(f"registry override for {name!r}: pagination must be one of {SCHEMES}")
        if "surface" in changes and changes["surface"] not in SURFACES:
            raise ValueError(f"registry override for {name!r}: surface must be one of {SURFACES}")
        registry[name] = replace(registry[name], **changes)
    return registry
