"""Skip and report: when a dataset cannot be read, why, and the setting that changes it.

The one place that decides both, for the sync (a skipped dataset loads nothing, the others commit)
and for `returning-sync check` (which probes the same endpoints first), so the two never disagree.

A dataset is skipped, not fatal, when its endpoint answers 404 or 405 (`SKIPPED_STATUS`), when the
key lacks the endpoint's permission (403, or a 401 naming a permission), when the answer is an
HTTP-200 error body, or when the answer lacks the shape the registry expects (the records path,
a pagination field, a record's key): `diagnose`. An invalid or expired key, an API that keeps
failing and configuration errors stay fatal. A dataset that reads its work from another one
(`pipelines.tables.NEEDS`: per-user fan-outs need users, messages need channels) is skipped with
it: `depending`.

Datasets the user turned off (`disabled`, `DISABLED_SETTING`) are not read and not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pipelines.errors import ApiError, AuthError, ContractError, PermissionDenied
from pipelines.tables import NEEDS, RESOURCES, table

if TYPE_CHECKING:
    from pipelines.config import Settings

SKIPPED_STATUS = frozenset({404, 405})  # an endpoint the API does not serve (at this path / method)
SECTION = "sources.returning_ai"  # where the settings live in .dlt/config.toml
DISABLED_SETTING = f"[{SECTION}] disabled"
DISABLED_ENV = "RETURNING_SYNC_DISABLED"


class Kind(StrEnum):
    NOT_FOUND = "not found"
    PERMISSION = "permission"
    ERROR_BODY = "error body"
    SHAPE = "shape"
    DEPENDS = "depends"


@dataclass(frozen=True)
class Skip:
    """One dataset left out of a run: the endpoint, what went wrong, and what to set."""

    dataset: str
    kind: Kind
    result: str  # "HTTP 404", "missing permission 'bulkUpdateUser'", "missing 'data.results'", ...
    fix: str  # the setting that changes it, with an example
    endpoint: str = ""  # the registry name ("" for a dependency or a dataset without an API call)
    method: str = ""
    path: str = ""
    mark: str = ""  # "doc" or "assumed": the registry's status of the endpoint
    permission: str | None = None
    depends_on: str | None = None

    @property
    def where(self) -> str:
        return f"{self.method} {self.path} [{self.mark}]" if self.endpoint else ""

    def line(self) -> str:
        """One line for the summary: `dataset: skipped, GET /path [assumed]: HTTP 404; set ...`."""
        where = f"{self.where}: " if self.where else ""
        return f"{self.dataset}: skipped, {where}{self.result}; {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Kind) else v for k, v in asdict(self).items()}


def disable_example(*datasets: str) -> str:
    names = ", ".join(f'"{d}"' for d in datasets)
    return f"or turn it off: {DISABLED_SETTING} = [{names}]"


def _override(endpoint: str, option: str, value: str) -> str:
    return f'[{SECTION}.registry_overrides.{endpoint}] {option} = "{value}"'


def path_override(endpoint: str, path: str) -> str:
    """The registry override that moves `endpoint` to another path, with a placeholder to fill in."""
    return _override(endpoint, "path", _placeholder(path))


def diagnose(settings: Settings, dataset: str, exc: BaseException) -> Skip | None:
    """The skip `exc` means for `dataset`, or None when it must end the run (an invalid key, an
    API that kept failing, a bad setting, a bug)."""
    if isinstance(exc, AuthError) or not isinstance(exc, PermissionDenied | ApiError | ContractError):
        return None
    name = getattr(exc, "endpoint", "")
    owner = owner_of(name)
    if owner is not None and owner != dataset and owner in needs_chain(dataset):
        return depending(dataset, owner)
    if name not in settings.registry:  # a record's shape checked after the request ("response")
        name = (table(dataset).endpoints or ("",))[0]
    ep = settings.registry.get(name)
    at = {"endpoint": name, "method": ep.method, "path": ep.path, "mark": ep.status} if ep else {}
    if isinstance(exc, PermissionDenied):
        return Skip(dataset, Kind.PERMISSION, f"missing permission '{exc.permission}'",
                    f"grant the key the '{exc.permission}' permission (community settings > API keys), "
                    + disable_example(dataset), permission=exc.permission, **at)
    if isinstance(exc, ApiError):
        said = f": {exc.server_message}" if exc.server_message else ""
        if exc.status in SKIPPED_STATUS:
            fix = (f"if the API serves it elsewhere, {_override(name, 'path', _placeholder(ep.path if ep else ''))} "
                   f"(the path it serves), {disable_example(dataset)}")
            return Skip(dataset, Kind.NOT_FOUND, f"HTTP {exc.status}{said}", fix, **at)
        if 200 <= exc.status < 300:
            return Skip(dataset, Kind.ERROR_BODY, f"HTTP {exc.status} with an error body{said}",
                        disable_example(dataset).removeprefix("or "), **at)
        return None
    missing = exc.missing
    if missing and ep is not None and missing == ep.records:
        from pipelines.registry import DEFAULT_REGISTRY

        contract = DEFAULT_REGISTRY[name].records
        example = contract if contract != ep.records else "data.<the list's name>"
        fix = f"{_override(name, 'records', example)} (the dotted path to the records), {disable_example(dataset)}"
    else:
        fix = disable_example(dataset).removeprefix("or ")
    result = f"missing '{missing}'" if missing else exc.problem
    return Skip(dataset, Kind.SHAPE, result, fix, **at)


def _placeholder(path: str) -> str:
    """`/apis/v1/...`: the path's version prefix, the rest for the user to fill in."""
    parts = [p for p in path.split("/") if p]
    keep = parts[:next((i + 1 for i, p in enumerate(parts) if p.startswith("v") and p[1:].isdigit()), 0)]
    return "/" + "/".join([*keep, "..."])


