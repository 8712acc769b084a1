"""Users (7.1, 7.2), user fields and field histories (7.3, 7.4) against the contract and the truth."""

from __future__ import annotations

import httpx

from tests.simadmin import COMMUNITY_ID, SimAdmin
from tests.simulator.helpers import by_id, ok, walk_page_meta

PLATFORM = ["email", "first_name", "last_name", "join_date", "xp", "coins", "username", "display_name",
            "last_login", "tier", "level", "premium_currency", "language", "login_streak", "total_messages",
            "total_reactions", "visit_count", "is_deleted"]
CUSTOM = ["city", "favourite_game", "age", "newsletter_opt_in", "birthday", "loyalty_points"]
ALL = PLATFORM + CUSTOM
FIELDS_PATH = f"/apis/v1/communities/{COMMUNITY_ID}/user-fields"
HIST_PATH = f"/apis/v1/communities/{COMMUNITY_ID}/user-field-histories"


def read_users(api: httpx.Client, **body: object) -> list[dict]:
    rows: list[dict] = []
    cursor = None
    while True:
        req = {"fields": ALL, **body} | ({"cursor": cursor} if cursor else {})
        data = ok(api.post("/apis/v1/users/filter", json=req))["data"]
        assert len(data["users"]) == 200 or data["next_cursor"] is None
        rows += data["users"]
        cursor = data["next_cursor"]
        if cursor is None:
            assert len(rows) == data["total"]
            return rows


