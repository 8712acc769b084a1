"""Client behaviour without the simulator: pagination schemes, retries, errors, secrets."""

from __future__ import annotations

import httpx
import pytest

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.errors import (
    AmbiguousWriteError,
    AuthError,
    ConfigError,
    ContractError,
    PermissionDenied,
    RetriesExhausted,
)
from tests.pipelines.fakeapi import KEY, REGISTRY_OVERRIDES, FakeApi

SCHEMES = {"users_filter": "cursor", "activity_logs": "page-total-pages", "leaderboards": "page-meta-total",
           "products": "skip-limit", "streaks": "has-next"}


def make_client(api: FakeApi, **overrides: object) -> ReturningClient:
    settings = Settings.from_env({}, api_key=KEY, integration_url="http://fake", partner_url="http://fake",
                                 application_url="http://fake", registry_overrides=REGISTRY_OVERRIDES,
                                 backoff_base=0.001, **overrides)
    return ReturningClient(settings, transport=httpx.MockTransport(api), sleep=lambda s: None)


@pytest.mark.parametrize("endpoint", list(SCHEMES))
@pytest.mark.parametrize("concurrency", [1, 4])
def test_every_scheme_pages_by_what_came_back(endpoint: str, concurrency: int) -> None:
    api = FakeApi(n=53, cap=7)  # asks for 50, the server gives 7
    with make_client(api, concurrency=concurrency) as client:
        pages = list(client.paginate(endpoint))
    assert [r["n"] for page in pages for r in page] == list(range(53))
    assert [len(p) for p in pages] == [7] * 7 + [4]
    assert len(api.calls) == 8


@pytest.mark.parametrize("endpoint", list(SCHEMES))
def test_single_page_and_empty_results(endpoint: str) -> None:
    for n in (0, 5):
        api = FakeApi(n=n, cap=7)
        with make_client(api) as client:
            pages = list(client.paginate(endpoint))
        assert sum(len(p) for p in pages) == n
        assert len(api.calls) == 1


def test_post_reads_carry_pagination_in_the_body() -> None:
    api = FakeApi(n=20, cap=7)
    with make_client(api) as client:
        list(client.paginate("activity_logs", json={"from": "2026-01-01T00:00:00.000Z"}))
    methods = {c[0] for c in api.calls}
    assert methods == {"POST"}
    assert sorted(c[2]["page"] for c in api.calls) == [1, 2, 3]
    assert all(c[2]["from"] == "2026-01-01T00:00:00.000Z" for c in api.calls)


def test_missing_records_is_a_contract_error_naming_the_field() -> None:
    api = FakeApi(failures=[lambda r: httpx.Response(200, json={"status": "success", "data": {"oops": []}})])
    with make_client(api) as client, pytest.raises(ContractError) as err:
        list(client.paginate("activity_logs"))
    assert "activity_logs page 1" in str(err.value) and "data.results" in str(err.value)
    assert err.value.exit_code == 4


def fail(status: int, headers: dict[str, str] | None = None):
    return lambda r: httpx.Response(status, json={"status": "error", "message": f"boom {status}"}, headers=headers)


def truncated(r: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b'{"status": "success", "data": {"resu', headers={"content-type": "application/json"})


def reset(r: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=r)


def timeout(r: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=r)


def test_transient_failures_are_retried_and_pages_stay_complete() -> None:
    api = FakeApi(n=30, cap=7, failures=[fail(500), fail(502), truncated, reset, timeout, fail(503),
                                         fail(429, {"Retry-After": "0"})])
    with make_client(api, concurrency=3) as client:
        rows = [r["n"] for page in client.paginate("products") for r in page]
        assert rows == list(range(30))
        assert client.stats.retry.retries == 7


def test_retries_give_up_with_retries_exhausted() -> None:
    api = FakeApi(failures=[fail(503)] * 10)
    with make_client(api, max_attempts=3) as client, pytest.raises(RetriesExhausted) as err:
        client.request_json("tiers")
    assert err.value.exit_code == 4 and "3 attempts" in str(err.value) and "HTTP 503" in str(err.value)
    assert len(api.calls) == 3


def test_429_honours_retry_after_for_every_thread() -> None:
    slept: list[float] = []
    api = FakeApi(failures=[fail(429, {"Retry-After": "2"})])
    settings = Settings.from_env({}, api_key=KEY, integration_url="http://fake", partner_url="http://fake",
                                 application_url="http://fake", registry_overrides=REGISTRY_OVERRIDES)
    with ReturningClient(settings, transport=httpx.MockTransport(api), sleep=slept.append) as client:
        assert client.request_json("tiers") == {"hello": "world"}
    assert slept and 1.9 <= sum(slept) <= 2.1


def test_401_is_fatal_and_names_the_cause() -> None:
    api = FakeApi()
    settings = Settings.from_env({}, api_key="cd" * 32, integration_url="http://fake", partner_url="http://fake",
                                 application_url="http://fake", registry_overrides=REGISTRY_OVERRIDES)
    with ReturningClient(settings, transport=httpx.MockTransport(api)) as client, pytest.raises(AuthError) as err:
        client.request_json("tiers")
    assert len(api.calls) == 1
    assert err.value.exit_code == 3 and "key invalid or expired" in str(err.value)
    assert "cd" * 32 not in str(err.value)


def test_403_names_permission_and_endpoint() -> None:
    api = FakeApi(failures=[fail(403)])
    with make_client(api) as client, pytest.raises(PermissionDenied) as err:
        client.request_json("tiers")
    assert err.value.permission == "gamification" and err.value.endpoint == "tiers"
    assert "'gamification'" in str(err.value) and err.value.exit_code == 3


