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
from pipelines.declared import CHILD_TABLES, DECLARED
from pipelines.endpoint import Endpoint
from pipelines.errors import ApiError, ContractError, ReturningError
from pipelines.overrides import LIST, Suggestion, record_suggestions, records_suggestion, suggest
from pipelines.pagination import MISSING, containers, dig
from pipelines.resources.messaging import flatten
from pipelines.shapes import dmy
from pipelines.skips import (
    SKIPPED_STATUS,
    Skip,
    depending,
    diagnose,
    missing_key,
    needs_chain,
    owner_of,
    refused_param,
)
from pipelines.tables import RESOURCES, TABLES, table

PAGE = 20  # records asked for per probe where the endpoint takes a page size: enough to see fields' kinds
PLAYERS = 100  # gamification logs asked for to find a member who played a mini-game
PLAYER_TRIES = 10  # members asked for their mini-game logs when the logs named no player
WINDOW = ("1970-01-01T00:00:00.000Z", "1970-01-02T00:00:00.000Z")  # a range no record falls in


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
    suggestions: list[Suggestion] = field(default_factory=list)  # the overrides what was seen calls for

    @property
    def ok(self) -> bool:
        return self.skip is None

    @property
    def result(self) -> str:
        return "ok" if self.skip is None else self.skip.result

    @property
    def missing_fields(self) -> list[str]:
        if self.seen is None:
            return []
        return [f for f in self.expected if f not in self.seen
                and not ("__" in f.strip("_") and f.split("__")[0] in self.seen)]  # `status___id`: in `status`

    @property
    def extra_fields(self) -> list[str]:
        if self.seen is None:
            return []
        return [f for f in self.seen if f not in self.expected and not any(e.startswith(f + "__") for e in self.expected)]

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "endpoint": self.endpoint, "method": self.method, "path": self.path,
                "mark": self.mark, "result": self.result, "ok": self.ok, "kind": str(self.skip.kind) if self.skip else None,
                "disabled": self.disabled, "fix": self.skip.fix if self.skip else "", "note": self.note,
                "expected_fields": self.expected, "seen_fields": self.seen,
                "missing_fields": self.missing_fields, "extra_fields": self.extra_fields,
                "suggestions": [s.as_dict() for s in self.suggestions]}


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
        self.player: str | None = None  # a member who played a mini-game (from the gamification logs)
        self.emails: list[str] = []  # the live members' emails of the users probe
        self.asked: dict[str, dict[str, Any]] = {}  # per endpoint: the arguments of its probe

    def ep(self, name: str) -> Any:
        return self.settings.endpoint(name)

    def page(self, name: str, *, params: dict[str, Any] | None = None, json: Any = None,
             size: int = PAGE) -> list[dict[str, Any]]:
        """The first page of a walk, at a small page size; the walk is not continued."""
        self.asked.setdefault(name, {"params": params, "json": json})
        pages = self.client.paginate(name, params=params, json=json, page_size=size, sequential=True)
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
            self.asked.setdefault(name, kwargs)
            payload = self.client.read_payload(name, **kwargs)
        else:
            if name not in self.payloads:
                self.payloads[name] = self.client.read_payload(name)
            payload = self.payloads[name]
        data = dig(payload, path)
        if data is MISSING:
            raise ContractError(name, f"response lacks '{path}'", missing=path, found=containers(payload))
        rows = [dict(data)] if isinstance(data, dict) else [dict(r) for r in data or [] if isinstance(r, dict)]
        ep = self.ep(name)
        return ep.arrived(rows) if path == ep.records else rows

    # -- one reader per dataset: the records its first request returns ------------------------
    def users(self) -> list[dict[str, Any]]:
        ep = self.ep("users_filter")
        rows = self.page("users_filter", json={ep.name_for("fields"): [ep.served(f) for f in ep.options.platform_fields]})
        email_f = ep.name_for("email")
        self.emails = [str(r[email_f]) for r in rows if r.get(email_f) and not r.get(ep.name_for("is_deleted"))]
        self.email = self.emails[0] if self.emails else None
        return rows

    def user_fields(self) -> list[dict[str, Any]]:
        return self.one("user_fields")

    def user_field_histories(self) -> list[dict[str, Any]]:
        ep = self.ep("user_field_histories")
        return self.page("user_field_histories", params={ep.param("sort"): ep.name_for("sort")})

    def gamification_daily(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        ep = self.ep("activity_daily")
        return self.page("activity_daily", json={ep.name_for("identifier"): [self.email],
                                                 ep.name_for("identifier_type"): "email",
                                                 ep.name_for("date"): dmy(self.today)})

    def gamification_logs(self) -> list[dict[str, Any]]:
        rows = self.page("activity_logs", json={}, size=PLAYERS)  # a page large enough to find a player
        games = self.ep("minigame_logs")
        action, game, who = (games.name_for(k) for k in ("log_action", "log_minigame", "log_email"))
        self.player = next((str(r[who]) for r in rows if r.get(action) == game and r.get(who)), None)
        return rows

    def activity_stats(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        ep = self.ep("activity_stats")
        data = self.client.request_json("activity_stats", json={
            ep.name_for("identifier"): self.email, ep.name_for("identifier_type"): "email", ep.name_for("days"): 1})
        if not isinstance(data, dict):
            return []
        data = ep.arrived([dict(data)])[0]
        days = ep.arrived([dict(d) for d in data.get("daily_stats") or [] if isinstance(d, dict)])
        return [{"user_id": data.get("user_id"), **d} for d in days]

    def loyalty_overview(self) -> list[dict[str, Any]]:
        ep = self.ep("loyalty_overview")
        day = self.today.isoformat()
        return self.one("loyalty_overview", params={ep.name_for("from"): day, ep.name_for("to"): day})

    def redemption_orders(self) -> list[dict[str, Any]]:
        ep = self.ep("redemption_transactions")
        rows = self.page("redemption_transactions", params={ep.param("sort"): ep.name_for("sort")})
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
        ep = self.ep("purchase_histories")
        return self.page("purchase_histories", params={ep.param("sort"): ep.name_for("sort")})

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
        key = self.ep("minigame_logs").name_for("email")
        asked = list(dict.fromkeys([self.player] if self.player else self.emails[:PLAYER_TRIES]))
        rows: list[dict[str, Any]] = []
        for email in asked:  # until a member with plays answers (most members never played)
            if rows := self.page("minigame_logs", json={key: email}):
                break
        return rows

    def user_game_stats(self) -> list[dict[str, Any]] | None:
        if self.email is None:
            return None
        ep = self.ep("minigame_stats")
        data = self.client.request_json("minigame_stats", json={ep.name_for("email"): self.email})
        return ep.arrived([dict(data)]) if isinstance(data, dict) else []

    def reader(self, dataset: str) -> Callable[[], list[dict[str, Any]] | None]:
        """The dataset's own reader above, or the generic one its declaration implies: the first
        page of a list, the records (or the declared part) of one response."""
        own = getattr(self, dataset, None)
        if own is not None:
            return own  # type: ignore[no-any-return]
        declared = table(dataset)
        endpoint = declared.endpoint_name or ""
        ep = self.ep(endpoint)
        if declared.part is not None:
            return lambda: self.part(endpoint, ep.name_for(declared.part or ""))
        return (lambda: self.one(endpoint)) if ep.pagination.scheme == "none" else (lambda: self.page(endpoint))


WHY_NOT_ASKED = {"users": "no live member with an email to ask about", "channels": "no channel to ask about",
                 "redemption_orders": "no order to ask about"}


def expected_fields(settings: Settings, dataset: str) -> list[str]:
    if dataset == "users":
        ep = settings.endpoint("users_filter")
        return [ep.name_for("id"), *ep.options.platform_fields]
    return list(DECLARED.get(dataset, {}))


def probe(settings: Settings, datasets: list[str] | None = None, client: ReturningClient | None = None) -> list[Probe]:
    """Probe `datasets` (default every one, disabled ones too: marked so) in source order. The
    datasets they need (`pipelines.tables.NEEDS`) are probed too, as the sync reads them (a member
    to ask about, a channel), but only `datasets` are returned. An error that would end a sync (an
    invalid key, an API that keeps failing) ends the probe too."""
    chosen = set(RESOURCES if datasets is None else datasets)
    wanted = [d for d in RESOURCES if d in chosen or any(d in needs_chain(c) for c in chosen)]
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
    return [p for name, p in found.items() if name in chosen]


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
    rows = None
    try:
        rows = reads.reader(name)()
        if rows is not None and (key := missing_key(rows, table(name).key)) is not None:
            raise ContractError(endpoint, f"a record lacks its key '{key}'", missing=key)
    except ReturningError as exc:
        skip = diagnose(settings, name, exc)
        if skip is None:
            raise
        out.skip = skip
        out.suggestions = _suggestions(settings, name, endpoint, exc, rows)
        return out
    if rows is None:
        out.note = f"not asked: {WHY_NOT_ASKED.get(needs_chain(name)[0] if needs_chain(name) else '', 'nothing to ask about')}"
    elif rows:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        out.seen = list(seen)
        out.suggestions = _suggestions(settings, name, endpoint, None, rows, reads)
    return out


def _suggestions(settings: Settings, name: str, endpoint: str, exc: ReturningError | None,
                 rows: list[dict[str, Any]] | None, reads: _Reads | None = None) -> list[Suggestion]:
    """The overrides what the probe saw calls for (pipelines/overrides.py builds them): the path of a
    404 (its value unknown), a records path or part moved to the one place it could be, the fields
    records lack paired with the ones they carry instead."""
    out: list[Suggestion] = []
    if isinstance(exc, ApiError) and exc.status in SKIPPED_STATUS and exc.endpoint in settings.registry:
        out.append(suggest(name, endpoint=exc.endpoint, path_status=exc.status, registry=settings.registry))
    elif (isinstance(exc, ApiError) and exc.status == 400 and exc.endpoint in settings.registry
          and (param := refused_param(settings.registry[exc.endpoint], exc.server_message)) is not None):
        out.append(suggest(name, endpoint=exc.endpoint, ignored_param=param, registry=settings.registry))
    elif isinstance(exc, ContractError) and exc.missing and exc.endpoint in settings.registry:
        made = records_suggestion(name, exc.endpoint, exc.missing, exc.found, settings.registry)
        if made is not None:
            out.append(made)
    if rows and endpoint in settings.registry:
        expected = expected_kinds(settings, name)
        if owner_of(endpoint) == name:  # its rows are the endpoint's records: the loaded [assumed] fields too
            ep = settings.registry[endpoint]
            expected.update({f: None for f, mark in ep.record_fields.items()
                             if mark == "assumed" and "." not in f and f not in expected
                             and not any(e.startswith(f + "__") for e in expected)})
        out += record_suggestions(name, endpoint, rows, expected, settings.registry)
        if reads is not None and exc is None:
            out += [suggest(name, endpoint=endpoint, ignored_param=p, registry=settings.registry)
                    for p in ignored_params(reads, name, endpoint, rows)]
    return out


def ignored_params(reads: _Reads, name: str, endpoint: str, rows: list[dict[str, Any]]) -> list[str]:
    """The [assumed] parameters the API did not apply, where that shows: a `sort` whose records do not
    come in its order (no extra request), a `from`/`to` window no record falls in that still returns
    records (one more request). A parameter that is honoured, or whose effect does not show, is not named."""
    ep = reads.ep(endpoint)
    out: list[str] = []
    sort = ep.fields.get("sort")
    if sort and "sort" in ep.params and ep.params["sort"] == "assumed" and len(rows) > 1:
        field, _, direction = sort.partition(":")
        values = [r.get(field) for r in rows if r.get(field) is not None]
        ordered = sorted(values, key=str, reverse=direction == "desc")
        if len(values) > 1 and [str(v) for v in values] != [str(v) for v in ordered]:
            out.append("sort")
    bounds = [ep.fields.get(k) for k in ("from", "to")]
    asked = reads.asked.get(endpoint)
    if (rows and asked is not None and all(b in ep.params and ep.params[b] == "assumed" for b in bounds)
            and name in datasets_with_window()):
        window = dict(zip((ep.param(b) for b in bounds if b), WINDOW if name != "loyalty_overview"
                          else (WINDOW[0][:10], WINDOW[1][:10]), strict=True))
        where = "json" if ep.method == "POST" else "params"
        kwargs = {k: v for k, v in asked.items() if k not in ("params", "json")}
        kwargs[where] = {**(asked.get(where) or {}), **window}
        other = "params" if where == "json" else "json"
        if asked.get(other) is not None:
            kwargs[other] = asked[other]
        try:
            if ep.pagination.scheme == "none":
                again = reads.part(endpoint, ep.records, **kwargs)
            else:
                pages = reads.client.paginate(endpoint, page_size=PAGE, sequential=True, **kwargs)
                try:
                    again = next(pages, [])
                finally:
                    pages.close()
        except ReturningError:
            again = []  # the window's answer tells nothing
        if again:
            out += [b for b in bounds if b]
    return out


def datasets_with_window() -> set[str]:
    """The datasets whose reads send a from/to window: those whose endpoint declares both names."""
    return {t.name for t in TABLES if isinstance(t.endpoint, Endpoint) and {"from", "to"} <= set(t.endpoint.fields)}


def expected_kinds(settings: Settings, dataset: str) -> dict[str, str | None]:
    """The fields the warehouse declares for `dataset` with their kinds (child lists as lists)."""
    declared: dict[str, str | None] = dict(DECLARED.get(dataset, {}))
    declared.update(dict.fromkeys(CHILD_TABLES.get(dataset, {}), LIST))
    if dataset == "users":
        declared = {f: declared.get(f) for f in expected_fields(settings, dataset)}
    return declared


def summary_exit(probes: list[Probe]) -> int:
    """0 when every dataset the sync would read is available, 5 (partial) otherwise."""
    return 5 if any(not p.ok and not p.disabled for p in probes) else 0
