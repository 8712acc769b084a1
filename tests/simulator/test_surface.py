"""Surfaces: `full` serves everything, `documented` only what the contract marks [doc], `renamed` every
assumed name under another. Every expectation is read from the map `GET /__sim/surface` serves."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx
import pytest

from returning_sync.simulator_process import SimulatorProcess
from simulator import app as _app  # noqa: F401  (registers the routes)
from simulator import routing
from simulator import surface as S
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin
from tests.simulator.helpers import ok

Json = dict[str, Any]
FROM = "2026-05-20T00:00:00.000Z"
NOT_FOUND = "Not found"

# one request per endpoint that carries records, in the contract's names: (params or body, path ids)
REQUESTS: dict[str, Json] = {
    "users_filter": {"fields": [*S.RECORDS["user"], "email", "first_name", "last_name", "join_date", "xp",
                                "coins", "city", "age"]},
    "user_field_histories": {"limit": 100, "from": FROM, "sort": "createdAt:desc"},
    "activity_logs": {"from": FROM, "limit": 100},
    "loyalty_overview": {"from": "2026-05-01", "to": "2026-05-31"},
    "redemption_transactions": {"limit": 100, "updatedFrom": FROM, "sort": "updatedAt:desc"},
    "redemption_status_history": {},
    "streak_logs": {"from": FROM, "limit": 100},
    "tiers": {},
    "channels": {},
    "messages": {"count": 100},
    "minigame_logs": {"limit": 100},
    "minigame_stats": {},
    "user_info": {},
}


def surface_map(sim: SimAdmin) -> Json:
    return sim.get("/__sim/surface")


def ids(sim: SimAdmin) -> dict[str, str]:
    """A real value for every path parameter and the e-mails the per-member endpoints take."""
    plays = sim.truth_rows("minigame_logs")
    order = sim.truth_rows("redemption_orders")[0]
    return {"communityId": COMMUNITY_ID, "fieldId": sim.truth_rows("user_fields")[0]["_id"],
            "userId": sim.truth_rows("users")[0]["_id"], "transactionId": order["transactionId"],
            "jobId": "6a1c773a3e55a900000000e5", "purchaseHistoryID": sim.truth_rows("purchase_histories")[0]["_id"],
            "player": plays[0]["email"], "member": sim.truth_rows("user_game_stats")[0]["email"]}


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def call(api: httpx.Client, method: str, path: str, params: Json) -> httpx.Response:
    if method in ("GET", "DELETE"):
        return api.request(method, path, params=params)
    return api.request(method, path, json=params)


def translate(m: Json, name: str, params: Json) -> Json:
    """A request in the contract's names, as the surface in map `m` takes it."""
    e = m["endpoints"][name]
    fields = m["records"].get(e["record"] or "", {}).get("fields", {})
    out: Json = {}
    for k, v in params.items():
        p = e["params"].get(k)
        if p is None:
            out[k] = v
            continue
        if p["served_as"] is None:
            continue
        if p["values"] == "sort":
            field, _, direction = v.partition(":")
            v = f"{fields[field]['served_as'] if field in fields else field}:{direction}"
        elif p["values"] == "field_keys":
            user = m["records"]["user"]["fields"]
            v = [user[f]["served_as"] if f in user else f for f in v if f not in user or user[f]["served_as"]]
        out[p["served_as"]] = v
    return out


def records(m: Json, name: str, body: Json) -> list[Json]:
    e = m["endpoints"][name]
    at = e["records_at"]
    at = e["keys"][at]["served_as"] if at in e["keys"] else at
    found: Any = body
    for part in at.split("."):
        found = found[part]
    return found if isinstance(found, list) else [found]


def expected(m: Json, name: str, rows: list[Json]) -> list[Json]:
    """Records read on `full`, shaped as the map says the surface serves them."""
    fields = m["records"][m["endpoints"][name]["record"]]["fields"]
    out = []
    for row in rows:
        shaped = {}
        for k, v in row.items():
            target = fields[k]["served_as"] if k in fields else k
            if target is not None:
                shaped[target] = v
        out.append(shaped)
    return out


