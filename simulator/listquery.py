"""Partner-API list query (7.12): skip/limit plus `sort=field:dir`, `filter=field:value`,
`search=keyword:<v>`, `fields=a,b` (unknown field: 400)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams

from simulator.envelopes import bad_request, int_param


def skip_limit(q: QueryParams, max_limit: int = 100) -> tuple[int, int]:
    skip = int_param(q.get("skip"), "skip", 0, minimum=0)
    limit = min(int_param(q.get("limit"), "limit", 20), max_limit)
    return skip, limit


def parse_sort(q: QueryParams, known: set[str], default: str) -> tuple[str, bool]:
    text = q.get("sort") or default
    name, _, direction = text.partition(":")
    direction = direction or "asc"
    if name not in known or direction not in ("asc", "desc"):
        raise bad_request("Invalid sort", f"sort must be <field>:asc|desc over known fields, got {text!r}")
    return name, direction == "desc"


def fields_of(q: QueryParams, known: set[str]) -> list[str] | None:
    text = q.get("fields")
    if not text:
        return None
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in known]
    if unknown:
        raise bad_request("Invalid fields", f"Unknown fields: {', '.join(unknown)}")
    return names


def _key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, "")
    if isinstance(v, bool | int | float):
        return (1, v)
    return (2, str(v))


def apply(records: list[dict[str, Any]], q: QueryParams, default_sort: str) -> list[dict[str, Any]]:
    """Filter, search and sort a full list of records (ties broken by `_id`)."""
    known = set(records[0]) if records else set()
    flt = q.get("filter")
    if flt:
        name, sep, value = flt.partition(":")
        if not sep or name not in known:
            raise bad_request("Invalid filter", f"filter must be <field>:<value> over known fields, got {flt!r}")
        records = [r for r in records if _text(r.get(name)) == value]
    search = q.get("search")
    if search:
        term = search.split(":", 1)[1] if search.startswith("keyword:") else search
        term = term.lower()
        records = [r for r in records if term in str(r.get("name", "")).lower()]
    name, desc = parse_sort(q, known | {"createdAt", "updatedAt", "displayOrder"}, default_sort)
    records = sorted(records, key=lambda r: (_key(r.get(name)), r["_id"]), reverse=desc)
    return records


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def project(records: list[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    if not fields:
        return records
    return [{"_id": r["_id"], **{f: r.get(f) for f in fields}} for r in records]
