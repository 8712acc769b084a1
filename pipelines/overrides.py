"""What to write when the API differs from the contract: the exact registry override for what was
observed (a path that answers 404, a record field that never comes, a records path that is not
there), in the keys docs/endpoints.md documents, and the named condition of an incremental cursor
that never advances.

`suggest(dataset, path_status=404)` / `suggest(dataset, missing_field="createdAt")` /
`suggest(dataset, missing_records=True)` / `suggest(dataset, ignored_param="from")` return a `Suggestion`: the config key, the value to edit
and a TOML example for `.dlt/config.toml`. `returning-sync check` and the sync's summary print them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pipelines.errors import ContractError
from pipelines.registry import DEFAULT_REGISTRY, Endpoint, Status
from pipelines.tables import BY_NAME, Load

SECTION = "sources.returning_ai.registry_overrides"
PLACEHOLDER = "<as the API names it>"


@dataclass(frozen=True)
class Suggestion:
    """One override: `key` under `[SECTION.<endpoint>]`, its current value, the value to set when the
    observation tells it (`value`; None: only the API's reference or Returning.AI can) and a TOML example."""

    dataset: str
    endpoint: str
    key: str  # `path`, `records`, `record_fields.createdAt`, `params.from`, `fields.xp_setting`
    current: str  # the contract's value (the path, the name)
    status: Status  # what the contract says of it: doc or assumed
    reason: str  # what was observed
    value: str | None = None  # the value to set, when what was observed tells it for sure
    candidates: tuple[str, ...] = ()  # the names it may be, when the observation narrows it but cannot tell
    example: str = PLACEHOLDER  # what to write when `value` is None

    @property
    def config_key(self) -> str:
        """The full dotted key: `sources.returning_ai.registry_overrides.user_field_histories.path`."""
        return f"{SECTION}.{self.endpoint}.{self.key}"

    @property
    def section(self) -> str:
        return f"{SECTION}.{self.endpoint}"

    @property
    def _table_and_name(self) -> tuple[str, str]:
        """`record_fields.user.email` -> ("record_fields", "user.email"); `path` -> ("", "path")."""
        table, dot, name = self.key.partition(".")
        return (table, name) if dot else ("", self.key)

    @property
    def toml_key(self) -> str:
        """The key as written under `[section]`: `path`, `record_fields.createdAt`, `record_fields."user.email"`."""
        table, name = self._table_and_name
        return f"{table}.{_toml_key(name)}" if table else self.key

    @property
    def unknown(self) -> str:
        """What the observation cannot tell, said to the user ("" when `value` is known)."""
        if self.value is not None:
            return ""
        if self.candidates:
            return f"one of {', '.join(self.candidates)}: which, see Returning.AI's reference"
        what = {"path": "the path it serves", "records": "where its records sit"}.get(self.key.partition(".")[0],
                                                                                    "the name the API uses")
        return f"{what}: ask Returning.AI or see its reference"

    @property
    def inline(self) -> str:
        """One line: `[sources.returning_ai.registry_overrides.x] record_fields.createdAt = "changedAt"`."""
        return f'[{self.section}] {self.toml_key} = "{self.value if self.value is not None else self.example}"'

    @property
    def toml(self) -> str:
        """The lines to put in `.dlt/config.toml`, the value to edit marked when it is not known."""
        table, name = self._table_and_name
        section = self.section + (f".{table}" if table else "")
        value = self.value if self.value is not None else PLACEHOLDER
        return (f'[{section}]\n{_toml_key(name)} = "{value}"  '
                f"# [{self.status}] now {self.current!r}: {self.reason}")

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "key": self.key, "config_key": self.config_key, "section": self.section,
                "value": self.value, "candidates": list(self.candidates), "current": self.current,
                "status": self.status, "reason": self.reason, "unknown": self.unknown, "set": self.inline}

    def __str__(self) -> str:
        return f"{self.dataset}: {self.reason}; set {self.config_key} ([{self.status}] now {self.current!r})"


def endpoints_of(dataset: str) -> tuple[str, ...]:
    """The endpoints a dataset (a table, or an endpoint's own name) is read from."""
    if dataset in BY_NAME:
        return BY_NAME[dataset].endpoints
    if dataset in DEFAULT_REGISTRY:
        return (dataset,)
    raise KeyError(f"unknown dataset {dataset!r}")