def read(api: httpx.Client, m: Json, name: str, values: dict[str, str]) -> list[Json]:
    e = m["endpoints"][name]
    params = dict(REQUESTS[name])
    if name == "minigame_logs":
        params["email"] = values["player"]
    if name == "minigame_stats":
        params["email"] = values["member"]
    if name == "user_info":
        params["idOrEmail"] = values["userId"]
    return records(m, name, ok(call(api, e["method"], fill(e["path"]["served_as"], values), translate(m, name, params))))


def test_full_is_the_default_and_serves_every_name(sim: SimAdmin, api: httpx.Client) -> None:
    m = surface_map(sim)
    assert m["surface"] == "full" and m["surfaces"] == ["full", "documented", "renamed"]
    assert sim.get("/__sim/knobs")["surface"] == "full"
    items = [e["path"] for e in m["endpoints"].values()]
    items += [i for e in m["endpoints"].values() for i in [*e["keys"].values(), *e["params"].values()]]
    items += [i for r in m["records"].values() for i in r["fields"].values()]
    assert all(i["served_as"] == i["name"] == i["full"] for i in items)
    assert all(e["served"] for e in m["endpoints"].values()) and all(d["served"] for d in m["datasets"].values())
    values = ids(sim)
    channel = read(api, m, "channels", values)[0]
    assert list(channel) == ["_id", "topic", "type", "description", "isPrivate", "createdAt", "updatedAt"]
    message = read(api, m, "messages", values)[0]
    assert list(message) == ["id", "message", "user", "channel", "timestamp", "parentId", "reactions", "editedAt"]
    body = ok(api.post("/apis/v1/users/filter", json={"fields": ["username"]}))
    assert list(body["data"]) == ["users", "next_cursor", "total"] and list(body["data"]["users"][0]) == ["_id", "username"]


def test_every_route_is_in_the_map_and_renamed_names_are_new() -> None:
    assert {(r.method, r.template) for r in routing.ROUTES} == set(S.BY_ROUTE)
    for e in S.ENDPOINTS:
        if e.path.renamed != e.path.name:  # a renamed path reaches no contract route
            some = {"communityId": COMMUNITY_ID, "fieldId": "6" * 24, "userId": "6" * 24, "transactionId": "ORD1",
                    "jobId": "6" * 24}
            assert routing.match(e.method, fill(e.path.renamed, some))[0] is None, e.name

    def snake(name: str) -> str:  # the warehouse's column for a name (dlt's snake_case)
        return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().lstrip("_")
    for kind, fields in S.RECORDS.items():
        assert all(snake(i.renamed) != snake(n) for n, i in fields.items()), kind
        assert len({i.renamed for i in fields.values()}) == len(fields), kind


def test_documented_answers_404_for_every_assumed_path(sim: SimAdmin, api: httpx.Client) -> None:
    values = ids(sim)
    sim.knobs(surface="documented")
    m = surface_map(sim)
    hidden = {n for n, e in m["endpoints"].items() if not e["served"]}
    assert hidden == {n for n, e in m["endpoints"].items()
                      if e["path"]["status"] == "assumed" and n not in ("users_filter", "user_fields")}
    assert {"user_field_histories", "activity_logs", "loyalty_overview", "tiers", "minigame_logs"} <= hidden
    for name, e in m["endpoints"].items():
        path = fill(e["path"]["name"], values)
        r = call(api, e["method"], path, {})
        if name in hidden:
            assert r.status_code == 404, name
            assert r.json() == {"status": "error", "message": NOT_FOUND, "detail": f"No endpoint {e['method']} {path}",
                                "meta": {"statusCode": 404, "status": "error"}}
        else:
            assert r.status_code != 404 or r.json()["message"] != NOT_FOUND, name
    # the same paths answer on full
    sim.knobs(surface="full")
    for name in hidden:
        e = m["endpoints"][name]
        r = call(api, e["method"], fill(e["path"]["name"], values), {})
        assert r.status_code != 404 or r.json()["message"] != NOT_FOUND, name
    assert {d for d, x in m["datasets"].items() if not x["served"]} == {
        "user_field_histories", "gamification_logs", "loyalty_overview", "redemption_orders", "redemption_statuses",
        "redemption_status_history", "purchase_histories", "streak_logs", "tiers", "bulk_jobs", "minigame_logs",
        "user_game_stats"}


