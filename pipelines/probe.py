"""`probe`: one or two small reads per dataset, as the sync would send them (the user's key, base
URLs and registry overrides), never a write; what `returning-sync check` prints.

Each dataset's result comes from the same decisions the sync takes (`pipelines.skips.diagnose`,
`missing_key`, `depending`), so a dataset `check` calls unavailable is the one the next sync skips,
with the same reason and the same setting to change it. Per dataset it also compares the fields
the warehouse declares for its table (`pipelines/declared.py`, or the registry's platform fields
for users) with the fields the first records carried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.client import ReturningClient
from pipelines.config import Settings
from pipelines.declared import DECLARED
from pipelines.errors import ContractError, ReturningError
from pipelines.pagination import MISSING, dig
from pipelines.resources.messaging import flatten
from pipelines.shapes import dmy
from pipelines.skips import Skip, depending, diagnose, missing_key, needs_chain
from pipelines.tables import RESOURCES, table

PAGE = 1  # records asked for per probe where the endpoint takes a page size


@dataclass
class Probe:
    """What one dataset's probe found."""

    dataset: str
    endpoint: str = ""
    method: str = ""
    path: str = ""
    mark: str = ""
    skip: Skip | None = None
    disabled: bool = False
    note: str = ""  # why a dataset was not asked (no member, no order to ask about)
    expected: list[str] = field(default_factory=list)
    seen: list[str] | None = None  # None: no record came back to compare

    @property
    def ok(self) -> bool:
        return self.skip is None

    @property
    def result(self) -> str:
        return "ok" if self.skip is None else self.skip.result

    @property
    def missing_fields(self) -> list[str]:
        return [] if self.seen is None else [f for f in self.expected if f not in self.seen]

    @property
    def extra_fields(self) -> list[str]:
        return [] if self.seen is None else [f for f in self.seen if f not in self.expected]

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "endpoint": self.endpoint, "method": self.method, "path": self.path,
                "mark": self.mark, "result": self.result, "ok": self.ok, "kind": str(self.skip.kind) if self.skip else None,
                "disabled": self.disabled, "fix": self.skip.fix if self.skip else "", "note": self.note,
                "expected_fields": self.expected, "seen_fields": self.seen,
                "missing_fields": self.missing_fields, "extra_fields": self.extra_fields}


