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

    # the contract's names, each marked doc or assumed (docs/returning-api.md): the one map of what
    # is assumed, which docs/endpoints.md is generated from (pipelines/endpoints_doc.py)
    records_status: Status | None = None  # the records path's mark (None: as the endpoint's `status`)
    params: Mapping[str, Status] = field(default_factory=dict)  # query/body parameters sent
    record_fields: Mapping[str, Status] = field(default_factory=dict)  # record fields read or loaded
    # overrides (`params.<name>`, `record_fields.<name>`): the contract's name -> the API's
    param_names: Mapping[str, str] = field(default_factory=dict)
    record_names: Mapping[str, str] = field(default_factory=dict)

    def name_for(self, key: str) -> str:
        """The name the code uses for `key` (cursor field, filter parameter, ...): a parameter's
        name as the API takes it (`params` overrides applied); a record field's name as the
        contract has it, since records are renamed on arrival (`arrived`); a `field:dir` value
        (sort) with its field as the API serves it."""
        try:
            name = self.fields[key]
        except KeyError:
            raise KeyError(f"endpoint {self.name} has no field name for {key!r}") from None
        if name in self.params:
            return self.param_names.get(name, name)
        if name in self.record_fields:
            return name
        head, colon, tail = name.partition(":")
        if colon and head in self.record_fields:
            return f"{self.served(head)}:{tail}"
        return name

    def param(self, name: str) -> str:
        """A parameter's name as the API takes it (`params.<name>` overrides applied)."""
        return self.param_names.get(name, name)

    def served(self, record_field: str) -> str:
        """The name the API serves a record field under (for parameters built from it: `sort`,
        the requested `fields`, a filter's key)."""
        return self.record_names.get(record_field, record_field)

    @property
    def records_mark(self) -> Status:
        return self.records_status or self.status

    def arrived(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records with every renamed field back under the contract's name (in place), so it
        lands in the declared column the models read. A field the record carries under a renamed
        field's contract name is not that field: it is dropped (unless it is itself served for another)."""
        names = self.record_names
        served = set(names.values())
        for record in records:
            values = {contract: _pop(record, name) for contract, name in names.items()}
            for contract in names:
                if contract not in served:
                    _pop(record, contract)
            for contract, value in values.items():
                if value is not _ABSENT:
                    _put(record, contract, value)
        return records


_ABSENT = object()


def _pop(record: dict[str, Any], path: str) -> Any:
    *parents, last = path.split(".")
    node: Any = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return node.pop(last, _ABSENT) if isinstance(node, dict) else _ABSENT


def _put(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def marks(doc: str = "", assumed: str = "") -> dict[str, Status]:
    """Names (space separated) with their marks."""
    return {**dict.fromkeys(doc.split(), "doc"), **dict.fromkeys(assumed.split(), "assumed")}


_COMMUNITY = "/apis/v1/communities/{communityId}"
_TS = {"from": "from", "to": "to"}
_PAGES = TotalPagesPaginator()  # the `data.pagination` block (docs/contract-readings.md)
DOC_PLATFORM_FIELDS = ("email", "first_name", "last_name", "join_date", "xp", "coins")  # 7.1 [doc]
ASSUMED_PLATFORM_FIELDS = ("username", "display_name", "last_login", "tier", "level", "premium_currency", "language",
                           "login_streak", "total_messages", "total_reactions", "visit_count", "is_deleted")

DEFAULT_REGISTRY: dict[str, Endpoint] = {
    e.name: e
    for e in [
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
                 # platform fields requested besides the custom ones [doc: first six]
                 platform_fields=DOC_PLATFORM_FIELDS + ASSUMED_PLATFORM_FIELDS,
                 int_fields=("xp", "coins", "level", "premium_currency", "login_streak", "total_messages",
                             "total_reactions", "visit_count")),
        Endpoint("user_info", "POST", "/apis/v1/users/info", "integration", "getUserData", status="doc",
                 params=marks(doc="idOrEmail")),
        Endpoint("user_fields", "GET", _COMMUNITY + "/user-fields", "application", "userFields",
                 records_status="doc", fields={"key": "field", "type": "type"},
                 record_fields=marks(doc="_id field name type description required defaultValue communityId "
                                         "createdAt updatedAt")),
        Endpoint("user_field_histories", "GET", _COMMUNITY + "/user-field-histories", "application", "userFields",
                 pagination=MetaTotalPaginator(), page_size=100,
                 fields={**_TS, "cursor": "createdAt", "sort": "createdAt:asc"},
                 params=marks(assumed="from to sort"),
                 record_fields=marks(assumed="_id communityId userId fieldId field previousValue value source "
                                             "createdAt")),
        Endpoint("activity_daily", "POST", "/apis/v1/users/activity/daily", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100, status="doc",
                 fields={"identifier": "identifier", "identifier_type": "identifier_type", "date": "date"},
                 params=marks(doc="identifier identifier_type date"),
                 record_fields=marks(doc="identifier user_id date coins xp")),
        Endpoint("activity_logs", "POST", "/apis/v1/users/activity/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"},
                 params=marks(assumed="from to"),
                 record_fields=marks(assumed="_id user_id identifier action xp coins balance_xp balance_coins "
                                             "createdAt")),
        Endpoint("activity_stats", "POST", "/apis/v1/users/activity/stats", "integration", "getUserStats",
                 status="doc", fields={"identifier": "identifier", "identifier_type": "identifier_type",
                                       "days": "days"},
                 params=marks(doc="identifier identifier_type days"),
                 # the answer's `user_id`, `range`, `daily_stats`; then the fields of each `daily_stats` entry
                 record_fields=marks(doc="user_id range.end_date daily_stats date messages replies reaction socials")),
        Endpoint("loyalty_overview", "GET", "/v1/analytics/loyalty-overview", "partner", "analytics",
                 fields=_TS, params=marks(assumed="from to"),
                 record_fields=marks(assumed="date activeUsers newUsers returningUsers messages xpEarned "
                                             "coinsEarned coinsSpent redemptions retention7d")),
        Endpoint("redemption_transactions", "GET", "/apis/v1/redemption-transactions", "integration",
                 "redemptions", pagination=_PAGES, records="data.results", page_size=100,
                 fields={"from": "updatedFrom", "to": "updatedTo", "cursor": "updatedAt", "sort": "updatedAt:asc",
                         "key": "transactionId"},
                 params=marks(assumed="updatedFrom updatedTo sort"),
                 # the status object's fields [doc] (7.9), the order's [assumed]
                 record_fields=marks(doc="status._id status.name status.category status.color",
                                     assumed="_id transactionId userId email productId productName quantity "
                                             "price currency statusId status createdAt updatedAt")),
        Endpoint("redemption_by_email", "POST", "/apis/v1/redemption-transactions/by-email", "integration",
                 "redemptions", pagination=_PAGES, records="data.results", page_size=100,
                 params=marks(assumed="email")),
        Endpoint("redemption_statuses", "GET", "/apis/v1/redemption-statuses", "integration", "redemptions",
                 record_fields=marks(doc="_id name category color")),
        Endpoint("redemption_status_history", "GET",
                 "/apis/v1/redemption-transactions/{transactionId}/status-history", "integration", "redemptions",
                 record_fields=marks(assumed="_id transactionId statusId statusName category changedAt changedBy")),
        Endpoint("redemption_status_update", "PUT", "/apis/v1/redemption-transactions/status", "integration",
                 "redemptions", status="doc", read=False,
                 fields={"transaction_id": "transactionId", "status_id": "statusId"},
                 params=marks(doc="transactionId statusId")),
        # 7.11: the list [assumed]; its records as the PATCH's answer [doc]
        Endpoint("purchase_histories", "GET", "/v1/purchase-histories", "partner", "purchase-history",
                 pagination=SkipLimitPaginator(), page_size=100,
                 fields={"cursor": "updatedAt", "sort": "updatedAt:desc"},
                 params=marks(assumed="sort"),
                 record_fields=marks(doc="_id orderID communityID userID voucherCode voucherExpiryDate statusID "
                                         "createdAt updatedAt")),
        Endpoint("purchase_history_update", "PATCH", "/v1/purchase-histories/{purchaseHistoryID}", "partner",
                 "purchase-history", status="doc", read=False,
                 fields={"id": "purchaseHistoryID", "voucher_code": "voucherCode",
                         "voucher_expiry_date": "voucherExpiryDate",
                         "redemption_instructions": "redemptionInstructions"},
                 params=marks(doc="purchaseHistoryID voucherCode voucherExpiryDate redemptionInstructions")),
        Endpoint("products", "GET", "/v1/products", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc",
                 record_fields=marks(doc="_id communityID name description image price type categoryID stocks "
                                         "discountPrice isDiscountEnabled isArchived totalOrders displayOrder "
                                         "redemptionInstructions createdAt updatedAt")),
        Endpoint("categories", "GET", "/v1/categories", "partner", "store", pagination=SkipLimitPaginator(),
                 page_size=100, status="doc",
                 record_fields=marks(doc="_id communityID name coverImage shouldShowCover isArchived viewType "
                                         "displayOrder defaultPurchaseStatusID createdAt updatedAt")),
        Endpoint("store_config", "GET", "/stores", "partner", "store", status="doc",
                 record_fields=marks(doc="_id communityID isEnabled title description widgetID createdAt updatedAt")),
        Endpoint("leaderboards", "GET", "/v1/leaderboards", "partner", "gamification",
                 pagination=MetaTotalPaginator(), page_size=100, status="doc",
                 record_fields=marks(doc="_id communityID name slug description image rankBy createdAt updatedAt")),
        Endpoint("streaks", "GET", "/apis/v1/streaks", "application", "gamification",
                 pagination=HasNextPaginator(), page_size=100, status="doc",
                 record_fields=marks(doc="_id name communityId timezone startDate activeDaysType order createdAt "
                                         "updatedAt")),
        Endpoint("streak_logs", "POST", "/apis/v1/streaks/logs", "integration", "gamification",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "cursor": "createdAt"}, params=marks(assumed="from to"),
                 record_fields=marks(assumed="_id streakId user_id identifier count status createdAt")),
        Endpoint("tiers", "GET", "/apis/v1/tiers", "integration", "gamification", records="data.tiers",
                 fields={"xp_setting": "data.xpSetting"},  # one object beside the tiers: tiers_xp_settings
                 record_fields=marks(assumed="name icon levels")),
        # 7.14: path and the listed fields doc; permission (sendMessage) assumed
        Endpoint("channels", "GET", "/apis/v1/channels", "integration", "sendMessage", status="doc",
                 fields={"id": "_id"},
                 record_fields=marks(doc="_id topic type description isPrivate createdAt updatedAt")),
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
                 lookback_seconds=604800),
        # 8.4 Send Message [doc]: answers HTTP 200 even for "Invalid token" / "Insufficient permission"
        # (the body's `status` says error); no idempotency key, no message id in the answer
        Endpoint("message_send", "POST", "/apis/v1/messages/send", "integration", "sendMessage", status="doc",
                 read=False, fields={"channel_id": "channelId", "sender": "sender", "message": "message"},
                 params=marks(doc="channelId sender message")),
        # 7.16 / 7.17: title and POST doc; paths and shapes assumed
        Endpoint("minigame_logs", "POST", "/apis/v1/users/minigames/logs", "integration", "getUserStats",
                 pagination=_PAGES, records="data.results", page_size=100,
                 fields={**_TS, "email": "email", "cursor": "createdAt",
                         # players found through the gamification logs (7.6: a rewarded play logs
                         # `minigame`), deleted members too: the users pass lists only live ones
                         "log_action": "action", "log_minigame": "minigame", "log_email": "identifier"},
                 params=marks(assumed="email from to"),
                 record_fields=marks(assumed="_id user_id email game outcome xp coins createdAt")),
        Endpoint("minigame_stats", "POST", "/apis/v1/users/minigames/stats", "integration", "getUserStats",
                 fields={"email": "email"}, params=marks(assumed="email"),
                 record_fields=marks(assumed="user_id email games streaks")),
        Endpoint("bulk_update_users", "POST", "/apis/v1/users/bulk-update", "integration", "bulkUpdateUser",
                 status="doc", read=False, fields={"file_part": "data"}, params=marks(doc="data")),
        Endpoint("bulk_update_premium_currency", "POST", "/apis/v1/users/bulk-update/premium-currency",
                 "integration", "bulkUpdateUser", read=False, fields={"file_part": "data"},
                 params=marks(assumed="data")),
        Endpoint("bulk_jobs", "GET", "/apis/v1/bulk-jobs", "integration", "bulkUpdateUser",
                 pagination=_PAGES, records="data.results", page_size=100,
                 record_fields=marks(assumed="jobId type fileName status totalRows processedRows successRows "
                                             "failedRows createdAt startedAt finishedAt")),
        Endpoint("bulk_job", "GET", "/apis/v1/bulk-jobs/{jobId}", "integration", "bulkUpdateUser",
                 record_fields=marks(assumed="jobId status")),
        Endpoint("bulk_job_details", "GET", "/apis/v1/bulk-jobs/{jobId}/details", "integration", "bulkUpdateUser",
                 pagination=_PAGES, records="data.results", page_size=100,
                 record_fields=marks(assumed="row email status error")),
    ]
}