@pytest.mark.parametrize("shown", ["documented", "renamed"])
def test_records_carry_exactly_the_names_the_map_gives(sim: SimAdmin, api: httpx.Client, shown: str) -> None:
    values = ids(sim)
    full = surface_map(sim)
    before = {n: read(api, full, n, values) for n in REQUESTS}
    sim.knobs(surface=shown)
    m = surface_map(sim)
    compared = []
    for name in REQUESTS:
        if not m["endpoints"][name]["served"]:
            continue
        got = read(api, m, name, values)
        assert got == expected(m, name, before[name]), name
        assert len(got) >= 1
        compared.append(name)
    if shown == "documented":
        assert compared == ["users_filter", "channels", "messages", "user_info"]
        user = read(api, m, "users_filter", values)[0]
        assert set(user) == {"_id", "email", "first_name", "last_name", "join_date", "xp", "coins", "city", "age"}
        assert [list(c) for c in read(api, m, "channels", values)][0] == ["_id", "topic"]
        assert "_id" not in read(api, m, "user_info", values)[0]
    else:
        assert compared == list(REQUESTS)
        hist = read(api, m, "user_field_histories", values)[0]
        assert hist["changedAt"] >= FROM and "createdAt" not in hist
        assert set(read(api, m, "tiers", values)[0]) == {"title", "iconUrl", "steps"}


