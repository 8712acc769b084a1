"""The pagination schemes are dlt paginators: dlt's own `RESTClient` walks the simulator's lists with
them, GET (parameters in the query) and POST (in the JSON body), and reads what our client reads."""

from __future__ import annotations

import pytest
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.pagination import SCHEMES
from tests.simadmin import SimAdmin


def test_every_scheme_is_a_dlt_paginator() -> None:
    assert len(SCHEMES) == 6
    assert all(issubclass(cls, BasePaginator) for cls in SCHEMES.values())


@pytest.mark.parametrize("endpoint", ["leaderboards", "streaks", "products", "activity_logs"])
def test_dlt_walks_an_endpoint_with_our_paginator(settings: Settings, endpoint: str) -> None:
    ep = settings.endpoint(endpoint)
    headers = {"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"}
    rest = RESTClient(base_url=settings.base_url(ep.surface), headers=headers)
    paginator = ep.pagination.walk(ep.name, page_size=2)  # a small page: several pages
    body = {"fields": ["email"]} if ep.method == "POST" else None
    pages = list(rest.paginate(ep.path, method=ep.method, json=body, paginator=paginator,
                               data_selector=ep.records))
    with ReturningClient(settings) as client:
        ours = list(client.paginate(endpoint, json=body, page_size=2, sequential=True))
    assert len(pages) == len(ours) > 1
    key = ep.name_for("id") if "id" in ep.fields else "_id"
    assert [[r[key] for r in page] for page in pages] == [[r[key] for r in page] for page in ours]


def test_dlt_walks_the_users_cursor(settings: Settings, sim: SimAdmin) -> None:
    """The cursor scheme over POST: the cursor goes back in the body, every member once."""
    ep = settings.endpoint("users_filter")
    headers = {"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"}
    rest = RESTClient(base_url=settings.base_url(ep.surface), headers=headers)
    pages = list(rest.paginate(ep.path, method="POST", json={"fields": ["email"]},
                               paginator=ep.pagination.walk(ep.name), data_selector=ep.records))
    ids = [r["_id"] for page in pages for r in page]
    live = {r["_id"] for r in sim.truth_rows("users") if not r.get("is_deleted")}
    assert len(pages) > 1 and len(ids) == len(set(ids)) and set(ids) == live
