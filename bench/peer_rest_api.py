"""The peer: dlt's generic `rest_api` source, configured as a competent user would for the same endpoints.

Endpoints (the head-to-head set):
- users               POST /apis/v1/users/filter      cursor in the JSON body (`data.next_cursor` -> body `cursor`)
- store_products      GET  /v1/products               offset paging: `skip`/`limit`, total at `meta.total`
- store_categories    GET  /v1/categories             offset paging: `skip`/`limit`, total at `meta.total`
- leaderboards        GET  /v1/leaderboards           page number, `limit` 100 (issue 11's 20k set, not the
                      head-to-head default)
- gamification_daily  POST /apis/v1/users/activity/daily  body page, total pages at `data.pagination.total_pages`,
                      one request per (day, 100 emails); the emails come from the users pages through a
                      ten-line dlt transformer (rest_api resolves one parent item per request, so batching
                      identifiers needs a parent that yields batches: the documented way is a DltResource in
                      the `resources` list).

Loads into DuckDB with dlt defaults (file format, workers, merge strategy). Daily history is incremental
on the day: the last day loaded is kept in the resource state and re-read on the next run (it was partial).

Run in its own process by the benchmark harness; prints one JSON line with what it did.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from typing import Any

import dlt
from dlt.sources.helpers.requests import Client
from dlt.sources.rest_api import rest_api_resources
from requests.adapters import HTTPAdapter

PLATFORM_FIELDS = [
    "email", "first_name", "last_name", "join_date", "xp", "coins",
    "username", "display_name", "last_login", "tier", "level", "premium_currency", "language",
    "login_streak", "total_messages", "total_reactions", "visit_count", "is_deleted",
]
PIPELINE_NAME = "bench_peer_rest_api"
IDENTIFIERS_PER_CALL = 100


def custom_field_keys(session: Any, base_url: str, community_id: str) -> list[str]:
    """The community's custom user fields, so the users request asks for them as well (one request)."""
    r = session.get(f"{base_url}/apis/v1/communities/{community_id}/user-fields")
    r.raise_for_status()
    return [f["field"] for f in r.json()["data"]]