def test_users_total_is_assumed(sim: SimAdmin, api: httpx.Client) -> None:
    total = ok(api.post("/apis/v1/users/filter", json={}))["data"]["total"]
    sim.knobs(surface="documented")
    data = ok(api.post("/apis/v1/users/filter", json={}))["data"]
    assert set(data) == {"users", "next_cursor"} and len(data["users"]) == 200
    paged = ok(api.post("/apis/v1/users/filter", json={"page": 2}))["data"]
    assert set(paged) == {"users", "current_page", "total_pages"} and paged["total_pages"] == -(-total // 200)
    sim.knobs(surface="renamed")
    data = ok(api.post("/apis/v1/users/search", json={}))["data"]
    assert set(data) == {"members", "next_cursor", "totalCount"} and data["totalCount"] == total


def test_documented_ignores_assumed_parameters(sim: SimAdmin, api: httpx.Client) -> None:
    sim.knobs(surface="documented")
    # a field the surface lacks is left out of `fields`; filtering on it is an unknown filter field
    body = ok(api.post("/apis/v1/users/filter", json={"fields": ["username", "email", "tier"]}))
    assert set(body["data"]["users"][0]) == {"_id", "email"}
    r = api.post("/apis/v1/users/filter", json={"filter": {"username": "x"}})
    assert r.status_code == 400 and r.json()["detail"] == "Unknown filter field: username"
    # PATCH's statusID is our reading, not 8.6: ignored here
    purchase = sim.truth_rows("purchase_histories")[0]
    other = next(s["_id"] for s in sim.truth_rows("redemption_statuses") if s["_id"] != purchase["statusID"])
    path = f"/v1/purchase-histories/{purchase['_id']}"
    got = ok(api.patch(path, json={"statusID": other, "redemptionInstructions": "Ring twice"}))["data"]
    assert got["statusID"] == purchase["statusID"] and got["product"]["redemptionInstructions"] == "Ring twice"
    r = api.patch(path, json={"statusID": other})
    assert r.status_code == 400 and r.json()["message"] == "Invalid body"
    sim.knobs(surface="full")
    assert ok(api.patch(path, json={"statusID": other}))["data"]["statusID"] == other


def test_renamed_honours_parameters_under_their_new_names_only(sim: SimAdmin, api: httpx.Client) -> None:
    path = f"/apis/v1/communities/{COMMUNITY_ID}/user-field-histories"
    everything = ok(api.get(path, params={"limit": 1}))["meta"]["total"]
    since = ok(api.get(path, params={"limit": 1, "from": FROM}))["meta"]["total"]
    newest = ok(api.get(path, params={"limit": 1, "sort": "createdAt:desc"}))["data"][0]["_id"]
    assert 0 < since < everything
    sim.knobs(surface="renamed")
    m = surface_map(sim)
    e = m["endpoints"]["user_field_histories"]
    new = fill(e["path"]["served_as"], {"communityId": COMMUNITY_ID})
    assert new == f"/apis/v1/communities/{COMMUNITY_ID}/field-history"
    frm, srt = e["params"]["from"]["served_as"], e["params"]["sort"]["served_as"]
    changed = m["records"]["field_history"]["fields"]["createdAt"]["served_as"]
    assert (frm, srt, changed) == ("since", "order", "changedAt")
    assert ok(api.get(new, params={"limit": 1, frm: FROM}))["meta"]["total"] == since
    assert ok(api.get(new, params={"limit": 1, "from": FROM}))["meta"]["total"] == everything  # ignored
    assert ok(api.get(new, params={"limit": 1, srt: f"{changed}:desc"}))["data"][0]["objectId"] == newest
    oldest = ok(api.get(new, params={"limit": 1}))["data"][0]["objectId"]
    assert ok(api.get(new, params={"limit": 1, "sort": f"{changed}:desc"}))["data"][0]["objectId"] == oldest
    r = api.get(new, params={srt: "createdAt:desc"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid sort"
    r = api.get(path)
    assert r.status_code == 404 and r.json()["message"] == NOT_FOUND
    # a renamed user field is asked for, filtered on and answered under its new name only
    body = ok(api.post("/apis/v1/users/search", json={"fields": ["handle", "username"], "filter": {"handle": "x"}}))
    assert body["data"]["members"] == [] and body["data"]["totalCount"] == 0
    users = ok(api.post("/apis/v1/users/search", json={"fields": ["handle", "username"]}))["data"]["members"]
    assert set(users[0]) == {"_id", "handle"}
    r = api.post("/apis/v1/users/search", json={"filter": {"username": users[0]["handle"]}})
    assert r.status_code == 400 and r.json()["detail"] == "Unknown filter field: username"
    hit = ok(api.post("/apis/v1/users/search", json={"fields": ["handle"], "filter": {"handle": users[0]["handle"]}}))
    assert hit["data"]["members"] == [users[0]]


def test_renamed_serves_every_assumed_path_under_its_new_name_only(sim: SimAdmin, api: httpx.Client) -> None:
    values = ids(sim)
    sim.knobs(surface="renamed")
    m = surface_map(sim)
    moved = [e for e in m["endpoints"].values() if e["path"]["renamed"] != e["path"]["name"]]
    assert len(moved) == 23 and all(e["path"]["status"] == "assumed" for e in moved)
    for e in moved:
        old = call(api, e["method"], fill(e["path"]["name"], values), {})
        assert old.status_code == 404 and old.json()["message"] == NOT_FOUND, e["path"]["name"]
        new = call(api, e["method"], fill(e["path"]["served_as"], values), {})
        assert new.status_code != 404 or new.json()["message"] != NOT_FOUND, e["path"]["served_as"]
    counters = sim.counters()["by_endpoint"]
    assert counters["GET /apis/v1/communities/{communityId}/field-history"] == 1
    assert "GET /v1/analytics/loyalty" in counters


def test_bulk_job_id_follows_the_surface(sim: SimAdmin, api: httpx.Client) -> None:
    email = sim.truth_rows("users")[0]["email"]
    files = {"data": ("push.csv", f"email,first_name\n{email},Ada\n".encode(), "text/csv")}
    assert "jobId" in ok(api.post("/apis/v1/users/bulk-update", files=files))["data"]
    sim.knobs(surface="documented")
    assert set(ok(api.post("/apis/v1/users/bulk-update", files=files))["data"]) == {"message"}
    sim.knobs(surface="renamed")
    job = ok(api.post("/apis/v1/users/bulk-update", files=files))["data"]["taskId"]
    assert ok(api.get(f"/apis/v1/bulk-tasks/{job}"))["data"]["taskId"] == job


def checksum(rows: list[Json]) -> str:
    """The contract's checksum formula (docs/contract-readings.md), computed independently."""
    total = sum(int(hashlib.sha256(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                                   .encode()).hexdigest()[:16], 16) for r in rows)
    return format(total % 2**64, "016x")


def test_truth_is_shaped_as_the_surface_serves(sim: SimAdmin, api: httpx.Client) -> None:
    full_hist = sim.truth_rows("user_field_histories")
    full_summary = sim.truth()
    sim.knobs(surface="documented")
    channels = ok(api.get("/apis/v1/channels"))["data"]
    assert sim.truth_rows("channels") == channels and all(list(c) == ["_id", "topic"] for c in channels)
    summary = sim.truth()
    assert summary["channels"] == {"count": len(channels), "checksum": checksum(channels)}
    assert set(sim.truth_rows("users")[0]) == {"_id", "email", "first_name", "last_name", "join_date", "xp", "coins",
                                               "city", "favourite_game", "age", "newsletter_opt_in", "birthday",
                                               "loyalty_points"}
    messages = sim.truth_rows("messages")
    assert summary["messages"] == {"count": len(messages), "checksum": checksum(messages)}
    # a dataset the surface does not serve keeps its data and its full shape
    assert sim.truth_rows("user_field_histories") == full_hist
    assert summary["user_field_histories"] == full_summary["user_field_histories"]
    sim.knobs(surface="renamed")
    m = surface_map(sim)
    pages = []
    page = 1
    while True:
        body = ok(api.get(f"/apis/v1/communities/{COMMUNITY_ID}/field-history", params={"page": page, "limit": 100}))
        pages += body["data"]
        if page * 100 >= body["meta"]["total"]:
            break
        page += 1
    truth = sim.truth_rows("user_field_histories")
    assert truth == pages == expected(m, "user_field_histories", full_hist)
    assert sim.truth()["user_field_histories"] == {"count": len(truth), "checksum": checksum(truth)}
    sim.knobs(surface="full")
    assert sim.truth() == full_summary


def test_knob_switches_at_run_time_and_reset_restores_the_start_up_surface(sim: SimAdmin, api: httpx.Client) -> None:
    path = "/apis/v1/tiers"
    ok(api.get(path))
    assert sim.knobs(surface="documented")["surface"] == "documented"
    assert api.get(path).status_code == 404
    sim.knobs(surface="full")
    ok(api.get(path))
    r = httpx.post(f"{sim.base_url}/__sim/knobs", json={"surface": "partial"})
    assert r.status_code == 400 and r.json()["message"] == "surface must be one of ['full', 'documented', 'renamed']"
    sim.knobs(surface="renamed")
    sim.post("/__sim/reset", {"seed": sim.seed, "users": sim.users})
    assert surface_map(sim)["surface"] == "full"
    ok(api.get(path))


def test_cli_prints_keys_and_starts_on_the_chosen_surface() -> None:
    with SimulatorProcess(users=30, extra=("--surface", "documented")) as proc:
        # the ready line comes first; the rest follows it
        assert re.fullmatch(r"simulator listening on http://127\.0\.0\.1:\d+\n", proc.output[0])
        with httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {FULL_KEY}"}) as c:
            assert c.get("/apis/v1/tiers").status_code == 404
            assert c.post("/__sim/reset", json={}).status_code == 200
            assert c.get("/__sim/surface").json()["surface"] == "documented"
        lines = proc.output[1:6]
    assert lines == [
        "community id: 6502c9e514a3e564c5c09c0a\n",
        f"api key, all permissions: {FULL_KEY}\n",
        "api key, all permissions but bulkUpdateUser: fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n",
        "api key, expired, refused with 401 (all permissions): "
        "00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef\n",
        "surface: documented (GET /__sim/surface lists what it serves)\n",
    ]