# -- overrides ---------------------------------------------------------------------------------
_TYPES: dict[str, Any] = get_type_hints(Endpoint)
_NOT_OPTIONS = ("name", "fields", "pagination", "records_status", "params", "record_fields", "param_names",
                "record_names")
OPTIONS: dict[str, Any] = {n: t for n, t in _TYPES.items() if n not in _NOT_OPTIONS}
NAME_TABLES = ("params", "record_fields")  # override keys renaming the contract's names
_TRUE, _FALSE = ("true", "on", "yes", "1", "auto"), ("false", "off", "no", "0")


def endpoint_aliases() -> dict[str, str]:
    """Dataset (table) names accepted for their one endpoint (`users` for `users_filter`)."""
    from pipelines.tables import TABLES

    return {t.name: t.endpoints[0] for t in TABLES if len(t.endpoints) == 1 and t.name not in DEFAULT_REGISTRY}


def build_registry(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Endpoint]:
    """The default registry with `overrides` applied (see the module docstring); ConfigError on a
    name or value that does not fit. An endpoint may be named by its dataset (`users`)."""
    registry = dict(DEFAULT_REGISTRY)
    aliases = endpoint_aliases()
    for given, attrs in (overrides or {}).items():
        name = aliases.get(given, given)
        if name not in registry:
            raise ConfigError(f"registry override names unknown endpoint {given!r}"
                              f"{_close(given, [*registry, *aliases], valid=registry)}")
        if not isinstance(attrs, Mapping):
            raise ConfigError(f"registry override {given}: expected a table of options, got {attrs!r}")
        registry[name] = _overridden(registry[name], attrs, given)
    return registry