def build_source(base_url: str, api_key: str, fields: list[str], days: list[date], session: Any,
                 parallelized: bool = False) -> Any:
    client = {"base_url": base_url, "auth": {"type": "bearer", "token": api_key}, "session": session}
    main = rest_api_resources({
        "client": client,
        "resource_defaults": {"primary_key": "_id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "users",
                "endpoint": {
                    "path": "/apis/v1/users/filter",
                    "method": "POST",
                    "json": {"fields": fields},
                    "paginator": {"type": "cursor", "cursor_path": "data.next_cursor",
                                  "cursor_body_path": "cursor"},
                    "data_selector": "data.users",
                },
            },
            {
                "name": "store_products",
                "endpoint": {
                    "path": "/v1/products",
                    "paginator": {"type": "offset", "limit": 100, "offset_param": "skip",
                                  "limit_param": "limit", "total_path": "meta.total"},
                    "data_selector": "data",
                },
            },
            {
                "name": "store_categories",
                "endpoint": {
                    "path": "/v1/categories",
                    "paginator": {"type": "offset", "limit": 100, "offset_param": "skip",
                                  "limit_param": "limit", "total_path": "meta.total"},
                    "data_selector": "data",
                },
            },
            {
                "name": "leaderboards",
                "endpoint": {
                    "path": "/v1/leaderboards",
                    "params": {"limit": 100},
                    # page-meta-total (contract 5): `meta.total` counts records, while dlt's
                    # page-number paginator reads a total as pages, so it stops on the first empty page
                    "paginator": {"type": "page_number", "base_page": 1, "page_param": "page",
                                  "total_path": None, "stop_after_empty_page": True},
                    "data_selector": "data",
                },
            },
        ],
    })
    users = next(r for r in main if r.name == "users")

    todo: list[date] | None = None

    def days_to_read() -> list[date]:
        # decided once per run, on the first users page; the state is committed with the load
        nonlocal todo
        if todo is None:
            state = dlt.current.source_state().setdefault("daily", {})
            last = state.get("last_day")
            todo = [d for d in days if last is None or d.isoformat() >= last]
            if todo:
                state["last_day"] = todo[-1].isoformat()
        return todo

    @dlt.transformer(data_from=users, name="daily_requests", selected=False)
    def daily_requests(page: list[dict[str, Any]]) -> Any:
        # Daily history is incremental on the day: re-read from the last day loaded (it was partial then).
        todo = days_to_read()
        emails = [u["email"] for u in page if u.get("email")]
        # one list per users page: rest_api's dependent resource iterates over the items of a page
        yield [{"date": d.strftime("%d/%m/%Y"), "emails": emails[i:i + IDENTIFIERS_PER_CALL]}
               for d in todo for i in range(0, len(emails), IDENTIFIERS_PER_CALL)]

    daily = rest_api_resources({
        "client": client,
        "resources": [
            daily_requests,
            {
                "name": "gamification_daily",
                "primary_key": ["user_id", "date"],
                "parallelized": parallelized,
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/apis/v1/users/activity/daily",
                    "method": "POST",
                    "json": {"identifier": "{resources.daily_requests.emails}", "identifier_type": "email",
                             "date": "{resources.daily_requests.date}", "limit": IDENTIFIERS_PER_CALL},
                    "paginator": {"type": "page_number", "page_body_path": "page", "base_page": 1,
                                  "total_path": "data.pagination.total_pages"},
                    "data_selector": "data.results",
                },
            },
        ],
    })
    gamification_daily = next(r for r in daily if r.name == "gamification_daily")

    @dlt.source(name="returning_peer", max_table_nesting=1)
    def returning_peer() -> Any:
        return [*main, daily_requests, gamification_daily]

    return returning_peer()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=os.environ.get("RETURNING_AI_BASE_URL"))
    p.add_argument("--api-key", default=os.environ.get("RETURNING_AI_API_KEY"))
    p.add_argument("--community-id", default=os.environ.get("RETURNING_AI_COMMUNITY_ID"))
    p.add_argument("--warehouse", default=os.environ.get("RETURNING_WAREHOUSE"))
    p.add_argument("--pipelines-dir", default=None)
    p.add_argument("--start", required=True, help="first day of daily history, YYYY-MM-DD (inclusive)")
    p.add_argument("--end", required=True, help="end of daily history, YYYY-MM-DD (exclusive)")
    p.add_argument("--resources", default="users,store_products,store_categories,gamification_daily")
    p.add_argument("--parallelized", action="store_true",
                   help="rest_api's `parallelized: True` on the daily history (dlt's extract thread pool)")
    p.add_argument("--loader-file-format", default=None,
                   help="override dlt's default file format for DuckDB (a variant, not the headline peer)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    days = [start + timedelta(n) for n in range((end - start).days)]
    requests_made = 0
    adapter_send = HTTPAdapter.send

    def counting_send(self: HTTPAdapter, *a: Any, **kw: Any) -> Any:
        # every HTTP request the peer makes, retries included (request-level hooks would be overridden
        # by the ones rest_api sets)
        nonlocal requests_made
        requests_made += 1
        return adapter_send(self, *a, **kw)

    HTTPAdapter.send = counting_send  # type: ignore[method-assign]
    session = Client(raise_for_status=False).session
    session.headers["Authorization"] = f"Bearer {args.api_key}"
    base_url = args.base_url.rstrip("/")
    fields = PLATFORM_FIELDS + [k for k in custom_field_keys(session, base_url, args.community_id)
                                if k not in PLATFORM_FIELDS]
    source = build_source(base_url, args.api_key, fields, days, session, args.parallelized)
    wanted = args.resources.split(",")
    source = source.with_resources(*[r for r in wanted if r in source.resources])
    if "gamification_daily" in wanted:
        source.resources["daily_requests"].selected = False

    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(args.warehouse),
        dataset_name="returning_raw",
        pipelines_dir=args.pipelines_dir,
    )
    pipeline.run(source, loader_file_format=args.loader_file_format)
    trace = pipeline.last_trace
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in trace.steps}
    row_counts = dict(trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    print(json.dumps({
        "contender": "peer" + ("_par" if args.parallelized else "") + (
            f"_{args.loader_file_format}" if args.loader_file_format else ""),
        "requests": requests_made,
        "row_counts": row_counts,
        "steps_s": steps,
        "wall_in_process_s": time.perf_counter() - t0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
