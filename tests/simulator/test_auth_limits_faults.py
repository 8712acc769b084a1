"""Keys and permissions, rate limits, latency, injected faults, counters."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.simadmin import EXPIRED_KEY, FULL_KEY, READ_ONLY_KEY, SimAdmin
from tests.simulator.helpers import client, ok

STATUSES = "/apis/v1/redemption-statuses"


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "error" and body["meta"] == {"statusCode": status, "status": "error"}
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_missing_unknown_and_expired_keys_are_401(sim: SimAdmin) -> None:
    for key in (None, "f" * 64, EXPIRED_KEY):
        with client(sim.base_url, key) as c:
            body = error_of(c.get(STATUSES), 401)
            assert key is None or key not in json.dumps(body)
    with httpx.Client(base_url=sim.base_url) as c:
        error_of(c.get(STATUSES, headers={"Authorization": f"Basic {FULL_KEY}"}), 401)
    assert sim.counters()["by_status"] == {"401": 4}


def test_missing_permission_is_403_naming_it(sim: SimAdmin) -> None:
    with client(sim.base_url, READ_ONLY_KEY) as c:
        body = error_of(c.get("/apis/v1/bulk-jobs"), 403)
        assert "bulkUpdateUser" in body["message"]
        ok(c.get(STATUSES))
    keys = {k["key"]: k for k in sim.keys()["keys"]}
    assert set(keys) == {FULL_KEY, READ_ONLY_KEY, EXPIRED_KEY}
    assert keys[EXPIRED_KEY]["expired"] is True and "bulkUpdateUser" not in keys[READ_ONLY_KEY]["permissions"]


def test_added_key_then_revoked_mid_run(sim: SimAdmin) -> None:
    key = "ab" * 32
    sim.post("/__sim/keys", {"key": key, "permissions": ["store"], "expired": False})
    with client(sim.base_url, key) as c:
        ok(c.get("/v1/products"))
        assert "redemptions" in error_of(c.get(STATUSES), 403)["message"]
        with httpx.Client(base_url=sim.base_url) as admin:
            assert admin.delete(f"/__sim/keys/{key}").status_code == 200
            assert admin.delete(f"/__sim/keys/{key}").status_code == 404
        error_of(c.get("/v1/products"), 401)
    sim.post("/__sim/keys", {"key": key, "expired": True})
    with client(sim.base_url, key) as c:
        error_of(c.get("/v1/products"), 401)


def test_rate_limit_headers_and_429(sim: SimAdmin, api: httpx.Client) -> None:
    sim.knobs(rate_limit=3)
    responses = [api.get(STATUSES) for _ in range(10)]
    windows: dict[str, list[httpx.Response]] = {}
    for r in responses:
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time()) - 2
        windows.setdefault(r.headers["X-RateLimit-Reset"], []).append(r)
    for rs in windows.values():
        assert [r.status_code for r in rs] == [200] * min(3, len(rs)) + [429] * (len(rs) - 3)
        assert [r.headers["X-RateLimit-Remaining"] for r in rs] == [str(max(0, 2 - i)) for i in range(len(rs))]
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) >= 10 - 3 * len(windows)
    assert limited[0].headers["Retry-After"] == "1"
    error_of(limited[0], 429)
    counters = sim.counters()
    assert counters["by_status"] == {"200": 10 - len(limited), "429": len(limited)}
    with client(sim.base_url, READ_ONLY_KEY) as other:  # limits are per key
        assert other.get(STATUSES).headers["X-RateLimit-Remaining"] == "2"


def test_latency_knob_delays_replies(sim: SimAdmin, api: httpx.Client) -> None:
    sim.knobs(latency_ms=150, jitter_ms=20)
    t = time.perf_counter()
    ok(api.get(STATUSES))
    assert 0.15 <= time.perf_counter() - t < 2


def faults(sim: SimAdmin, kind: str, endpoint: str = f"GET {STATUSES}", **extra: object) -> None:
    sim.knobs(faults={"rate": 1, "kinds": [kind], "endpoints": [endpoint]}, **extra)


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_status_faults(sim: SimAdmin, api: httpx.Client, kind: str) -> None:
    faults(sim, kind)
    error_of(api.get(STATUSES), int(kind))
    ok(api.get("/apis/v1/tiers"))  # other endpoints unaffected
    assert sim.counters()["by_status"] == {kind: 1, "200": 1}


def test_reset_fault_drops_the_connection_mid_body(sim: SimAdmin, api: httpx.Client) -> None:
    faults(sim, "reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get(STATUSES)
    ok(api.get("/apis/v1/tiers"))


def test_truncate_fault_cuts_the_json(sim: SimAdmin, api: httpx.Client) -> None:
    faults(sim, "truncate")
    r = api.get(STATUSES)
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_slow_fault_outlasts_a_client_timeout(sim: SimAdmin) -> None:
    faults(sim, "slow", slow_ms=400)
    with client(sim.base_url, timeout=0.15) as c, pytest.raises(httpx.ReadTimeout):
        c.get(STATUSES)
    with client(sim.base_url, timeout=5) as c:
        t = time.perf_counter()
        ok(c.get(STATUSES))
        assert time.perf_counter() - t >= 0.4


def test_data_faults_spoil_one_page(sim: SimAdmin, api: httpx.Client) -> None:
    clean = ok(api.get(STATUSES))["data"]
    faults(sim, "drop_field")
    spoiled = ok(api.get(STATUSES))["data"]
    assert sum("_id" not in r for r in spoiled) == 1 and len(spoiled) == len(clean)
    faults(sim, "extra_field")
    assert all(r.pop("_simExtra") == "unexpected" for r in ok(api.get(STATUSES))["data"])
    faults(sim, "type_change", endpoint="GET /v1/products")
    products = ok(api.get("/v1/products", params={"limit": 5}))["data"]
    assert sum(isinstance(v, str) and v.isdigit() for p in products for v in p.values()) == 1


def test_duplicate_fault_repeats_a_record_of_the_previous_page(sim: SimAdmin, api: httpx.Client) -> None:
    path = "/apis/v1/users/activity/logs"
    page1 = ok(api.post(path, json={"page": 1, "limit": 10}))["data"]["results"]
    faults(sim, "duplicate", endpoint=f"POST {path}")
    page2 = ok(api.post(path, json={"page": 2, "limit": 10}))["data"]["results"]
    assert page2[0] == page1[-1] and len(page2) == 11


def test_faults_are_seeded_and_filtered_by_path(sim: SimAdmin, api: httpx.Client) -> None:
    def run() -> list[int]:
        sim.knobs(faults={"rate": 0.5, "kinds": ["500", "503"], "endpoints": ["redemption"]})
        return [api.get(STATUSES).status_code for _ in range(20)] + [api.get("/apis/v1/tiers").status_code]
    first = run()
    assert first == run()
    assert set(first[:20]) == {200, 500, 503} and first[20] == 200


def test_counters_by_endpoint_template_and_status(sim: SimAdmin, api: httpx.Client) -> None:
    orders = ok(api.get("/apis/v1/redemption-transactions", params={"limit": 2}))["data"]["results"]
    for o in orders:
        ok(api.get(f"/apis/v1/redemption-transactions/{o['transactionId']}/status-history"))
    api.get("/apis/v1/redemption-transactions/ORD1/status-history")
    ok(api.get("/stores"))
    sim.clock()
    assert sim.counters() == {
        "total": 5,
        "by_endpoint": {"GET /apis/v1/redemption-transactions": 1,
                        "GET /apis/v1/redemption-transactions/{transactionId}/status-history": 3,
                        "GET /v1/stores": 1},
        "by_status": {"200": 4, "404": 1},
    }
    sim.reset_counters()
    assert sim.counters() == {"total": 0, "by_endpoint": {}, "by_status": {}}


def test_knobs_reject_bad_values_and_keep_the_rest(sim: SimAdmin) -> None:
    before = sim.get("/__sim/knobs")
    with httpx.Client(base_url=sim.base_url) as c:
        assert c.post("/__sim/knobs", json={"faults": {"kinds": ["boom"]}}).status_code == 400
        assert c.post("/__sim/knobs", json={"latency_ms": -1}).status_code == 400
    assert sim.get("/__sim/knobs") == before
    after = sim.knobs(jitter_ms=5)
    assert after == {**before, "jitter_ms": 5}
