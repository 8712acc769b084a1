"""Bad input: property tests for pagination and response parsing, and configuration mistakes that
must each end with one clear line and a non-zero exit code.

(The CSV writer's round trip through the simulator's parser, with quotes, commas, newlines,
unicode and leading = + - @, and the neutralised preview for people, is proved by
tests/reverse_etl/test_csv_roundtrip.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.errors import ContractError, ReturningError
from pipelines.pagination import read_page
from pipelines.shapes import DATE, FLOAT, INT, RETYPED_KEY, STR, TS, to_arrow
from returning_sync.cli import main
from tests.pipelines.fakeapi import KEY, REGISTRY_OVERRIDES, FakeApi

SCHEMES = {"users_filter": "cursor", "activity_logs": "page-total-pages", "leaderboards": "page-meta-total",
           "products": "skip-limit", "streaks": "has-next"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "meta", "pagination", "users", "results", "next_cursor", "page", "total",
                         "total_pages", "limit", "skip", "hasNextPage", "currentPage", "totalPages", "_id"]),
        inner, max_size=5),
    max_leaves=20)


def fake_client(api: FakeApi | Any, page_size: int, concurrency: int, **overrides: Any) -> ReturningClient:
    registry = {name: {**spec, "page_size": page_size} if "page_size" in spec else spec
                for name, spec in REGISTRY_OVERRIDES.items()}
    s = Settings.from_env({}, api_key=KEY, integration_url="http://fake", partner_url="http://fake",
                          application_url="http://fake", registry_overrides=registry, backoff_base=0.001,
                          concurrency=concurrency, **overrides)
    return ReturningClient(s, transport=httpx.MockTransport(api), sleep=lambda s: None)


@settings(max_examples=150, deadline=None)
@given(endpoint=st.sampled_from(list(SCHEMES)), n=st.integers(0, 260), cap=st.integers(1, 40),
       asked=st.integers(1, 100), concurrency=st.sampled_from([1, 3]))
def test_any_collection_pages_back_exactly_once_in_order(endpoint: str, n: int, cap: int, asked: int,
                                                         concurrency: int) -> None:
    """Whatever the size, the page size asked for and the server's silent cap, every scheme returns
    each record exactly once, in order."""
    with fake_client(FakeApi(n=n, cap=cap), asked, concurrency) as client:
        got = [r["n"] for page in client.paginate(endpoint) for r in page]
    assert got == list(range(n))


@settings(max_examples=300, deadline=None)
@given(endpoint=st.sampled_from(list(SCHEMES)), payload=JSON, number=st.integers(1, 4))
def test_any_json_body_is_a_page_or_a_contract_error(endpoint: str, payload: Any, number: int) -> None:
    ep = Settings(api_key=KEY).endpoint(endpoint)
    try:
        page = read_page(ep, payload, number)
    except ContractError as exc:
        assert str(exc).startswith(f"contract violation on {endpoint}") and "\n" not in str(exc)
        return
    assert isinstance(page.records, list) and all(isinstance(r, dict) for r in page.records)
    assert page.done or page.next_request or page.remaining


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(endpoint=st.sampled_from(list(SCHEMES)), body=st.binary(max_size=60) | JSON.map(lambda j: __import__("json").dumps(j).encode()))
def test_any_response_body_ends_in_records_or_a_clear_error(endpoint: str, body: bytes) -> None:
    """A server answering garbage (every time) never makes the client raise anything but one of
    its own errors, and never loops."""
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    with fake_client(serve, 50, 1, max_attempts=2) as client:
        try:
            pages = []
            for page in client.paginate(endpoint):
                pages.append(page)
                assert len(pages) < 50
        except ReturningError as exc:
            assert "\n" not in str(exc)


ROW_TYPES = {"xp": INT, "ratio": FLOAT, "createdAt": TS, "day": DATE, "name": STR}
VALUE = st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=10) | st.sampled_from(["2026-03-05T11:04:15.754Z", "22/12/2025", "2026-01-02", "708", "7.5"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({"_id": st.text(min_size=1, max_size=6)},
                                           optional={k: VALUE for k in ROW_TYPES}), max_size=6))
def test_any_records_become_a_typed_table_keeping_every_value(rows: list[dict[str, Any]]) -> None:
    """Parsing records into Arrow: declared columns keep their declared type on every page, so pages
    can never disagree on a column's type; a value that does not fit keeps its row, in the column's
    text variant (`xp__v_text`, as dlt names variants), and the batch says the column was retyped."""
    table = to_arrow(rows, ROW_TYPES, keys=("_id",))
    assert table.num_rows == len(rows)
    for name, kind in ROW_TYPES.items():
        if name in table.column_names:
            assert table.schema.field(name).type == kind
        variant = f"{name}__v_text"
        if variant in table.column_names:
            kept = table.column(variant).to_pylist()
            typed = table.column(name).to_pylist()
            for row, text, value in zip(rows, kept, typed, strict=True):
                assert (text is None) or (value is None and row.get(name) is not None)
            assert RETYPED_KEY in (table.schema.metadata or {})


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert "unexpected" not in err, err
    return code, err


@pytest.mark.parametrize("env, argv, code, says", [
    ({"RETURNING_AI_BASE_URL": "integration.returning.ai"}, ["sync", "--resources", "users"], 2,
     "must start with http:// or https://"),
    ({"RETURNING_AI_COMMUNITY_ID": ""}, ["sync", "--resources", "user_fields"], 2,
     "RETURNING_AI_COMMUNITY_ID is not set"),
    ({}, ["sync", "--resources", "users,usres"], 2, "unknown resource(s): usres"),
    ({}, ["sync", "--since", "2026-02-30"], 2, "--since must be a date as YYYY-MM-DD"),
    ({}, ["sync", "--since", "yesterday"], 2, "--since must be a date as YYYY-MM-DD"),
    ({"RETURNING_AI_API_KEY": ""}, ["sync"], 2, "RETURNING_AI_API_KEY is not set"),
    ({"RETURNING_SYNC_TIMEOUT": "soon"}, ["sync"], 2, "RETURNING_SYNC_TIMEOUT must be a number"),
    ({"RETURNING_SYNC_REGISTRY_OVERRIDES": '{"user_filter": {}}'}, ["sync"], 2, "unknown endpoint 'user_filter'"),
    ({}, ["push", "no_such_push", "--dry-run"], 2, "no_such_push"),
])
def test_configuration_mistakes_end_with_one_clear_line(env: dict[str, str], argv: list[str], code: int, says: str,
                                                        api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    got, err = one_line_error(capsys, argv)
    assert (got, says in err) == (code, True), err


def test_unwritable_warehouse_path_is_a_configuration_error(api_env: dict[str, str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("RETURNING_WAREHOUSE", str(blocker / "returning.duckdb"))
    code, err = one_line_error(capsys, ["sync", "--resources", "users"])
    assert code == 2 and "RETURNING_WAREHOUSE" in err and "cannot be written" in err


def test_warehouse_that_is_not_a_duckdb_file_is_a_configuration_error(api_env: dict[str, str],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(api_env["RETURNING_WAREHOUSE"])
    path.parent.mkdir(parents=True)
    path.write_text("these are my notes, not a database\n")
    code, err = one_line_error(capsys, ["sync", "--resources", "tiers"])
    assert code == 2 and "cannot be opened" in err and "not a valid DuckDB database" in err
    assert path.read_text() == "these are my notes, not a database\n"


def test_unreachable_api_is_exit_4_naming_the_endpoint(api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETURNING_AI_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RETURNING_SYNC_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RETURNING_SYNC_BACKOFF_BASE", "0.01")
    code, err = one_line_error(capsys, ["sync", "--resources", "store_products"])
    assert code == 4 and "products kept failing after 2 attempts" in err and "Connect" in err
