"""What to write when the API differs from the contract: the exact registry override for what was
observed (a path that answers 404, a record field that never comes, a records path that is not
there), in the keys docs/endpoints.md documents, and the named condition of an incremental cursor
that never advances.

`suggest(dataset, path_status=404)` / `suggest(dataset, missing_field="createdAt")` /
`suggest(dataset, missing_records=True)` / `suggest(dataset, ignored_param="from")` return a `Suggestion`: the config key, the value to edit
and a TOML example for `.dlt/config.toml`. `returning-sync check` and the sync's summary print them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipelines.errors import ContractError
from pipelines.registry import DEFAULT_REGISTRY, Endpoint, Status
from pipelines.tables import BY_NAME, Load

SECTION = "sources.returning_ai.registry_overrides"
PLACEHOLDER = "<as the API names it>"


@dataclass(frozen=True)
class Suggestion:
    """One override: `key` under `[SECTION.<endpoint>]`, its current value and a TOML example."""

    dataset: str
    endpoint: str
    key: str  # `path`, `records`, `record_fields.createdAt`, `params.from`
    current: str  # the contract's value (the path, the name)
    status: Status  # what the contract says of it: doc or assumed
    reason: str  # what was observed

    @property
    def config_key(self) -> str:
        """The full dotted key: `sources.returning_ai.registry_overrides.user_field_histories.path`."""
        return f"{SECTION}.{self.endpoint}.{self.key}"

    @property
    def toml(self) -> str:
        """The lines to put in `.dlt/config.toml`, the value to edit marked."""
        table, _, name = self.key.partition(".") if "." in self.key else ("", "", self.key)
        section = f"{SECTION}.{self.endpoint}" + (f".{table}" if table else "")
        return (f'[{section}]\n{_toml_key(name)} = "{PLACEHOLDER}"  '
                f"# [{self.status}] now {self.current!r}: {self.reason}")

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
            registry: Mapping[str, Endpoint] | None = None) -> Suggestion:
    """The override that would change what was observed of `dataset` (a table name, or an
    endpoint's name; `endpoint`: which of its endpoints, default its first):

    - `path_status` (404, 405): the path -> key `path`;
    - `missing_field` (a record field by the contract's name, dotted when nested, or as dlt names
      its column: `created_at`) -> key `record_fields.<name>`;
    - `missing_records`: the records path -> key `records`;
    - `ignored_param` (a query/body parameter by the contract's name the API did not apply) -> key
      `params.<name>`.

    `registry`: the registry in use (overrides applied), for the current values; default the
    contract's. KeyError for an unknown dataset, endpoint or field; ValueError when nothing
    observed is given."""
    eps = endpoints_of(dataset)
    name = endpoint or eps[0]
    ep = (registry or DEFAULT_REGISTRY)[name]
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
                          "the response has no records at this path")
    if path_status is not None:
        return Suggestion(dataset, name, "path", ep.path, ep.status, f"the path answered HTTP {path_status}")
    raise ValueError("suggest needs path_status, missing_field or missing_records")


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
