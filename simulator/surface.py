"""What the simulator serves on each surface, in one map: which paths, record fields, response keys and
parameters the contract marks [assumed], whether the `documented` surface keeps them, and the name each
goes by on the `renamed` surface.

- `full` (the default): everything, under the contract's names.
- `documented`: only what the contract marks [doc]. An endpoint whose path is assumed answers 404 exactly
  like an unknown route; an assumed field is absent from every record; an assumed parameter is ignored.
- `renamed`: every assumed path, record field, response key and parameter under another name; the
  original names are not served (a path 404s, a parameter is ignored, a field is absent).

The routes (`app.py`), the admin API (`GET /__sim/surface`), the truth (`truth.py`) and the README read
this module; nothing else decides what a surface serves. `describe()` is the JSON the admin API returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from simulator import routing
from simulator.envelopes import Reply, bad_request

SURFACES = ("full", "documented", "renamed")
DOC, ASSUMED = "doc", "assumed"


@dataclass(frozen=True)
class Item:
    """One name: a path template, a record field, a response key (dotted from the envelope's root) or a
    parameter. `documented` is its name on the documented surface (None: absent, ignored or 404)."""
    name: str
    status: str
    documented: str | None
    renamed: str

    def on(self, surface: str) -> str | None:
        return {"full": self.name, "documented": self.documented, "renamed": self.renamed}[surface]

    def describe(self, surface: str) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "full": self.name, "documented": self.documented,
                "renamed": self.renamed, "served_as": self.on(surface)}


def doc(name: str) -> Item:
    return Item(name, DOC, name, name)


def assumed(name: str, renamed: str, documented: str | None = None) -> Item:
    return Item(name, ASSUMED, documented, renamed)


def _fields(renames: dict[str, str], kept_on_documented: bool = False) -> dict[str, Item]:
    return {k: assumed(k, v, k if kept_on_documented else None) for k, v in renames.items()}


# -- record fields (top-level keys of a record), per kind of record ----------------------------------
# Only the assumed fields are listed; every other field of a record is [doc] and served on every surface.
# Nested objects keep their keys on every surface (7.17 games[]/streaks[], tiers' levels[], orders' status{}).
RECORDS: dict[str, dict[str, Item]] = {
    # 7.1: the documented platform fields are email, first_name, last_name, join_date, xp, coins; `_id` is
    # always present; custom fields appear under their keys
    "user": _fields({
        "username": "handle", "display_name": "screen_name", "last_login": "last_seen", "tier": "tier_name",
        "level": "tier_level", "premium_currency": "gems", "language": "locale", "login_streak": "visit_streak",
        "total_messages": "message_count", "total_reactions": "reaction_count", "visit_count": "visits",
        "is_deleted": "deleted"}),
    "user_info": _fields({"_id": "objectId"}),  # 7.2: every other field is [doc]
    "field_history": _fields({  # 7.4: the whole record is assumed
        "_id": "objectId", "communityId": "community", "userId": "memberId", "fieldId": "userFieldId",
        "field": "fieldKey", "previousValue": "oldValue", "value": "newValue", "source": "origin",
        "createdAt": "changedAt"}),
    "log": _fields({  # 7.6
        "_id": "objectId", "user_id": "member_id", "identifier": "member_key", "action": "activity",
        "xp": "xp_delta", "coins": "coins_delta", "balance_xp": "xp_balance", "balance_coins": "coins_balance",
        "createdAt": "createdOn"}),
    "loyalty_day": _fields({  # 7.8
        "date": "day", "activeUsers": "activeMembers", "newUsers": "newMembers",
        "returningUsers": "returningMembers", "messages": "messageCount", "xpEarned": "xpGained",
        "coinsEarned": "coinsGained", "coinsSpent": "coinsUsed", "redemptions": "redemptionCount",
        "retention7d": "retention7Day"}),
    # 7.9; kept on documented: the documented status update (8.5) answers an order in this layout
    "order": _fields({
        "_id": "objectId", "transactionId": "orderId", "userId": "memberId", "email": "memberEmail",
        "productId": "itemId", "productName": "itemName", "quantity": "qty", "price": "totalPrice",
        "currency": "paidWith", "statusId": "stateId", "status": "state", "createdAt": "createdOn",
        "updatedAt": "modifiedAt"}, kept_on_documented=True),
    "status_change": _fields({  # 7.10 status history
        "_id": "objectId", "transactionId": "orderId", "statusId": "stateId", "statusName": "stateName",
        "category": "stateCategory", "changedAt": "changedOn", "changedBy": "actor"}),
    "streak_log": _fields({  # 7.13
        "_id": "objectId", "streakId": "streakKey", "user_id": "member_id", "identifier": "member_key",
        "count": "length", "status": "state", "createdAt": "createdOn"}),
    "tier": _fields({"name": "title", "icon": "iconUrl", "levels": "steps"}),  # 7.13
    # 7.14: the public client code shows `_id` and `topic` (the channel's name); the rest is assumed
    "channel": _fields({"type": "kind", "description": "summary", "isPrivate": "private",
                        "createdAt": "createdOn", "updatedAt": "modifiedAt"}),
    "message": _fields({"parentId": "replyTo", "reactions": "reactionCount", "editedAt": "lastEditedAt"}),
    "minigame_log": _fields({  # 7.16
        "_id": "objectId", "user_id": "member_id", "email": "member_email", "game": "gameType",
        "outcome": "result", "xp": "xp_delta", "coins": "coins_delta", "createdAt": "createdOn"}),
    "minigame_stats": _fields({"user_id": "member_id", "email": "member_email", "games": "gameStats",
                               "streaks": "streakStats"}),  # 7.17
    "job": _fields({  # 8.3
        "jobId": "taskId", "type": "kind", "fileName": "file", "status": "state", "totalRows": "rowCount",
        "processedRows": "rowsProcessed", "successRows": "rowsSucceeded", "failedRows": "rowsFailed",
        "createdAt": "createdOn", "startedAt": "startedOn", "finishedAt": "finishedOn", "error": "failure"}),
    "job_row": _fields({"row": "line", "email": "member_email", "status": "state", "error": "failure"}),
}


@dataclass(frozen=True)
class Param:
    item: Item
    where: str  # "query" or "body"
    values: str | None = None  # "sort": `field:dir` over the record's fields; "field_keys": user field keys


def q(name: str, renamed: str) -> Param:
    return Param(assumed(name, renamed), "query")


def b(name: str, renamed: str) -> Param:
    return Param(assumed(name, renamed), "body")


def sort(renamed: str) -> Param:
    return Param(assumed("sort", renamed), "query", "sort")


SINCE_UNTIL_Q = {"from": q("from", "since"), "to": q("to", "until")}
SINCE_UNTIL_B = {"from": b("from", "since"), "to": b("to", "until")}
USER_KEYS = {"fields": Param(doc("fields"), "body", "field_keys"), "filter": Param(doc("filter"), "body", "field_keys")}

DOC_PERMISSIONS = {"getUserData", "createUser", "manageUser", "userFields", "getUserStats", "bulkUpdateUser",
                   "sendMessage", "replyMessage", "appearance", "store", "purchase-history"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Item
    record: str | None = None  # the kind of record it carries
    records_at: str | None = None  # where the records sit (dotted from the envelope's root, full surface)
    keys: dict[str, Item] = field(default_factory=dict)  # response keys besides the records' fields
    params: dict[str, Param] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    permission_assumed: bool = False  # the contract assumes which permission guards it


def ep(name: str, method: str, path: Item, record: str | None = None, records_at: str | None = "data",
       **kw: Any) -> Endpoint:
    return Endpoint(name, method, path, record, records_at if record else None, **kw)


HIST = "/apis/v1/communities/{communityId}"
HIST_PARAMS = {**SINCE_UNTIL_Q, "sort": sort("order")}
ENDPOINTS: list[Endpoint] = [
    ep("users_filter", "POST", assumed("/apis/v1/users/filter", "/apis/v1/users/search", "/apis/v1/users/filter"),
       "user", "data.users", datasets=("users",), params=USER_KEYS,
       keys={"data.users": assumed("data.users", "data.members", "data.users"),
             "data.total": assumed("data.total", "data.totalCount")},
       notes=("Served on documented although its path and layout are assumed: the operation (Get Users with "
              "Filters: body, filters, pagination, page size) is documented and a documented server must "
              "answer it somewhere; the records stay under data.users (no documented alternative).",
              "data.next_cursor (section 5 cursor scheme), data.current_page and data.total_pages are [doc].",
              "On a surface that does not serve a field: naming it in `fields` is silently ignored (the record "
              "lacks it); naming it in `filter` is a 400 `Unknown filter field`, as for any unknown field.")),
    ep("user_info", "POST", doc("/apis/v1/users/info"), "user_info", "data", datasets=()),
    ep("user_fields", "GET", assumed(f"{HIST}/user-fields", f"{HIST}/custom-fields", f"{HIST}/user-fields"),
       datasets=("user_fields",),
       notes=("Served on documented: its record is [doc] and its siblings document the path prefix.",)),
    ep("user_field_histories", "GET", assumed(f"{HIST}/user-field-histories", f"{HIST}/field-history"),
       "field_history", datasets=("user_field_histories",), params=HIST_PARAMS,
       notes=("page and limit are the documented page-meta-total scheme's names: kept on every surface.",)),
    ep("field_histories", "GET", assumed(f"{HIST}/user-fields/{{fieldId}}/histories",
                                         f"{HIST}/custom-fields/{{fieldId}}/field-history"),
       "field_history", params=HIST_PARAMS),
    ep("user_histories", "GET", assumed(f"{HIST}/users/{{userId}}/user-field-histories",
                                        f"{HIST}/members/{{userId}}/field-history"),
       "field_history", params=HIST_PARAMS),
    ep("field_user_histories", "GET", assumed(f"{HIST}/user-fields/{{fieldId}}/users/{{userId}}/histories",
                                              f"{HIST}/custom-fields/{{fieldId}}/members/{{userId}}/field-history"),
       "field_history", params=HIST_PARAMS),
    ep("activity_daily", "POST", doc("/apis/v1/users/activity/daily"), datasets=("gamification_daily",)),
    ep("activity_logs", "POST", assumed("/apis/v1/users/activity/logs", "/apis/v1/users/activity/history"),
       "log", "data.results", datasets=("gamification_logs",), params=SINCE_UNTIL_B,
       notes=("identifier, identifier_type, page and limit are the documented siblings' names: kept.",)),
    ep("activity_stats", "POST", doc("/apis/v1/users/activity/stats"), datasets=("activity_stats",)),
    ep("loyalty_overview", "GET", assumed("/v1/analytics/loyalty-overview", "/v1/analytics/loyalty"),
       "loyalty_day", datasets=("loyalty_overview",), params=SINCE_UNTIL_Q, permission_assumed=True),
    ep("redemption_transactions", "GET", assumed("/apis/v1/redemption-transactions", "/apis/v1/redemption-orders"),
       "order", "data.results", datasets=("redemption_orders",), permission_assumed=True,
       params={"updatedFrom": q("updatedFrom", "modifiedSince"), "updatedTo": q("updatedTo", "modifiedUntil"),
               "sort": sort("order")}),
    ep("redemption_by_email", "POST", assumed("/apis/v1/redemption-transactions/by-email",
                                              "/apis/v1/redemption-orders/by-email"),
       "order", "data.results", params={"email": b("email", "memberEmail")}, permission_assumed=True),
    ep("redemption_statuses", "GET", assumed("/apis/v1/redemption-statuses", "/apis/v1/redemption-states"),
       datasets=("redemption_statuses",), permission_assumed=True,
       notes=("The status objects {_id, name, category, color} are [doc]; only the list's path is assumed.",)),
    ep("redemption_status_history", "GET", assumed("/apis/v1/redemption-transactions/{transactionId}/status-history",
                                                   "/apis/v1/redemption-orders/{transactionId}/history"),
       "status_change", datasets=("redemption_status_history",), permission_assumed=True),
    ep("redemption_status_update", "PUT", doc("/apis/v1/redemption-transactions/status"), "order", "data",
       permission_assumed=True,
       notes=("8.5 [doc] answers the order as in 7.9: on documented the order keeps the layout we assumed; "
              "on renamed its fields carry the renamed names, as in every response carrying an order.",)),
    ep("purchase_histories", "GET", assumed("/v1/purchase-histories", "/v1/purchases"),
       datasets=("purchase_histories",),
       notes=("The list is assumed, its record [doc] (from the PATCH answer); skip, limit and the "
              "`sort=field:dir` syntax are documented.",)),
    ep("purchase_history_update", "PATCH", doc("/v1/purchase-histories/{purchaseHistoryID}"),
       params={"statusID": b("statusID", "stateID")},
       notes=("statusID in the body is our reading (docs/contract-readings.md), not 8.6: ignored on documented, "
              "so a body with only statusID is a 400 there.",)),
    ep("products", "GET", doc("/v1/products"), datasets=("store_products",)),
    ep("categories", "GET", doc("/v1/categories"), datasets=("store_categories",)),
    ep("store_config", "GET", doc("/v1/stores"), datasets=("store_config",)),
    ep("leaderboards", "GET", doc("/v1/leaderboards"), datasets=("leaderboards",), permission_assumed=True),
    ep("streaks", "GET", doc("/apis/v1/streaks"), datasets=("streaks",), permission_assumed=True),
    ep("streak_logs", "POST", assumed("/apis/v1/streaks/logs", "/apis/v1/streaks/history"), "streak_log",
       "data.results", datasets=("streak_logs",), params=SINCE_UNTIL_B, permission_assumed=True),
    ep("tiers", "GET", assumed("/apis/v1/tiers", "/apis/v1/tier-settings"), "tier", "data.tiers",
       datasets=("tiers",), permission_assumed=True,
       keys={"data.tiers": assumed("data.tiers", "data.tierList"),
             "data.xpSetting": assumed("data.xpSetting", "data.xpSettings")}),
    ep("channels", "GET", doc("/apis/v1/channels"), "channel", datasets=("channels",), permission_assumed=True,
       notes=("Fields beyond _id and topic are assumed: on documented a channel is {_id, topic}.",)),
    ep("messages", "GET", doc("/v1/messages"), "message", "data.messages", datasets=("messages",),
       permission_assumed=True,
       notes=("count keeps its assumed default 50 and maximum 1000 on every surface (a server has some; a "
              "client must page by what came back); total keeps its name (doc example).",)),
    ep("send_message", "POST", doc("/apis/v1/messages/send")),
    ep("reply_message", "POST", assumed("/apis/v1/messages/reply", "/apis/v1/messages/replies"),
       params={"messageId": b("messageId", "targetMessageId")}),
    ep("react_message", "POST", assumed("/apis/v1/messages/react", "/apis/v1/messages/reactions"),
       params={"messageId": b("messageId", "targetMessageId"), "emoji": b("emoji", "reaction")}),
    ep("minigame_logs", "POST", assumed("/apis/v1/users/minigames/logs", "/apis/v1/users/games/logs"),
       "minigame_log", "data.results", datasets=("minigame_logs",),
       params={"email": b("email", "memberEmail"), **SINCE_UNTIL_B}),
    ep("minigame_stats", "POST", assumed("/apis/v1/users/minigames/stats", "/apis/v1/users/games/stats"),
       "minigame_stats", "data", datasets=("user_game_stats",), params={"email": b("email", "memberEmail")}),
    ep("bulk_update_users", "POST", doc("/apis/v1/users/bulk-update"),
       keys={"data.jobId": assumed("data.jobId", "data.taskId")},
       notes=("The CSV's columns are the community's template and are not renamed on any surface.",)),
    ep("bulk_update_premium_currency", "POST", assumed("/apis/v1/users/bulk-update/premium-currency",
                                                       "/apis/v1/users/bulk-update/premium")),
    ep("bulk_jobs", "GET", assumed("/apis/v1/bulk-jobs", "/apis/v1/bulk-tasks"), "job", "data.results",
       datasets=("bulk_jobs",)),
    ep("bulk_job", "GET", assumed("/apis/v1/bulk-jobs/{jobId}", "/apis/v1/bulk-tasks/{jobId}"), "job", "data"),
    ep("bulk_job_details", "GET", assumed("/apis/v1/bulk-jobs/{jobId}/details", "/apis/v1/bulk-tasks/{jobId}/details"),
       "job_row", "data.results"),
]
BY_NAME = {e.name: e for e in ENDPOINTS}
BY_ROUTE = {(e.method, e.path.name): e for e in ENDPOINTS}

# truth datasets: the record kind their rows are (None: every field [doc], or not an API record)
DATASET_RECORDS: dict[str, str | None] = {
    "users": "user", "user_fields": None, "user_field_histories": "field_history", "gamification_daily": None,
    "gamification_logs": "log", "activity_stats": None, "loyalty_overview": "loyalty_day",
    "redemption_orders": "order", "redemption_statuses": None, "redemption_status_history": "status_change",
    "purchase_histories": None, "store_products": None, "store_categories": None, "store_config": None,
    "leaderboards": None, "streaks": None, "streak_logs": "streak_log", "tiers": "tier", "bulk_jobs": "job",
    "channels": "channel", "messages": "message", "minigame_logs": "minigame_log",
    "user_game_stats": "minigame_stats", "webhook_events": None,
}
DATASET_ENDPOINT = {d: e.name for e in ENDPOINTS for d in e.datasets}

DECISIONS = (
    "POST /__sim/reset restores the start-up surface (the --surface flag), as it restores every start-up knob.",
    "A path the surface does not serve answers exactly like an unknown route: 404 {status: error, message: "
    "'Not found', detail, meta}; a method the surface does not serve on a served path is a 405 as usual.",
    "An assumed parameter is ignored on documented; on renamed it is honoured under its new name only (the "
    "original name is ignored). A sort parameter's value names record fields by the surface's names: an "
    "unknown field is a 400 `Invalid sort`.",
    "Assumed permission names (redemptions, analytics, gamification, getMessages, and sendMessage guarding "
    "channels) are enforced unchanged on every surface: they show only in 403 messages and in keys.",
    "Nested objects keep their keys on every surface; only top-level record fields and the listed response "
    "keys change.",
    "Outgoing webhooks (contract 9), the CSV columns of bulk updates and error messages are the same on "
    "every surface.",
    "Truth: a served dataset's rows (/__sim/truth/<dataset>) and checksum (/__sim/truth) are shaped as the "
    "surface serves its records; a dataset whose endpoint the surface does not serve keeps its full shape.",
)


# -- routing -------------------------------------------------------------------------------------------
def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$")


def _templates(template: str) -> list[str]:
    """A template and, for Partner paths (`/v1/...`), the same without `/v1` (as routing serves them)."""
    return [template, template[3:]] if template.startswith("/v1/") else [template]


_RENAMED_PATHS = [(e, [_pattern(t) for t in _templates(e.path.renamed)]) for e in ENDPOINTS
                  if e.path.renamed != e.path.name]


def endpoint_of(r: routing.Route) -> Endpoint | None:
    return BY_ROUTE.get((r.method, r.template))


def visible(surface: str, r: routing.Route) -> bool:
    """Whether the route answers under its own (contract) path on this surface."""
    e = endpoint_of(r)
    return e is None or e.path.on(surface) == e.path.name


def resolve(surface: str, method: str, path: str) -> tuple[routing.Route | None, dict[str, str], bool, str | None]:
    """(route, path params, whether another method serves the path, the template the caller used)."""
    if surface == "renamed":
        other = False
        for e, patterns in _RENAMED_PATHS:
            for p in patterns:
                m = p.match(path)
                if m is None:
                    continue
                if e.method != method:
                    other = True
                    continue
                original = e.path.name
                for k, v in m.groupdict().items():
                    original = original.replace("{" + k + "}", v)
                r, params, _ = routing.match(method, original)
                return r, params, False, e.path.renamed
        if other:
            return None, {}, True, None
    r, params, other = routing.match(method, path, None if surface == "full" else lambda r: visible(surface, r))
    return r, params, other, r.template if r else None


# -- requests ------------------------------------------------------------------------------------------
def _field_names(kind: str, surface: str) -> tuple[dict[str, str], set[str]]:
    """(served name -> contract name, contract names not served) of a record kind's assumed fields."""
    served: dict[str, str] = {}
    hidden: set[str] = set()
    for name, item in RECORDS.get(kind, {}).items():
        s = item.on(surface)
        if s is None or s != name:
            hidden.add(name)
        if s is not None:
            served[s] = name
    return served, hidden


def _sort_value(value: str, kind: str | None, surface: str) -> str:
    name, sep, direction = value.partition(":")
    served, hidden = _field_names(kind or "", surface)
    if name in served:
        return served[name] + sep + direction
    if name in hidden:
        raise bad_request("Invalid sort", f"Unknown sort field: {name}")
    return value


def _user_keys(param: str, value: Any, surface: str) -> Any:
    served, hidden = _field_names("user", surface)
    if param == "fields" and isinstance(value, list):
        out = []
        for f in value:
            if isinstance(f, str) and f in served:
                out.append(served[f])
            elif not (isinstance(f, str) and f in hidden):  # a field this surface lacks: silently left out
                out.append(f)
        return out
    if param == "filter" and isinstance(value, dict):
        out_f: dict[str, Any] = {}
        for k, v in value.items():
            if k in hidden and k not in served:
                raise bad_request("Invalid filter", f"Unknown filter field: {k}")
            out_f[served.get(k, k)] = v
        return out_f
    return value


def _rename_params(e: Endpoint, where: str, items: Iterable[tuple[str, Any]], surface: str) -> list[tuple[str, Any]]:
    by_served: dict[str, Param] = {}
    hidden: set[str] = set()
    for p in e.params.values():
        if p.where != where:
            continue
        s = p.item.on(surface)
        if s is not None:
            by_served[s] = p
        if s != p.item.name:
            hidden.add(p.item.name)
    out = []
    for k, v in items:
        p = by_served.get(k)
        if p is None:
            if k not in hidden:
                out.append((k, v))
            continue
        if p.values == "sort" and isinstance(v, str):
            v = _sort_value(v, e.record, surface)
        elif p.values == "field_keys":
            v = _user_keys(k, v, surface)
        out.append((p.item.name, v))
    return out


def rewrite_request(surface: str, r: routing.Route, query: QueryParams, raw: bytes) -> tuple[QueryParams, bytes]:
    """The request as the handler (which speaks the contract's names) must see it."""
    e = endpoint_of(r)
    if surface == "full" or e is None or not e.params:
        return query, raw
    if any(p.where == "query" for p in e.params.values()):
        query = QueryParams(_rename_params(e, "query", query.multi_items(), surface))
    if any(p.where == "body" for p in e.params.values()) and raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return query, raw  # the handler answers the bad body
        if isinstance(body, dict):
            raw = orjson.dumps(dict(_rename_params(e, "body", body.items(), surface)))
    return query, raw


# -- responses -----------------------------------------------------------------------------------------
def _moves(kind: str | None, surface: str) -> list[tuple[str, str | None]]:
    if kind is None or surface == "full":
        return []
    return [(n, i.on(surface)) for n, i in RECORDS.get(kind, {}).items() if i.on(surface) != n]


def reshape(rec: dict[str, Any], moves: list[tuple[str, str | None]]) -> dict[str, Any]:
    """Rename or drop a record's top-level fields in place (all at once, so renames never collide)."""
    taken = [(rec.pop(old), new) for old, new in moves if old in rec]
    for value, new in taken:
        if new is not None:
            rec[new] = value
    return rec


def _at(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def rewrite_reply(surface: str, r: routing.Route, reply: Reply) -> None:
    """Shape a handler's answer (in place, so `reply.records` still names the page) for the surface."""
    e = endpoint_of(r)
    if surface == "full" or e is None:
        return
    moves = _moves(e.record, surface)
    if moves and e.records_at:
        found = _at(reply.body, e.records_at)
        for rec in found if isinstance(found, list) else [found]:
            if isinstance(rec, dict):
                reshape(rec, moves)
    for key, item in e.keys.items():
        new = item.on(surface)
        if new == key:
            continue
        parent_path, _, leaf = key.rpartition(".")
        parent = _at(reply.body, parent_path) if parent_path else reply.body
        if not isinstance(parent, dict) or leaf not in parent:
            continue
        value = parent.pop(leaf)
        if new is not None:
            parent[new.rpartition(".")[2]] = value


# -- truth ---------------------------------------------------------------------------------------------
def dataset_served(dataset: str, surface: str) -> bool:
    name = DATASET_ENDPOINT.get(dataset)
    return name is None or BY_NAME[name].path.on(surface) is not None


def truth_rows(dataset: str, surface: str, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A dataset's truth rows shaped as the surface serves them (full shape when it serves none)."""
    moves = _moves(DATASET_RECORDS.get(dataset), surface) if dataset_served(dataset, surface) else []
    if not moves:
        yield from rows
        return
    for row in rows:
        yield reshape(row, moves)


# -- the map -------------------------------------------------------------------------------------------
def describe(surface: str) -> dict[str, Any]:
    """The JSON of `GET /__sim/surface`: see the README's "Surfaces" for its shape."""
    endpoints = {}
    for e in ENDPOINTS:
        served = e.path.on(surface) is not None
        endpoints[e.name] = {
            "method": e.method,
            "path": e.path.describe(surface),
            "served": served,
            "permission": {"status": ASSUMED if e.permission_assumed else DOC},
            "record": e.record,
            "records_at": e.records_at,
            "keys": {k: i.describe(surface) for k, i in e.keys.items()},
            "params": {k: {"in": p.where, "values": p.values, **p.item.describe(surface)}
                       for k, p in e.params.items()},
            "datasets": list(e.datasets),
            "notes": list(e.notes),
        }
    for r in routing.ROUTES:
        e = endpoint_of(r)
        if e is not None:
            endpoints[e.name]["permission"]["name"] = r.permission
            if r.permission not in DOC_PERMISSIONS:
                endpoints[e.name]["permission"]["status"] = ASSUMED
    return {
        "surface": surface,
        "surfaces": list(SURFACES),
        "reset": "restores the start-up surface",
        "endpoints": endpoints,
        "records": {k: {"fields": {n: i.describe(surface) for n, i in fs.items()}} for k, fs in RECORDS.items()},
        "datasets": {d: {"endpoint": DATASET_ENDPOINT.get(d), "record": kind, "served": dataset_served(d, surface)}
                     for d, kind in DATASET_RECORDS.items()},
        "decisions": list(DECISIONS),
    }
