"""Users (7.1, 7.2), user fields and their histories (7.3, 7.4)."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import orjson

from simulator import catalog as C
from simulator import render
from simulator.daterange import window
from simulator.envelopes import (
    Reply,
    bad_request,
    check_object_id,
    envelope_a,
    envelope_b,
    int_param,
    not_found,
    page_limit,
    user_found,
)
from simulator.routing import Call, route
from simulator.timefmt import DAY_MS, parse_ymd
from simulator.world import World

PAGE_SIZE = 200
DEFAULT_FIELDS = ["email", "join_date", "first_name", "last_name", "xp", "coins"]
ALL_FIELDS = C.PLATFORM_FIELDS + C.CUSTOM_KEYS
OPS = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal, "eq": np.equal,
       "ne": np.not_equal}
NUMERIC_COLUMNS = {"xp": "xp", "coins": "coins", "premium_currency": "premium", "total_reactions": "n_react",
                   "visit_count": "n_visit"}


def community(call: Call) -> None:
    if call.params.get("communityId") != C.COMMUNITY_ID:
        raise not_found("Community not found", f"No community {call.params.get('communityId')}")


def _encode_cursor(i: int) -> str:
    return base64.urlsafe_b64encode(f"u:{i}".encode()).decode().rstrip("=")


def _decode_cursor(c: Any) -> int:
    try:
        text = base64.urlsafe_b64decode(str(c) + "=" * (-len(str(c)) % 4)).decode()
        assert text.startswith("u:")
        return int(text[2:])
    except Exception:
        raise bad_request("Invalid cursor", "The cursor is not one this server issued") from None


def _column(w: World, name: str) -> tuple[np.ndarray, str]:
    """(values for every user, kind) where kind is 'num', 'day', 'bool' or 'code' (string table)."""
    u = w.users
    if name in NUMERIC_COLUMNS:
        return u[NUMERIC_COLUMNS[name]], "num"
    if name == "total_messages":
        return u["n_message"] + u["n_reply"], "num"
    if name == "level":
        steps = np.searchsorted(C.TIER_THRESHOLDS, u["xp"], side="right") - 1
        return np.array([lv for _, lv in C.TIER_STEPS])[np.maximum(steps, 0)], "num"
    if name == "login_streak":
        return np.where(u["streak_last"] >= w.clock_day - 1, u["streak_len"], 0), "num"
    if name == "join_date":
        return u["join_ms"] // DAY_MS, "day"
    if name == "last_login":
        return u["last_login"] // DAY_MS, "day"
    if name == "is_deleted":
        return u["deleted"], "bool"
    if name in C.CUSTOM_KEYS:
        t = C.CUSTOM_FIELDS[C.CUSTOM_KEYS.index(name)]["type"]
        kind = {"number": "num", "numerical": "num", "date": "day", "boolean": "bool"}.get(t, "code")
        return u[f"c_{name}"], kind
    raise KeyError(name)


def _scalar(w: World, name: str, kind: str, v: Any) -> float:
    if kind == "num":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad_request("Invalid filter", f"filter value for {name} must be a number")
        return float(v)
    if kind == "day":
        try:
            return float(parse_ymd(v))
        except ValueError:
            raise bad_request("Invalid filter", f"filter value for {name} must be a YYYY-MM-DD date") from None
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad_request("Invalid filter", f"filter value for {name} must be true or false")
        return float(v)
    if not isinstance(v, str):
        raise bad_request("Invalid filter", f"filter value for {name} must be a string")
    return float(w.string_codes.get(v, -1))


def filter_mask(w: World, flt: Any) -> np.ndarray:
    if not isinstance(flt, dict):
        raise bad_request("Invalid filter", "filter must be an object")
    mask = ~w.users["deleted"]
    for name, cond in flt.items():
        if name not in ALL_FIELDS:
            raise bad_request("Invalid filter", f"Unknown filter field: {name}")
        try:
            col, kind = _column(w, name)
        except KeyError:
            col, kind = None, "text"
        if isinstance(cond, dict):
            if col is None or kind in ("bool", "code"):
                raise bad_request("Invalid filter", f"comparison filters apply to numeric and date fields, not {name}")
            for op, v in cond.items():
                if op not in OPS:
                    raise bad_request("Invalid filter", f"Unknown filter operator: {op}")
                with np.errstate(invalid="ignore"):
                    mask &= OPS[op](col, _scalar(w, name, kind, v))
        elif col is not None:
            with np.errstate(invalid="ignore"):
                mask &= col == _scalar(w, name, kind, cond)
        else:  # text platform fields: compare the rendered value of the remaining candidates
            cand = np.flatnonzero(mask)
            keep = np.zeros(len(mask), dtype=bool)
            for i in cand.tolist():
                value = w.email(i) if name == "email" else (
                    C.tier_of(int(w.users["xp"][i]))[0] if name == "tier" else w.text_field(name, i))
                if name == "tier":
                    value = w.tier_override.get(i, value)
                keep[i] = value == cond
            mask &= keep
    return mask


def _mask_and_total(w: World, flt: Any) -> tuple[np.ndarray, int]:
    mask = filter_mask(w, flt)
    return mask, int(np.count_nonzero(mask))


def _next_matches(mask: np.ndarray | None, alive: np.ndarray, start: int, want: int) -> np.ndarray:
    """Indices >= start of the next `want` matching users, scanning in growing chunks."""
    src = alive if mask is None else mask
    n = len(src)
    found: list[np.ndarray] = []
    have = 0
    chunk = max(want * 2, 512)
    pos = start
    while pos < n and have < want:
        hits = np.flatnonzero(src[pos: pos + chunk]) + pos
        found.append(hits)
        have += len(hits)
        pos += chunk
        chunk *= 2
    out = np.concatenate(found) if found else np.zeros(0, np.int64)
    return out[:want]


@route("POST", "/apis/v1/users/filter", "getUserData")
def users_filter(call: Call) -> Reply:
    w = call.world
    body = call.json()
    fields = body.get("fields", DEFAULT_FIELDS)
    if fields is None:
        fields = DEFAULT_FIELDS
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise bad_request("Invalid fields", "fields must be a list of field keys")
    unknown = [f for f in fields if f not in ALL_FIELDS and f != "_id"]
    if unknown:
        raise bad_request("Invalid fields", f"Unknown fields: {', '.join(unknown)}")
    fields = [f for f in dict.fromkeys(fields) if f != "_id"]
    if body.get("cursor") is not None and body.get("page") is not None:
        raise bad_request("Invalid pagination", "Send either cursor or page, not both")
    flt = body.get("filter")
    mask = None
    if flt:  # cached per state and filter, so paging a filtered list costs one mask
        try:
            name = "mask:" + orjson.dumps(flt, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            raise bad_request("Invalid filter", "filter must be a JSON object") from None
        mask, total = w.cached(name, lambda: _mask_and_total(w, flt))
        alive = mask
    else:
        alive = w.cached("alive", lambda: ~w.users["deleted"])
        total = w.cached("alive_total", lambda: int(np.count_nonzero(alive)))
    if body.get("page") is not None:
        page = int_param(body.get("page"), "page", 1)
        matching = w.cached("matching:" + (name if flt else ""), lambda: np.flatnonzero(alive))
        idx = matching[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        records = render.users(w, idx, fields)
        data = {"users": records, "current_page": page, "total_pages": math.ceil(total / PAGE_SIZE), "total": total}
        return envelope_a(data, "Users fetched successfully", records)
    start = _decode_cursor(body["cursor"]) + 1 if body.get("cursor") is not None else 0
    idx = _next_matches(mask, alive, start, PAGE_SIZE + 1)
    more = len(idx) > PAGE_SIZE
    idx = idx[:PAGE_SIZE]
    records = render.users(w, idx, fields)
    data = {"users": records, "next_cursor": _encode_cursor(int(idx[-1])) if more else None, "total": total}
    return envelope_a(data, "Users fetched successfully", records)


def find_user(w: World, ident: Any, kind: str = "auto") -> int | None:
    """A live user by email or `_id`; 400 for a malformed id."""
    if not isinstance(ident, str) or not ident:
        raise bad_request("Invalid identifier", "identifier must be a non-empty string")
    if kind == "email" or (kind == "auto" and "@" in ident):
        return w.find_email(ident)
    check_object_id(ident, "user id")
    return w.find_user_id(ident)


@route("POST", "/apis/v1/users/info", "getUserData")
def user_info(call: Call) -> Reply:
    w = call.world
    body = call.json()
    ident = body.get("idOrEmail")
    i = user_found(find_user(w, ident), ident)
    return envelope_a(render.user_info(w, i), "User fetched successfully")


@route("GET", "/apis/v1/communities/{communityId}/user-fields", "userFields")
def user_fields(call: Call) -> Reply:
    community(call)
    recs = C.user_field_records()
    return envelope_b(recs, "Read user fields success.", recs)


def _histories(call: Call, field_id: str | None = None, user_id: str | None = None) -> Reply:
    community(call)
    w = call.world
    q = call.query
    page, limit = page_limit(q)
    H = w.histories
    lo, hi = window(H["ts"], q)
    sort = q.get("sort", "createdAt:asc")
    if sort not in ("createdAt:asc", "createdAt:desc"):
        raise bad_request("Invalid sort", "sort must be createdAt:asc or createdAt:desc")
    pos = np.arange(lo, hi)
    if field_id is not None:
        check_object_id(field_id, "fieldId")
        ids = [f["_id"] for f in C.CUSTOM_FIELDS]
        if field_id not in ids:
            raise not_found("User field not found", f"No user field {field_id}")
        pos = pos[H["field"][pos] == ids.index(field_id)]
    if user_id is not None:
        check_object_id(user_id, "userId")
        i = user_found(w.find_user_id(user_id, include_deleted=True), user_id)
        pos = pos[H["user"][pos] == i]
    if sort.endswith("desc"):
        pos = pos[::-1]
    sel = pos[(page - 1) * limit: page * limit]
    recs = render.histories(w, sel)
    return envelope_b(recs, "Read user field histories success.", recs, page=page, limit=limit, total=len(pos))


@route("GET", "/apis/v1/communities/{communityId}/user-field-histories", "userFields")
def user_field_histories(call: Call) -> Reply:
    return _histories(call)


@route("GET", "/apis/v1/communities/{communityId}/user-fields/{fieldId}/histories", "userFields")
def field_histories(call: Call) -> Reply:
    return _histories(call, field_id=call.params["fieldId"])


@route("GET", "/apis/v1/communities/{communityId}/users/{userId}/user-field-histories", "userFields")
def user_histories(call: Call) -> Reply:
    return _histories(call, user_id=call.params["userId"])


@route("GET", "/apis/v1/communities/{communityId}/user-fields/{fieldId}/users/{userId}/histories", "userFields")
def field_user_histories(call: Call) -> Reply:
    return _histories(call, field_id=call.params["fieldId"], user_id=call.params["userId"])
