"""Every endpoint demands its permission (contract-readings table), unknown paths are 404s."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import httpx
import pytest

from tests.simadmin import COMMUNITY_ID, SimAdmin
from tests.simulator.helpers import client

ALL = ["getUserData", "createUser", "manageUser", "userFields", "getUserStats", "bulkUpdateUser", "sendMessage",
       "replyMessage", "appearance", "store", "purchase-history", "redemptions", "analytics", "gamification",
       "getMessages"]
C = COMMUNITY_ID
OID = "a" * 24
ENDPOINTS = [
    ("POST", "/apis/v1/users/filter", "getUserData"),
    ("POST", "/apis/v1/users/info", "getUserData"),
    ("GET", f"/apis/v1/communities/{C}/user-fields", "userFields"),
    ("GET", f"/apis/v1/communities/{C}/user-field-histories", "userFields"),
    ("GET", f"/apis/v1/communities/{C}/user-fields/{OID}/histories", "userFields"),
    ("GET", f"/apis/v1/communities/{C}/users/{OID}/user-field-histories", "userFields"),
    ("GET", f"/apis/v1/communities/{C}/user-fields/{OID}/users/{OID}/histories", "userFields"),
    ("POST", "/apis/v1/users/activity/daily", "getUserStats"),
    ("POST", "/apis/v1/users/activity/logs", "getUserStats"),
    ("POST", "/apis/v1/users/activity/stats", "getUserStats"),
    ("GET", "/v1/analytics/loyalty-overview", "analytics"),
    ("GET", "/analytics/loyalty-overview", "analytics"),
    ("GET", "/apis/v1/redemption-transactions", "redemptions"),
    ("POST", "/apis/v1/redemption-transactions/by-email", "redemptions"),
    ("GET", "/apis/v1/redemption-statuses", "redemptions"),
    ("GET", "/apis/v1/redemption-transactions/ORD202605010001/status-history", "redemptions"),
    ("PUT", "/apis/v1/redemption-transactions/status", "redemptions"),
    ("GET", "/v1/purchase-histories", "purchase-history"),
    ("PATCH", f"/v1/purchase-histories/{OID}", "purchase-history"),
    ("GET", "/v1/products", "store"),
    ("GET", "/v1/categories", "store"),
    ("GET", "/stores", "store"),
    ("GET", "/v1/stores", "store"),
    ("GET", "/v1/leaderboards", "gamification"),
    ("GET", "/apis/v1/streaks", "gamification"),
    ("POST", "/apis/v1/streaks/logs", "gamification"),
    ("GET", "/apis/v1/tiers", "gamification"),
    ("POST", "/apis/v1/users/bulk-update", "bulkUpdateUser"),
    ("POST", "/apis/v1/users/bulk-update/premium-currency", "bulkUpdateUser"),
    ("GET", "/apis/v1/bulk-jobs", "bulkUpdateUser"),
    ("GET", f"/apis/v1/bulk-jobs/{OID}", "bulkUpdateUser"),
    ("GET", f"/apis/v1/bulk-jobs/{OID}/details", "bulkUpdateUser"),
    ("GET", "/apis/v1/channels", "sendMessage"),
    ("GET", "/v1/messages", "getMessages"),
    ("GET", "/messages", "getMessages"),
    ("POST", "/apis/v1/users/minigames/logs", "getUserStats"),
    ("POST", "/apis/v1/users/minigames/stats", "getUserStats"),
]


@pytest.mark.parametrize("permission", sorted({p for _, _, p in ENDPOINTS}))
def test_each_endpoint_needs_its_permission(sim: SimAdmin, permission: str) -> None:
    key = "c" * 64
    sim.post("/__sim/keys", {"key": key, "permissions": [p for p in ALL if p != permission]})
    with client(sim.base_url, key) as c:
        for method, path, needed in ENDPOINTS:
            r = c.request(method, path, json={})
            if needed == permission:
                assert r.status_code == 403, (method, path)
                assert r.json()["message"] == f"API key lacks permission: {permission}"
            else:
                assert r.status_code != 403, (method, path, r.text)


def test_unknown_paths_and_methods(api: httpx.Client) -> None:
    r = api.get("/apis/v1/nothing-here")
    assert r.status_code == 404 and r.json()["status"] == "error"
    assert api.get("/apis/v1/users/filter").status_code == 405


def test_reset_declares_the_full_length_then_drops(sim: SimAdmin) -> None:
    sim.knobs(faults={"rate": 1, "kinds": ["reset"], "endpoints": ["GET /apis/v1/tiers"]})
    url = urlparse(sim.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(f"GET /apis/v1/tiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {'0123456789abcdef' * 4}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert head.startswith(b"HTTP/1.1 200") and 0 < len(body) < length


def test_deleted_users_leave_per_user_reads_but_keep_history(sim: SimAdmin, api: httpx.Client) -> None:
    before = {u["_id"]: u for u in sim.truth_rows("users")}
    sim.advance(24)
    gone = [before[i] for i in set(before) - {u["_id"] for u in sim.truth_rows("users")}]
    assert gone
    u = gone[0]
    assert api.post("/apis/v1/users/info", json={"idOrEmail": u["email"]}).status_code == 404
    assert api.post("/apis/v1/users/activity/stats", json={"identifier": u["email"]}).status_code == 404
    daily = api.post("/apis/v1/users/activity/daily", json={"identifier": [u["email"]], "date": "01/06/2026"}).json()
    assert daily["data"]["results"] == [] and daily["data"]["pagination"]["found"] == 0
    logs = api.post("/apis/v1/users/activity/logs", json={"identifier": [u["email"]], "limit": 100}).json()
    assert logs["data"]["pagination"]["total"] == sum(r["user_id"] == u["_id"] for r in sim.truth_rows("gamification_logs")) > 0
    assert all(r["user_id"] != u["_id"] for r in sim.truth_rows("gamification_daily"))
