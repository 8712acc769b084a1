"""Store: products, categories, configuration (7.12)."""

from __future__ import annotations

from simulator import catalog as C
from simulator import listquery, render
from simulator.envelopes import Reply, envelope_b
from simulator.routing import Call, route


def _list(call: Call, records: list[dict], message: str) -> Reply:
    q = call.query
    skip, limit = listquery.skip_limit(q)
    fields = listquery.fields_of(q, set(records[0]) if records else set())
    recs = listquery.apply(records, q, "displayOrder:asc")
    page = listquery.project(recs[skip: skip + limit], fields)
    return envelope_b(page, message, page, skip=skip, limit=limit, total=len(recs))


@route("GET", "/v1/products", "store")
def products(call: Call) -> Reply:
    return _list(call, render.products(call.world), "Read products success.")


@route("GET", "/v1/categories", "store")
def categories(call: Call) -> Reply:
    return _list(call, [dict(c) for c in C.CATEGORIES], "Read categories success.")


@route("GET", "/v1/stores", "store", also=("/stores",))
def store_config(call: Call) -> Reply:
    return envelope_b(dict(C.STORE), "Read store success.")