def valid_keys(ep: Endpoint) -> list[str]:
    """Every key an override of `ep` takes, as docs/endpoints.md and error messages list them."""
    return [*OPTIONS, "pagination", *(f"params.{n}" for n in ep.params),
            *(f"record_fields.{n}" for n in ep.record_fields), *(f"fields.{k}" for k in ep.fields)]


def _overridden(ep: Endpoint, attrs: Mapping[str, Any], given: str) -> Endpoint:
    changes: dict[str, Any] = {}
    for option, value in attrs.items():
        where = f"{given}.{option}"
        if option == "fields":
            changes = _merge(changes, _fields(ep, value, given))
        elif option in NAME_TABLES:
            changes = _merge(changes, _names(ep, option, value, where))
        elif option == "pagination":
            changes["pagination"] = _pagination(ep, value, where)
        elif option in OPTIONS:
            changes[option] = _typed(where, value, OPTIONS[option])
        else:
            raise ConfigError(f"registry override {where}: unknown option"
                              f"{_hint(ep, option) or _close(option, [*OPTIONS, 'fields', 'pagination'], valid_keys(ep))}")
    return replace(ep, **changes)


def _merge(changes: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for key, value in more.items():
        out[key] = {**out[key], **value} if isinstance(value, Mapping) and key in out else value
    return out


def _hint(ep: Endpoint, option: str) -> str:
    """For a contract name given where an option goes: the key it belongs under."""
    kinds = [t for t in NAME_TABLES if option in getattr(ep, t)]
    return f" ({option!r} is the contract's name: {' or '.join(f'{t}.{option}' for t in kinds)} renames it)" if kinds else ""


def _names(ep: Endpoint, table: str, value: Any, where: str) -> dict[str, Any]:
    """`params` / `record_fields`: the contract's name -> the name the API uses."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"registry override {where}: expected a table of names, got {value!r}")
    known = getattr(ep, table)
    renamed: dict[str, str] = {}
    for key, name in value.items():
        if key not in known:
            raise ConfigError(f"registry override {where}.{key}: not a {table[:-1].replace('_', ' ')} of {ep.name} in "
                              f"the contract{_close(key, known, known)}")
        renamed[key] = _name(f"{where}.{key}", name)
    return {"param_names" if table == "params" else "record_names": renamed}


def _name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"registry override {where}: expected a name, got {name!r}")
    return name


def _fields(ep: Endpoint, value: Any, given: str) -> dict[str, Any]:
    """`fields`: the code's own keys (`cursor`, `from`, ...: what they stand for is renamed), a
    contract's parameter or record field name, or an option written as text (it takes its type)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"registry override {given}.fields: expected a table of names, got {value!r}")
    literal, params, records, changes = dict(ep.fields), {}, {}, {}
    for key, name in value.items():
        where = f"{given}.fields.{key}"
        target = ep.fields.get(key, key)
        if key in OPTIONS:
            changes[key] = _typed(where, name, OPTIONS[key])
        elif key not in ep.fields and target in ep.params and target in ep.record_fields:
            raise ConfigError(f"registry override {where}: {key!r} is both a parameter and a record field of "
                              f"{ep.name}: write params.{key} or record_fields.{key}")
        elif target in ep.params:
            params[target] = _name(where, name)
        elif target in ep.record_fields:
            records[target] = _name(where, name)
        elif key in ep.fields:
            literal[key] = _name(where, name)
        else:
            known = [*ep.fields, *ep.params, *ep.record_fields]
            raise ConfigError(f"registry override {where}: unknown field{_close(key, known, dict.fromkeys(known))}")
    return {"fields": literal, "param_names": params, "record_names": records, **changes}


def _pagination(ep: Endpoint, value: Any, where: str) -> Paginator:
    """A scheme name, or a table of the scheme's options (`scheme` to change it)."""
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
                              f"{_close(option, known, known)}")
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


def _close(name: str, known: Any, valid: Any = ()) -> str:
    """` (did you mean 'x'?)` for a near miss, else the valid names."""
    match = difflib.get_close_matches(name, list(known), n=1)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f"; valid: {', '.join(valid)}" if valid else ""