def suggest(dataset: str, *, endpoint: str | None = None, path_status: int | None = None,
            missing_field: str | None = None, missing_records: bool = False, ignored_param: str | None = None,
            missing_part: str | None = None, value: str | None = None, candidates: tuple[str, ...] = (),
            registry: Mapping[str, Endpoint] | None = None) -> Suggestion:
    """The override that would change what was observed of `dataset` (a table name, or an
    endpoint's name; `endpoint`: which of its endpoints, default its first):

    - `path_status` (404, 405): the path -> key `path`;
    - `missing_field` (a record field by the contract's name, dotted when nested, or as dlt names
      its column: `created_at`) -> key `record_fields.<name>`;
    - `missing_records`: the records path -> key `records`;
    - `ignored_param` (a query/body parameter by the contract's name the API did not apply) -> key
      `params.<name>`;
    - `missing_part` (a dotted path of the answer the endpoint reads besides its records, named by
      one of its `fields`: tiers' `data.xpSetting`) -> key `fields.<its key>`.

    `value`: the value to set, when what was observed tells it; `candidates`: the names it may be.

    `registry`: the registry in use (overrides applied), for the current values; default the
    contract's. KeyError for an unknown dataset, endpoint or field; ValueError when nothing
    observed is given."""
    made = _suggest(dataset, endpoint, path_status, missing_field, missing_records, ignored_param, missing_part,
                    registry)
    return replace(made, value=value, candidates=tuple(candidates))


def _suggest(dataset: str, endpoint: str | None, path_status: int | None, missing_field: str | None,
             missing_records: bool, ignored_param: str | None, missing_part: str | None,
             registry: Mapping[str, Endpoint] | None) -> Suggestion:
    eps = endpoints_of(dataset)
    name = endpoint or eps[0]
    ep = (registry or DEFAULT_REGISTRY)[name]
    if missing_part is not None:
        key = next((k for k, v in ep.fields.items() if v == missing_part), None)
        if key is None:
            raise KeyError(f"{missing_part!r} is not a part of {ep.name}'s answer the registry names")
        return Suggestion(dataset, name, f"fields.{key}", missing_part, ep.status,
                          "the response has nothing at this path", example="data.<its name>")
    if missing_field is not None:
        field = _contract_field(ep, missing_field)
        return Suggestion(dataset, name, f"record_fields.{field}", ep.served(field), ep.record_fields[field],
                          "records come without this field")
    if ignored_param is not None:
        if ignored_param not in ep.params:
            raise KeyError(f"{ignored_param!r} is not a parameter of {ep.name} in the contract")
        return Suggestion(dataset, name, f"params.{ignored_param}", ep.param_names.get(ignored_param, ignored_param),
                          ep.params[ignored_param], "the API did not apply this parameter")
    if missing_records:
        return Suggestion(dataset, name, "records", ep.records, ep.records_mark,
                          "the response has no records at this path", example="data.<the list's name>")
    if path_status is not None:
        return Suggestion(dataset, name, "path", ep.path, ep.status, f"the path answered HTTP {path_status}",
                          example=path_placeholder(ep.path))
    raise ValueError("suggest needs path_status, missing_field, missing_records, ignored_param or missing_part")


class CursorNeverAdvances(ContractError):
    """An incremental dataset's records all lack its cursor field: every run re-reads everything."""

    def __init__(self, dataset: str, suggestion: Suggestion, records: int) -> None:
        self.dataset, self.suggestion, self.records = dataset, suggestion, records
        super().__init__(suggestion.endpoint, f"{dataset}: none of the {records:,} records has the cursor field "
                         f"{suggestion.current!r}, so its cursor never advances and every run re-reads "
                         f"everything; set {suggestion.config_key} to the name the API uses")


def stalled_cursors(registry: Mapping[str, Endpoint], datasets: Iterable[str],
                    seen: Mapping[str, tuple[int, int]]) -> list[CursorNeverAdvances]:
    """Incremental datasets among `datasets` whose records (`seen`: endpoint -> (records, records
    without the cursor field)) all lacked the cursor field."""
    stalled = []
    for dataset in datasets:
        table = BY_NAME.get(dataset)
        if table is None or table.load is not Load.INCREMENTAL:
            continue
        for name in table.endpoints:
            records, lacking = seen.get(name, (0, 0))
            ep = registry[name]
            if records and lacking == records and "cursor" in ep.fields:
                stalled.append(CursorNeverAdvances(
                    dataset, suggest(dataset, endpoint=name, missing_field=ep.name_for("cursor"), registry=registry),
                    records))
    return stalled


def path_placeholder(path: str) -> str:
    """`/apis/v1/...`: the path's version prefix, the rest for the user to fill in."""
    parts = [p for p in path.split("/") if p]
    keep = parts[:next((i + 1 for i, p in enumerate(parts) if p.startswith("v") and p[1:].isdigit()), 0)]
    return "/" + "/".join([*keep, "..."])


def contract_field(ep: Endpoint, given: str) -> str | None:
    """The contract's record field `given` names (as the contract or as dlt names its column), or None."""
    try:
        return _contract_field(ep, given)
    except KeyError:
        return None


def _contract_field(ep: Endpoint, given: str) -> str:
    if given in ep.record_fields:
        return given
    for contract in ep.record_fields:  # as dlt names the column: `created_at`, `user__email`
        if _snake(contract) == given:
            return contract
    raise KeyError(f"{given!r} is not a record field of {ep.name} in the contract")


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name.replace(".", "__"))
    return out.lstrip("_") if not name.startswith("_") else out