class _Reads:
    """The probes' requests, and what a later probe needs of an earlier one (a member's email, a
    channel, an order)."""

    def __init__(self, settings: Settings, client: ReturningClient) -> None:
        self.settings, self.client = settings, client
        self.email: str | None = None
        self.channel: str | None = None
        self.order: str | None = None
        self.today = datetime.now(UTC).date()
        self.payloads: dict[str, Any] = {}  # one-call endpoints read by two datasets (tiers): asked once

    def ep(self, name: str) -> Any:
        return self.settings.endpoint(name)

    def page(self, name: str, *, params: dict[str, Any] | None = None, json: Any = None) -> list[dict[str, Any]]:
        """The first page of a walk, at the smallest page size; the walk is not continued."""
        pages = self.client.paginate(name, params=params, json=json, page_size=PAGE, sequential=True)
        try:
            return next(pages, [])
        finally:
            pages.close()

    def one(self, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        """One call's records at the endpoint's records path (an object is one record)."""
        return self.part(name, self.ep(name).records, **kwargs)

    def part(self, name: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """The records at `path` of one call of `name` (a call without arguments is made once)."""
        if kwargs:
            payload = self.client.read_payload(name, **kwargs)
        else:
            if name not in self.payloads:
                self.payloads[name] = self.client.read_payload(name)
            payload = self.payloads[name]
        data = dig(payload, path)
        if data is MISSING:
            raise ContractError(name, f"response lacks '{path}'", missing=path)
        return [data] if isinstance(data, dict) else [r for r in data or [] if isinstance(r, dict)]

    def tiers_xp_settings(self) -> list[dict[str, Any]]:
        return self.part("tiers", self.ep("tiers").name_for("xp_setting"))

    # -- one reader per dataset: the records its first request returns ------------------------
    def users(self) -> list[dict[str, Any]]:
        ep = self.ep("users_filter")
        rows = self.page("users_filter", json={ep.name_for("fields"): list(ep.platform_fields)})
        email_f = ep.name_for("email")
        self.email = next((str(r[email_f]) for r in rows if r.get(email_f) and not r.get(ep.name_for("is_deleted"))),
                          None)
        return rows

    def user_fields(self) -> list[dict[str, Any]]:
        return self.one("user_fields")

    def user_field_histories(self) -> list[dict[str, Any]]:
        return self.page("user_field_histories", params={"sort": self.ep("user_field_histories").name_for("sort")})

    def gamification_daily(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        ep = self.ep("activity_daily")
        return self.page("activity_daily", json={ep.name_for("identifier"): [self.email],
                                                 ep.name_for("identifier_type"): "email",
                                                 ep.name_for("date"): dmy(self.today)})

    def gamification_logs(self) -> list[dict[str, Any]]:
        return self.page("activity_logs", json={})

    def activity_stats(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        ep = self.ep("activity_stats")
        data = self.client.request_json("activity_stats", json={
            ep.name_for("identifier"): self.email, ep.name_for("identifier_type"): "email", ep.name_for("days"): 1})
        if not isinstance(data, dict):
            return []
        return [{"user_id": data.get("user_id"), **d} for d in data.get("daily_stats") or [] if isinstance(d, dict)]

    def loyalty_overview(self) -> list[dict[str, Any]]:
        ep = self.ep("loyalty_overview")
        day = self.today.isoformat()
        return self.one("loyalty_overview", params={ep.name_for("from"): day, ep.name_for("to"): day})

    def redemption_orders(self) -> list[dict[str, Any]]:
        ep = self.ep("redemption_transactions")
        rows = self.page("redemption_transactions", params={"sort": ep.name_for("sort")})
        key = ep.name_for("key")
        self.order = next((str(r[key]) for r in rows if r.get(key)), None)
        return rows

    def redemption_statuses(self) -> list[dict[str, Any]]:
        return self.one("redemption_statuses")

    def redemption_status_history(self) -> list[dict[str, Any]] | None:
        if self.order is None:
            return None
        return self.one("redemption_status_history", path_params={"transactionId": self.order})

    def purchase_histories(self) -> list[dict[str, Any]]:
        return self.page("purchase_histories", params={"sort": self.ep("purchase_histories").name_for("sort")})

    def channels(self) -> list[dict[str, Any]]:
        rows = self.one("channels")
        self.channel = next((str(r["_id"]) for r in rows if r.get("_id")), None)
        return rows

    def messages(self) -> list[dict[str, Any]] | None:
        if self.channel is None:
            return None
        ep = self.ep("messages")
        rows = self.one("messages", params={ep.name_for("channel_id"): self.channel, ep.name_for("count"): 1})
        return [flatten(r) for r in rows]

    def minigame_logs(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        return self.page("minigame_logs", json={self.ep("minigame_logs").name_for("email"): self.email})

    def user_game_stats(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        data = self.client.request_json("minigame_stats", json={self.ep("minigame_stats").name_for("email"): self.email})
        return [data] if isinstance(data, dict) else []

    def reader(self, dataset: str) -> Callable[[], list[dict[str, Any]] | None]:
        own = getattr(self, dataset, None)
        if own is not None:
            return own  # type: ignore[no-any-return]
        endpoint = table(dataset).endpoints[0]
        ep = self.ep(endpoint)
        return (lambda: self.one(endpoint)) if ep.pagination.scheme == "none" else (lambda: self.page(endpoint))


WHY_NOT_ASKED = {"users": "no live member with an email to ask about", "channels": "no channel to ask about",
                 "redemption_orders": "no order to ask about"}


def expected_fields(settings: Settings, dataset: str) -> list[str]:
    if dataset == "users":
        ep = settings.endpoint("users_filter")
        return [ep.name_for("id"), *ep.platform_fields]
    return list(DECLARED.get(dataset, {}))


def probe(settings: Settings, datasets: list[str] | None = None, client: ReturningClient | None = None) -> list[Probe]:
    """Probe `datasets` (default every one, disabled ones too: marked so) in source order. An error
    that would end a sync (an invalid key, an API that keeps failing) ends the probe too."""
    wanted = [d for d in RESOURCES if datasets is None or d in datasets]
    own = client is None
    client = client or ReturningClient(settings)
    reads = _Reads(settings, client)
    found: dict[str, Probe] = {}
    try:
        for name in wanted:
            found[name] = _probe_one(settings, reads, name, found)
    finally:
        if own:
            client.close()
    return list(found.values())


def _probe_one(settings: Settings, reads: _Reads, name: str, found: dict[str, Probe]) -> Probe:
    endpoint = (table(name).endpoints or ("",))[0]
    ep = settings.registry.get(endpoint)
    out = Probe(name, endpoint, ep.method if ep else "", ep.path if ep else "", ep.status if ep else "",
                disabled=name in settings.disabled, expected=expected_fields(settings, name))
    if not endpoint:
        out.note = "no API call (the webhook receiver's landed events)"
        return out
    off = next((d for d in needs_chain(name) if d in settings.disabled), None)
    failed = next((d for d in needs_chain(name) if d in found and not found[d].ok), None)
    if off is not None or failed is not None:  # as the sync: `skips.plan`, then `Isolation.failed`
        out.skip = depending(name, off, "is disabled") if off is not None else depending(name, failed or "")
        return out
    try:
        rows = reads.reader(name)()
        if rows is not None and (key := missing_key(rows, table(name).key)) is not None:
            raise ContractError(endpoint, f"a record lacks its key '{key}'", missing=key)
    except ReturningError as exc:
        skip = diagnose(settings, name, exc)
        if skip is None:
            raise
        out.skip = skip
        return out
    if rows is None:
        out.note = f"not asked: {WHY_NOT_ASKED.get(needs_chain(name)[0] if needs_chain(name) else '', 'nothing to ask about')}"
    elif rows:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        out.seen = list(seen)
    return out


def summary_exit(probes: list[Probe]) -> int:
    """0 when every dataset the sync would read is available, 5 (partial) otherwise."""
    return 5 if any(not p.ok and not p.disabled for p in probes) else 0