def test_upload_is_never_retried() -> None:
    api = FakeApi(failures=[timeout])
    with make_client(api) as client, pytest.raises(AmbiguousWriteError) as err:
        client.upload_csv("bulk_update_users", filename="a.csv", content=b"email,xp_op,xp\n")
    assert len(api.calls) == 1 and err.value.exit_code == 4
    api = FakeApi(failures=[fail(502)])
    with make_client(api) as client, pytest.raises(AmbiguousWriteError):
        client.upload_csv("bulk_update_users", filename="a.csv", content=b"email\n")
    assert len(api.calls) == 1
    api = FakeApi()
    with make_client(api) as client:
        data = client.upload_csv("bulk_update_users", filename="a.csv", content=b"email\n")
    assert data["message"].startswith("Bulk update")


def test_upload_sends_one_multipart_part_named_data() -> None:
    seen: list[httpx.Request] = []

    def capture(r: httpx.Request) -> None:
        r.read()
        seen.append(r)

    api = FakeApi(failures=[capture])
    with make_client(api) as client:
        client.upload_csv("bulk_update_users", filename="push.csv", content=b"email,coins_op,coins\na@x.com,add,5\n")
    body = seen[0].content
    assert seen[0].headers["content-type"].startswith("multipart/form-data")
    assert b'name="data"; filename="push.csv"' in body and b"a@x.com,add,5" in body


def test_the_key_never_shows() -> None:
    settings = Settings.from_env({"RETURNING_AI_API_KEY": KEY})
    assert KEY not in repr(settings) and KEY not in str(settings)
    with ReturningClient(settings) as client:
        assert KEY not in repr(client)
    err = AuthError("tiers", f"Invalid API key {KEY}")
    assert KEY not in str(err) and KEY not in repr(err)


def test_config_errors_are_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="RETURNING_AI_API_KEY is not set"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="RETURNING_SYNC_CONCURRENCY must be a whole number"):
        Settings.from_env({"RETURNING_AI_API_KEY": KEY, "RETURNING_SYNC_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match="unknown endpoint 'nope'"):
        Settings.from_env({"RETURNING_AI_API_KEY": KEY, "RETURNING_SYNC_REGISTRY_OVERRIDES": '{"nope": {}}'})
    with pytest.raises(ConfigError, match="must start with http"):
        Settings.from_env({"RETURNING_AI_API_KEY": KEY, "RETURNING_AI_BASE_URL": "localhost:1"})


def test_settings_from_env_reads_every_surface_and_overrides(tmp_path) -> None:
    toml = tmp_path / "registry.toml"
    toml.write_text('[redemption_transactions]\npath = "/apis/v2/redemptions"\n[redemption_transactions.fields]\nfrom = "since"\n')
    s = Settings.from_env({"RETURNING_AI_API_KEY": KEY, "RETURNING_AI_BASE_URL": "http://all",
                           "RETURNING_AI_PARTNER_URL": "http://partner", "RETURNING_SYNC_REGISTRY_OVERRIDES": str(toml),
                           "RETURNING_WAREHOUSE": "x/y.duckdb"}, concurrency=2)
    assert (s.integration_url, s.partner_url, s.application_url) == ("http://all", "http://partner", "http://all")
    assert s.concurrency == 2 and str(s.warehouse) == "x/y.duckdb"
    ep = s.endpoint("redemption_transactions")
    assert ep.path == "/apis/v2/redemptions" and ep.name_for("from") == "since" and ep.name_for("to") == "updatedTo"


def test_community_id_fills_paths_and_is_required_when_needed() -> None:
    api = FakeApi()
    with make_client(api) as client, pytest.raises(ConfigError, match="RETURNING_AI_COMMUNITY_ID"):
        client.request_json("user_fields")


def test_duckdb_memory_limit_is_validated() -> None:
    env = {"RETURNING_AI_API_KEY": KEY, "RETURNING_SYNC_DUCKDB_MEMORY_LIMIT": "512MB"}
    assert Settings.from_env(env).duckdb_memory_limit == "512MB"
    assert Settings.from_env({**env, "RETURNING_SYNC_DUCKDB_MEMORY_LIMIT": "off"}).duckdb_memory_limit is None
    assert Settings.from_env({"RETURNING_AI_API_KEY": KEY}).duckdb_memory_limit == "512MB"
    with pytest.raises(ConfigError, match="must look like 512MB"):
        Settings.from_env({**env, "RETURNING_SYNC_DUCKDB_MEMORY_LIMIT": "512 megs; DROP TABLE x"})


def test_settings_without_a_key_call_nothing() -> None:
    """Work that makes no API call (a push's dry run) may go without a key; its client refuses any
    call before sending, with the missing-key line naming the endpoint."""
    with pytest.raises(ConfigError, match="RETURNING_AI_API_KEY is not set"):
        Settings.from_env({})
    settings = Settings.from_env({}, key_required=False, integration_url="http://fake",
                                 partner_url="http://fake", application_url="http://fake")
    api = FakeApi(n=3, cap=7)
    with ReturningClient(settings, transport=httpx.MockTransport(api)) as client:
        for call in (lambda: client.request_json("tiers"), lambda: list(client.paginate("products")),
                     lambda: client.upload_csv("bulk_update_users", filename="x.csv", content=b"email\n")):
            with pytest.raises(ConfigError) as refused:
                call()
            assert str(refused.value).startswith("RETURNING_AI_API_KEY is not set")
            assert "calls the API" in str(refused.value)
    assert api.calls == []