def depending(dataset: str, on: str, why: str = "was skipped") -> Skip:
    return Skip(dataset, Kind.DEPENDS, f"depends on {on}, which {why}",
                f"make {on} available, {disable_example(dataset)}", depends_on=on)


def owner_of(endpoint: str) -> str | None:
    """The dataset whose reads `endpoint` serves (None: an endpoint no dataset is charged for)."""
    for name in RESOURCES:
        if endpoint in table(name).endpoints:
            return name
    return None


def needs_chain(dataset: str) -> list[str]:
    """What `dataset` reads its work from, nearest first."""
    chain: list[str] = []
    while (dataset := NEEDS.get(dataset, "")) and dataset not in chain:
        chain.append(dataset)
    return chain


def dependents(dataset: str, among: Iterable[str]) -> list[str]:
    """The datasets of `among` that need `dataset`, directly or through another."""
    return [d for d in among if dataset in needs_chain(d)]


def plan(selected: Iterable[str], disabled: Iterable[str]) -> tuple[list[str], list[Skip]]:
    """The datasets a run reads (the selection less the disabled ones) and the skips of those that
    need a disabled one (they cannot be read without it)."""
    off = set(disabled)
    run, blocked = [], []
    for name in selected:
        if name in off:
            continue
        gone = next((d for d in needs_chain(name) if d in off), None)
        if gone is not None:
            blocked.append(depending(name, gone, "is disabled"))
        else:
            run.append(name)
    return run, blocked


def refused_key(skips: Iterable[Skip], attempted: Iterable[str]) -> PermissionDenied | None:
    """When every dataset with an API call was refused for a permission (or depends on one that
    was), the key itself is what is wrong: the run ends as a refused key (exit 3)."""
    skips = {s.dataset: s for s in skips}
    calling = [d for d in attempted if table(d).endpoints]
    denied = [s for s in skips.values() if s.kind is Kind.PERMISSION]
    if not calling or not denied or any(skips.get(d) is None or skips[d].kind not in (Kind.PERMISSION, Kind.DEPENDS)
                                        for d in calling):
        return None
    first = denied[0]
    return PermissionDenied(first.endpoint, first.permission or "?", "every endpoint refused the key")


class Skips:
    """The skips of one run, in the order they happened (thread-safe: fan-outs fail in workers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_dataset: dict[str, Skip] = {}

    def add(self, skip: Skip) -> bool:
        """Record `skip`; False when the dataset was already skipped (the first reason stands)."""
        with self._lock:
            if skip.dataset in self._by_dataset:
                return False
            self._by_dataset[skip.dataset] = skip
            return True

    def __contains__(self, dataset: object) -> bool:
        return dataset in self._by_dataset

    def get(self, dataset: str) -> Skip | None:
        return self._by_dataset.get(dataset)

    def all(self) -> list[Skip]:
        with self._lock:
            return list(self._by_dataset.values())


def check_disabled(names: Iterable[str]) -> tuple[str, ...]:
    """The `disabled` setting's names, validated (ValueError naming the unknown ones)."""
    names = tuple(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    unknown = [n for n in names if n not in RESOURCES]
    if unknown:
        raise ValueError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(RESOURCES)}")
    return names


def missing_key(item: Any, keys: Iterable[str]) -> str | None:
    """The first key a record of `item` lacks (an Arrow table, a record, a list of records), or None:
    a record without its table's key is an answer without the expected shape."""
    keys = list(keys)
    if hasattr(item, "column_names") and hasattr(item, "column"):  # an Arrow table
        for key in keys:
            if key not in item.column_names or item.column(key).null_count:
                return key
    elif isinstance(item, dict):
        for key in keys:
            if item.get(key) is None:
                return key
    elif isinstance(item, list):
        for record in item:
            if isinstance(record, dict) and (missing := missing_key(record, keys)) is not None:
                return missing
    return None


def by_name(skips: Iterable[Skip]) -> dict[str, Skip]:
    return {s.dataset: s for s in skips}


__all__ = ["DISABLED_ENV", "DISABLED_SETTING", "SKIPPED_STATUS", "Kind", "Skip", "Skips", "by_name",
           "check_disabled", "dependents", "depending", "diagnose", "missing_key", "needs_chain", "owner_of", "plan",
           "refused_key"]
