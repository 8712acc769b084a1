"""Every pagination scheme, walked with arbitrary limits (capped at 100), yields the truth exactly once."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.simadmin import COMMUNITY_ID, SimAdmin
from tests.simulator.helpers import walk_page_meta, walk_skip_limit, walk_total_pages

LIMITS = st.integers(min_value=1, max_value=250)
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(limit=LIMITS)
def test_page_total_pages_any_limit(sim: SimAdmin, api: httpx.Client, limit: int) -> None:
    cap = min(limit, 100)
    rows = walk_total_pages(lambda p: api.get("/apis/v1/redemption-transactions", params={"page": p, "limit": limit}), cap)
    assert sorted(r["_id"] for r in rows) == sorted(r["_id"] for r in sim.truth_rows("redemption_orders"))


@SETTINGS
@given(limit=LIMITS)
def test_page_meta_total_any_limit(sim: SimAdmin, api: httpx.Client, limit: int) -> None:
    rows = walk_page_meta(api, f"/apis/v1/communities/{COMMUNITY_ID}/user-field-histories", limit)
    assert rows == sim.truth_rows("user_field_histories")


@SETTINGS
@given(limit=LIMITS)
def test_skip_limit_any_limit(sim: SimAdmin, api: httpx.Client, limit: int) -> None:
    rows = walk_skip_limit(api, "/v1/purchase-histories", limit)
    assert sorted(r["_id"] for r in rows) == sorted(r["_id"] for r in sim.truth_rows("purchase_histories"))
    assert walk_skip_limit(api, "/v1/products", limit) == sorted(sim.truth_rows("store_products"), key=lambda p: p["displayOrder"])