def _toml_key(name: str) -> str:
    return name if name.replace("_", "").isalnum() else f'"{name}"'


# -- pairing what a record lacks with what it carries instead ----------------------------------------
OBJECT, LIST = "object", "list"
_ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def observed_type(value: Any) -> str | None:
    """A value's kind in the warehouse's terms (`pipelines/declared.py`): None for null (unknown)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict):
        return OBJECT
    if isinstance(value, list):
        return LIST
    if isinstance(value, str) and _ISO_TS.match(value):
        return "timestamp"
    if isinstance(value, str) and _ISO_DAY.match(value):
        return "date"
    return "text"


def _fits(expected: str | None, seen: str | None) -> bool:
    if expected is None or seen is None:
        return True
    return expected == seen or (expected == "double" and seen == "bigint")


def pair_fields(missing: Mapping[str, str | None],
                extras: Mapping[str, str | None]) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """For each missing field (contract name -> its declared kind, None: unknown), the extra field
    (served name -> the kind of its first non-null value, None: only nulls seen) it is served as:
    (the name when it is sure, the names it may be). Sure = of the same kind (an extra seen only null
    is of any kind, and counts only when none of a known kind fits), the only such extra left, and no
    other missing field may be it."""
    live = {}
    for m, mt in missing.items():  # an extra whose value shows its kind first; one seen only null else
        known = [e for e, et in extras.items() if et is not None and mt is not None and _fits(mt, et)]
        live[m] = known or [e for e, et in extras.items() if _fits(mt, et)]
    sure: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        taken = set(sure.values())
        for m, names in live.items():
            if m in sure:
                continue
            left = [e for e in names if e not in taken]
            if len(left) == 1 and not any(left[0] in live[o] for o in live if o != m and o not in sure):
                sure[m] = left[0]
                taken.add(left[0])
                changed = True
    taken = set(sure.values())
    return {m: (sure.get(m), (sure[m],) if m in sure else tuple(e for e in live[m] if e not in taken))
            for m in missing}


def record_suggestions(dataset: str, endpoint: str, rows: list[dict[str, Any]], expected: Mapping[str, str | None],
                       registry: Mapping[str, Endpoint]) -> list[Suggestion]:
    """The `record_fields.<name>` overrides for the fields `rows` (records as they arrived) lack, each
    with the extra field it is served as when that is sure (`pair_fields`), else its candidates.
    `expected`: the fields the warehouse declares (as the API names them, nested ones dlt-flattened)
    with their kinds."""
    ep = registry[endpoint]
    seen: dict[str, str | None] = {}
    for row in rows:
        for key, value in row.items():
            if seen.get(key) is None:
                seen[key] = observed_type(value)
    missing: dict[str, str | None] = {}
    for name, kind in expected.items():
        field = contract_field(ep, name)
        if field is None or field in seen:
            continue
        parent = field.split(".")[0]
        if parent != field:
            if parent in seen or parent not in ep.record_fields:
                continue  # a nested field of an object that came (or that cannot be renamed as one)
            field, kind = parent, OBJECT
        missing.setdefault(field, kind)
    if not missing:
        return []
    known = set(expected) | {contract.split(".")[0] for contract in ep.record_fields}
    extras = {k: t for k, t in seen.items() if k not in known and k not in ep.record_names.values()}
    out = []
    for field, (value, candidates) in pair_fields(missing, extras).items():
        made = suggest(dataset, endpoint=endpoint, missing_field=field, value=value,
                       candidates=() if value else candidates, registry=registry)
        if value is not None:
            made = replace(made, reason=f"records come without this field and carry {value!r}, the one field of "
                                        f"its kind they were not expected to, instead")
        out.append(made)
    return out


def records_suggestion(dataset: str, endpoint: str, missing: str, found: Mapping[str, str],
                       registry: Mapping[str, Endpoint]) -> Suggestion | None:
    """For an answer without the records path (or another part the endpoint reads, `fields.<key>`):
    `records` (or that key) set to the one list (object) the answer holds beside the others, when
    there is exactly one; else the names it may be."""
    ep = registry[endpoint]
    if missing == ep.records:
        lists = [p for p, kind in found.items() if kind == LIST]
        return suggest(dataset, endpoint=endpoint, missing_records=True, registry=registry,
                       value=lists[0] if len(lists) == 1 else None, candidates=tuple(lists) if len(lists) > 1 else ())
    if missing in ep.fields.values() and contract_field(ep, missing) is None:
        parent = missing.rpartition(".")[0]
        siblings = [p for p, kind in found.items() if kind == OBJECT and p.rpartition(".")[0] == parent
                    and p != ep.records and not ep.records.startswith(p + ".")]
        return suggest(dataset, endpoint=endpoint, missing_part=missing, registry=registry,
                       value=siblings[0] if len(siblings) == 1 else None,
                       candidates=tuple(siblings) if len(siblings) > 1 else ())
    return None