def test_cursor_pages_return_every_live_user_once_in_id_order(sim: SimAdmin, api: httpx.Client) -> None:
    rows = read_users(api)
    ids = [r["_id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert rows == sim.truth_rows("users")
    assert all(set(r) == {"_id", *ALL} for r in rows)
    first = rows[0]
    assert first["join_date"].endswith("Z") and len(first["join_date"]) == 24
    assert all(r["is_deleted"] is False for r in rows)


def test_page_mode_matches_cursor_mode(api: httpx.Client) -> None:
    by_cursor = read_users(api)
    rows: list[dict] = []
    page = 1
    while True:
        data = ok(api.post("/apis/v1/users/filter", json={"fields": ALL, "page": page}))["data"]
        assert data["current_page"] == page and data["total_pages"] == -(-len(by_cursor) // 200)
        rows += data["users"]
        if page >= data["total_pages"]:
            break
        page += 1
    assert rows == by_cursor
    past = ok(api.post("/apis/v1/users/filter", json={"page": page + 1}))["data"]
    assert past["users"] == []


def test_default_fields_are_the_documented_six(api: httpx.Client) -> None:
    user = ok(api.post("/apis/v1/users/filter", json={}))["data"]["users"][0]
    assert set(user) == {"_id", "email", "join_date", "first_name", "last_name", "xp", "coins"}


def test_filters_exact_and_comparison(sim: SimAdmin, api: httpx.Client) -> None:
    truth = sim.truth_rows("users")
    got = read_users(api, filter={"join_date": {"gte": "2026-04-01", "lte": "2026-04-30"}})
    assert got == [r for r in truth if "2026-04-01" <= r["join_date"][:10] <= "2026-04-30"]
    got = read_users(api, filter={"city": "Paris", "xp": {"gt": 100}})
    assert got == [r for r in truth if r["city"] == "Paris" and r["xp"] > 100]
    got = read_users(api, filter={"first_name": truth[0]["first_name"]})
    assert got == [r for r in truth if r["first_name"] == truth[0]["first_name"]]


def test_bad_users_requests_are_400(api: httpx.Client) -> None:
    cases = [
        {"cursor": "abc", "page": 2},
        {"fields": ["email", "shoe_size"]},
        {"filter": {"join_date": {"gte": "01/02/2026"}}},
        {"filter": {"nope": 1}},
        {"cursor": "!!!not-a-cursor"},
    ]
    for body in cases:
        r = api.post("/apis/v1/users/filter", json=body)
        assert r.status_code == 400, body
        err = r.json()
        assert err["status"] == "error" and err["meta"] == {"statusCode": 400, "status": "error"}
    assert "shoe_size" in api.post("/apis/v1/users/filter", json=cases[1]).json()["detail"]


def test_user_info_by_email_and_id(sim: SimAdmin, api: httpx.Client) -> None:
    user = sim.truth_rows("users")[5]
    for ident in (user["email"], user["_id"]):
        data = ok(api.post("/apis/v1/users/info", json={"idOrEmail": ident}))["data"]
        assert data["_id"] == data["userId"] == user["_id"]
        assert (data["xp"], data["coins"], data["username"], data["firstName"], data["lastName"]) == (
            user["xp"], user["coins"], user["username"], user["first_name"], user["last_name"])
        assert data["totalMessages"] == user["total_messages"] and data["visitCount"] == user["visit_count"]
        assert data["customFields"] == {k: user[k] for k in CUSTOM}
    assert api.post("/apis/v1/users/info", json={"idOrEmail": "nobody@nowhere.test"}).status_code == 404
    assert api.post("/apis/v1/users/info", json={"idOrEmail": "0" * 24}).status_code == 404
    assert api.post("/apis/v1/users/info", json={"idOrEmail": "xyz"}).status_code == 400


def test_user_fields_envelope_b(api: httpx.Client) -> None:
    body = ok(api.get(FIELDS_PATH))
    assert body["meta"] == {"status": "success", "statusCode": 200}
    fields = body["data"]
    assert [f["field"] for f in fields] == CUSTOM
    assert {f["type"] for f in fields} == {"text", "select", "number", "boolean", "date", "numerical"}
    keys = {"_id", "field", "name", "type", "description", "required", "defaultValue", "options", "creator",
            "communityId", "createdAt", "updatedAt"}
    assert all(set(f) == keys for f in fields)
    assert api.get(f"/apis/v1/communities/{'1' * 24}/user-fields").status_code == 404


def test_field_histories_page_to_the_end_and_cap_limit(sim: SimAdmin, api: httpx.Client) -> None:
    rows = walk_page_meta(api, HIST_PATH, 37)
    assert rows == sim.truth_rows("user_field_histories")
    assert [(r["createdAt"], r["_id"]) for r in rows] == sorted((r["createdAt"], r["_id"]) for r in rows)
    meta = ok(api.get(HIST_PATH, params={"limit": 5000}))["meta"]
    assert meta["limit"] == 100
    assert ok(api.get(HIST_PATH))["meta"]["limit"] == 20


def test_field_histories_window_is_half_open(api: httpx.Client) -> None:
    rows = walk_page_meta(api, HIST_PATH, 100)
    t = rows[10]["createdAt"]
    before = walk_page_meta(api, HIST_PATH, 100, to=t)
    after = walk_page_meta(api, HIST_PATH, 100, **{"from": t})
    assert before + after == rows
    assert all(r["createdAt"] < t for r in before) and after[0]["createdAt"] == t
    assert api.get(HIST_PATH, params={"from": "yesterday"}).status_code == 400


def test_field_history_chains_end_in_the_current_value(sim: SimAdmin, api: httpx.Client) -> None:
    users = by_id(sim.truth_rows("users"))
    last: dict[tuple[str, str], object] = {}
    for h in sim.truth_rows("user_field_histories"):
        key = (h["userId"], h["field"])
        if key in last:
            assert h["previousValue"] == last[key]
        last[key] = h["value"]
        assert h["source"] in {"api", "admin", "bulk", "system"}
    for (uid, field), value in last.items():
        if uid in users:
            assert users[uid][field] == value
    uid, field = next(iter(last))
    fid = {f["field"]: f["_id"] for f in ok(api.get(FIELDS_PATH))["data"]}[field]
    mine = walk_page_meta(api, f"/apis/v1/communities/{COMMUNITY_ID}/users/{uid}/user-field-histories", 100)
    assert mine and all(h["userId"] == uid for h in mine)
    both = walk_page_meta(api, f"/apis/v1/communities/{COMMUNITY_ID}/user-fields/{fid}/users/{uid}/histories", 100)
    assert both == [h for h in mine if h["field"] == field]
    per_field = walk_page_meta(api, f"/apis/v1/communities/{COMMUNITY_ID}/user-fields/{fid}/histories", 100)
    assert all(h["fieldId"] == fid for h in per_field)
