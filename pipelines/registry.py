"""The ONE endpoint registry: every path, parameter and field name the client relies on.

Status per entry: "doc" = stated in Returning.AI's reference, "assumed" = our reading
(docs/returning-api.md, docs/contract-readings.md). Any entry can be corrected without touching
code through `Settings.registry_overrides` (RETURNING_SYNC_REGISTRY_OVERRIDES): a table per
endpoint of the attributes to change, e.g.
`{"redemption_transactions": {"path": "/apis/v1/redemptions", "fields": {"from": "since"}}}`.
`fields` (the names used on the wire) are merged into the defaults; typed options take their type
(`{"messages": {"max_count": 500, "member_fallback": false}}`) and may also be written as text
under `fields`, as they once were (`"max_count": "500"`); `pagination` is a scheme name or a table
of the scheme's options (`{"pagination": {"scheme": "skip-limit", "limit_param": "size"}}`; without
`scheme` the endpoint's own scheme). An unknown endpoint or option, or a value of the wrong type,
is a one-line ConfigError naming the endpoint and the option.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pipelines.errors import ConfigError
from pipelines.pagination import (
    SCHEMES,
    CursorPaginator,
    HasNextPaginator,
    MetaTotalPaginator,
    Paginator,
    SinglePage,
    SkipLimitPaginator,
    TotalPagesPaginator,
)

Surface = Literal["integration", "partner", "application"]
Status = Literal["doc", "assumed"]


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    surface: Surface
    permission: str
    pagination: Paginator = field(default_factory=SinglePage)  # a template: the client walks copies
    records: str = "data"  # dotted path to the records (list) or the object
    page_size: int | None = None  # the server's maximum page size (None: no limit parameter sent)
    status: Status = "assumed"
    read: bool = True  # reads are retried (POST reads too); writes never are
    fields: Mapping[str, str] = field(default_factory=dict)  # request/response names used, by our key
    # options, each read by the endpoint named; the values are the contract's (or our reading of it)
    lookback_seconds: float | None = None  # a timestamp cursor re-reads this far back (None: the setting)
    max_days: int = 90  # activity_stats, loyalty_overview: the longest range one call covers
    max_identifiers: int = 100  # activity_daily: emails per call
    default_count: int = 50  # messages: `count` when nothing tells more [assumed]
    max_count: int = 1000  # messages: the largest `count` answered [assumed]
    member_fallback: bool = True  # messages: a channel's messages past `max_count` read per member
    discover: bool = True  # minigame_logs: players found through the gamification logs too
    reconcile: bool = True  # streak_logs: logs before the window counted, re-read when they differ
    max_chars: int = 4000  # message_send: the longest message sent
    shards: bool = True  # users_filter: the pass split by join_date ranges (False: one unfiltered chain)
    shards_per_worker: int = 3  # users_filter: ranges per worker
    date_format: str = "%Y-%m-%d"  # users_filter: dates in the join_date filter [doc]
    platform_fields: tuple[str, ...] = ()  # users_filter: platform fields requested besides the custom ones
    int_fields: tuple[str, ...] = ()  # users_filter: which of them are integers

    def name_for(self, key: str) -> str:
        """The name this endpoint uses on the wire for `key` (cursor field, filter parameter, ...)."""
        try:
            return self.fields[key]
        except KeyError:
            raise KeyError(f"endpoint {self.name} has no field name for {key!r}") from None


_COMMUNITY = "/apis/v1/communities/{communityId}"
_TS = {"from": "from", "to": "to"}
_PAGES = TotalPagesPaginator()  # the `data.pagination` block (docs/contract-readings.md)

DEFAULT_REGISTRY: dict[str, Endpoint] = {
    e.name: e
    for e in [
        Endpoint("users_filter", "POST", "/apis/v1/users/filter", "integration", "getUserData",
                 # `total` per page [assumed]: the pass split by join_date (pipelines/shards.py) needs it
                 pagination=CursorPaginator(cursor_param="cursor", cursor_path="data.next_cursor",
                                            total_path="data.total"),
                 records="data.users", page_size=200, status="doc",
                 fields={"fields": "fields", "filter": "filter", "id": "_id", "email": "email",
                         "last_login": "last_login", "join_date": "join_date", "is_deleted": "is_deleted",
                         "total_messages": "total_messages",
                         # the split pass: `filter` with gte/lte on dates [doc]
                         "shard_field": "join_date", "gte": "gte", "lte": "lte"},
                 # platform fields requested besides the custom ones [doc: first six]
                 platform_fields=("email", "first_name", "last_name", "join_date", "xp", "coins", "username",
                                  "display_name", "last_login", "tier", "level", "premium_currency", "language",
                                  "login_streak", "total_messages", "total_reactions", "visit_count",
                                  "is_deleted"),
                 int_fields=("xp", "coins", "level", "premium_currency", "login_streak", "total_messages",
                             "total_reactions", "visit_count")),
        Endpoint("user_info", "POST", "/apis/v1/users/info", "integration", "getUserData", status="doc"),
        Endpoint("user_fields", "GET", _COMMUNITY + "/user-fields", "application", "userFields",
                 fields={"key": "field", "type": "type"}),
        Endpoint("user_field_histories", "GET", _COMMUNITY + "/user-field-histories", "application", "userFields",
                 pagination=MetaTotalPaginator(), page_size=100,
                 fields={**_TS, "cursor": "createdAt", "sort": "createdAt:asc"}),
        Endpoint("activity_daily", "POST", "/apis/v1/users/activity/daily", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100, status="doc",
                 fields={"identifier": "identifier", "identifier_type": "identifier_type", "date": "date"}),
        Endpoint("activity_logs", "POST", "/apis/v1/users/activity/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"}),
        Endpoint("activity_stats", "POST", "/apis/v1/users/activity/stats", "integration", "getUserStats",
                 status="doc", fields={"identifier": "identifier", "identifier_type": "identifier_type",
                                       "days": "days"}),
        Endpoint("loyalty_overview", "GET", "/v1/analytics/loyalty-overview", "partner", "analytics",
                 fields=_TS),
        Endpoint("redemption_transactions", "GET", "/apis/v1/redemption-transactions", "integration",
                 "redemptions", pagination=_PAGES, records="data.results", page_size=100,
                 fields={"from": "updatedFrom", "to": "updatedTo", "cursor": "updatedAt", "sort": "updatedAt:asc",
                         "key": "transactionId"}),
        Endpoint("redemption_by_email", "POST", "/apis/v1/redemption-transactions/by-email", "integration",
                 "redemptions", pagination=_PAGES, records="data.results", page_size=100),
        Endpoint("redemption_statuses", "GET", "/apis/v1/redemption-statuses", "integration", "redemptions"),
        Endpoint("redemption_status_history", "GET",
                 "/apis/v1/redemption-transactions/{transactionId}/status-history", "integration", "redemptions"),
        Endpoint("redemption_status_update", "PUT", "/apis/v1/redemption-transactions/status", "integration",
                 "redemptions", status="doc", read=False,
                 fields={"transaction_id": "transactionId", "status_id": "statusId"}),
        Endpoint("purchase_histories", "GET", "/v1/purchase-histories", "partner", "purchase-history",
                 pagination=SkipLimitPaginator(), page_size=100,
                 fields={"cursor": "updatedAt", "sort": "updatedAt:desc"}),
        Endpoint("purchase_history_update", "PATCH", "/v1/purchase-histories/{purchaseHistoryID}", "partner",
                 "purchase-history", status="doc", read=False,
                 fields={"id": "purchaseHistoryID", "voucher_code": "voucherCode",
                         "voucher_expiry_date": "voucherExpiryDate",
                         "redemption_instructions": "redemptionInstructions"}),
        Endpoint("products", "GET", "/v1/products", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc"),
        Endpoint("categories", "GET", "/v1/categories", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc"),
        Endpoint("store_config", "GET", "/stores", "partner", "store", status="doc"),
        Endpoint("leaderboards", "GET", "/v1/leaderboards", "partner", "gamification",
                 pagination=MetaTotalPaginator(), page_size=100, status="doc"),
        Endpoint("streaks", "GET", "/apis/v1/streaks", "application", "gamification",
                 pagination=HasNextPaginator(), page_size=100, status="doc"),
        Endpoint("streak_logs", "POST", "/apis/v1/streaks/logs", "integration", "gamification",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"}),
        Endpoint("tiers", "GET", "/apis/v1/tiers", "integration", "gamification", records="data.tiers",
                 fields={"xp_setting": "data.xpSetting"}),  # one object beside the tiers: tiers_xp_settings
        # 7.14: path doc; permission (sendMessage) and the fields beyond the doc's assumed
        Endpoint("channels", "GET", "/apis/v1/channels", "integration", "sendMessage", status="doc",
                 fields={"id": "_id"}),
        # 7.15: doc page "Get Messages"; permission name, `count` default/max, `total`,
        # parentId/reactions/editedAt assumed. No page, cursor or date filter: `count` grows.
        Endpoint("messages", "GET", "/v1/messages", "partner", "getMessages", records="data.messages",
                 status="doc",
                 fields={"channel_id": "channel_id", "user_id": "user_id", "email": "email", "count": "count",
                         "total": "data.total", "id": "id", "cursor": "timestamp",
                         "message_channel": "channel.channel_id", "message_user_id": "user.user_id",
                         "message_email": "user.email"},
                 # edits keep `timestamp`: re-read this far below the high-water mark for them
                 lookback_seconds=604800),
        # 8.4 Send Message [doc]: answers HTTP 200 even for "Invalid token" / "Insufficient permission"
        # (the body's `status` says error); no idempotency key, no message id in the answer
        Endpoint("message_send", "POST", "/apis/v1/messages/send", "integration", "sendMessage", status="doc",
                 read=False, fields={"channel_id": "channelId", "sender": "sender", "message": "message"}),
        # 7.16 / 7.17: title and POST doc; paths and shapes assumed
        Endpoint("minigame_logs", "POST", "/apis/v1/users/minigames/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "email": "email", "cursor": "createdAt",
                         # players found through the gamification logs (7.6: a rewarded play logs
                         # `minigame`), deleted members too: the users pass lists only live ones
                         "log_action": "action", "log_minigame": "minigame", "log_email": "identifier"}),
        Endpoint("minigame_stats", "POST", "/apis/v1/users/minigames/stats", "integration", "getUserStats",
                 fields={"email": "email"}),
        Endpoint("bulk_update_users", "POST", "/apis/v1/users/bulk-update", "integration", "bulkUpdateUser",
                 status="doc", read=False, fields={"file_part": "data"}),
        Endpoint("bulk_update_premium_currency", "POST", "/apis/v1/users/bulk-update/premium-currency",
                 "integration", "bulkUpdateUser", read=False, fields={"file_part": "data"}),
        Endpoint("bulk_jobs", "GET", "/apis/v1/bulk-jobs", "integration", "bulkUpdateUser",
                 pagination=_PAGES, records="data.results", page_size=100),
        Endpoint("bulk_job", "GET", "/apis/v1/bulk-jobs/{jobId}", "integration", "bulkUpdateUser"),
        Endpoint("bulk_job_details", "GET", "/apis/v1/bulk-jobs/{jobId}/details", "integration", "bulkUpdateUser",
                 pagination=_PAGES, records="data.results", page_size=100),
    ]
}


# -- overrides ---------------------------------------------------------------------------------
_TYPES: dict[str, Any] = get_type_hints(Endpoint)
OPTIONS: dict[str, Any] = {n: t for n, t in _TYPES.items() if n not in ("name", "fields", "pagination")}
_TRUE, _FALSE = ("true", "on", "yes", "1", "auto"), ("false", "off", "no", "0")


def build_registry(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Endpoint]:
    """The default registry with `overrides` applied (see the module docstring); ConfigError on a
    name or value that does not fit."""
    registry = dict(DEFAULT_REGISTRY)
    for name, attrs in (overrides or {}).items():
        if name not in registry:
            raise ConfigError(f"registry override names unknown endpoint {name!r}{_close(name, registry)}")
        if not isinstance(attrs, Mapping):
            raise ConfigError(f"registry override {name}: expected a table of options, got {attrs!r}")
        registry[name] = _overridden(registry[name], attrs)
    return registry


def _overridden(ep: Endpoint, attrs: Mapping[str, Any]) -> Endpoint:
    changes: dict[str, Any] = {}
    for option, value in attrs.items():
        where = f"{ep.name}.{option}"
        if option == "fields":
            changes.update(_fields(ep, value))
        elif option == "pagination":
            changes["pagination"] = _pagination(ep, value)
        elif option in OPTIONS:
            changes[option] = _typed(where, value, OPTIONS[option])
        else:
            known = [*OPTIONS, "fields", "pagination"]
            raise ConfigError(f"registry override {where}: unknown option{_close(option, known)}")
    return replace(ep, **changes)


def _fields(ep: Endpoint, value: Any) -> dict[str, Any]:
    """Field names merged into the endpoint's; options written as text there take their type."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"registry override {ep.name}.fields: expected a table of names, got {value!r}")
    names, changes = dict(ep.fields), {}
    for key, name in value.items():
        where = f"{ep.name}.fields.{key}"
        if key in OPTIONS:
            changes[key] = _typed(where, name, OPTIONS[key])
        elif key not in ep.fields:
            raise ConfigError(f"registry override {where}: unknown field{_close(key, [*ep.fields, *OPTIONS])}")
        elif not isinstance(name, str) or not name:
            raise ConfigError(f"registry override {where}: expected a name, got {name!r}")
        else:
            names[key] = name
    return {"fields": names, **changes}


def _pagination(ep: Endpoint, value: Any) -> Paginator:
    """A scheme name, or a table of the scheme's options (`scheme` to change it)."""
    where = f"{ep.name}.pagination"
    options = {"scheme": value} if isinstance(value, str) else value
    if not isinstance(options, Mapping):
        raise ConfigError(f"registry override {where}: expected a scheme name or a table of options, got {value!r}")
    options = dict(options)
    scheme = options.pop("scheme", ep.pagination.scheme)
    if scheme not in SCHEMES:
        raise ConfigError(f"registry override {where}: scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    base = ep.pagination if scheme == ep.pagination.scheme else SCHEMES[scheme]()
    known = {f.name: f for f in fields(base) if f.init}
    hints = get_type_hints(type(base))
    changes = {}
    for option, given in options.items():
        if option not in known:
            raise ConfigError(f"registry override {where}.{option}: unknown option of scheme {scheme!r}"
                              f"{_close(option, known)}")
        changes[option] = _typed(f"{where}.{option}", given, hints[option])
    return replace(base, **changes)


def _typed(where: str, value: Any, kind: Any) -> Any:
    """`value` as the type `kind` (text accepted for numbers, switches and lists), or ConfigError."""
    args = get_args(kind)
    if get_origin(kind) is Literal:
        if value in args:
            return value
        raise ConfigError(f"registry override {where}: must be one of {', '.join(map(str, args))}, got {value!r}")
    if type(None) in args:  # `X | None`
        return None if value is None else _typed(where, value, next(a for a in args if a is not type(None)))
    text = value.strip() if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"registry override {where}: expected true or false, got {value!r}")
    if kind in (int, float):
        number: Any = value
        if text is not None:
            try:
                number = float(text)
            except ValueError:
                number = None
        is_number = isinstance(number, int | float) and not isinstance(number, bool)
        if is_number and (kind is float or float(number).is_integer()):
            return kind(number)
        raise ConfigError(f"registry override {where}: expected {'an integer' if kind is int else 'a number'}, "
                          f"got {value!r}")
    if kind is str:
        if isinstance(value, str) and value:
            return value
        raise ConfigError(f"registry override {where}: expected text, got {value!r}")
    if get_origin(kind) is tuple:
        items = [v.strip() for v in text.split(",")] if text is not None else value
        if isinstance(items, list | tuple) and all(isinstance(v, str) for v in items):
            return tuple(v for v in items if v)
        raise ConfigError(f"registry override {where}: expected a list of names, got {value!r}")
    raise ConfigError(f"registry override {where}: cannot be set by configuration")


def _close(name: str, known: Any) -> str:
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
