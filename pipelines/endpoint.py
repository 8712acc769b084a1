"""An endpoint of the API as the client reads (or writes) it: method, path, surface, permission,
pagination, records path, and every name it relies on, each marked [doc] (stated in Returning.AI's
reference) or [assumed] (our reading; docs/returning-api.md, docs/contract-readings.md).

Endpoints are declared with their datasets (`pipelines/datasets.py`); `pipelines/registry.py`
applies the user's overrides to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.pagination import Paginator, SinglePage

Surface = Literal["integration", "partner", "application"]
Status = Literal["doc", "assumed"]


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    surface: Surface
    permission: str
    pagination: Paginator = field(default_factory=SinglePage)  # a template: the client walks copies
    records: str = "data"  # dotted path to the records (list) or the object
    page_size: int | None = None  # the server's maximum page size (None: no limit parameter sent)
    status: Status = "assumed"
    read: bool = True  # reads are retried (POST reads too); writes never are
    fields: Mapping[str, str] = field(default_factory=dict)  # request/response names used, by our key
    # the cursor's lookback: a timestamp cursor re-reads this far back (None: the setting)
    lookback_seconds: float | None = None
    # the options only this endpoint's dataset reads (`MessagesOptions`, ...), typed: overrides
    # (`{"messages": {"max_count": 500}}`) set them by name and type; read as `ep.options.<name>`
    # (or, for short, `ep.<name>`)
    options: Any = None
    # the contract's names, each marked doc or assumed (docs/returning-api.md): the one map of what
    # is assumed, which docs/endpoints.md is generated from (pipelines/endpoints_doc.py)
    records_status: Status | None = None  # the records path's mark (None: as the endpoint's `status`)
    params: Mapping[str, Status] = field(default_factory=dict)  # query/body parameters sent
    # record fields read or loaded; a mark alone ("doc" / "assumed"): the fields are the columns its
    # dataset declares, each with that mark (`pipelines.dataset.Dataset` fills them in)
    record_fields: Mapping[str, Status] | Status = field(default_factory=dict)
    # overrides (`params.<name>`, `record_fields.<name>`): the contract's name -> the API's
    param_names: Mapping[str, str] = field(default_factory=dict)
    record_names: Mapping[str, str] = field(default_factory=dict)

    def name_for(self, key: str) -> str:
        """The name the code uses for `key` (cursor field, filter parameter, ...): a parameter's
        name as the API takes it (`params` overrides applied); a record field's name as the
        contract has it, since records are renamed on arrival (`arrived`); a `field:dir` value
        (sort) with its field as the API serves it."""
        try:
            name = self.fields[key]
        except KeyError:
            raise KeyError(f"endpoint {self.name} has no field name for {key!r}") from None
        if name in self.params:
            return self.param_names.get(name, name)
        if name in self.record_fields:
            return name
        head, colon, tail = name.partition(":")
        if colon and head in self.record_fields:
            return f"{self.served(head)}:{tail}"
        return name

    def param(self, name: str) -> str:
        """A parameter's name as the API takes it (`params.<name>` overrides applied)."""
        return self.param_names.get(name, name)

    def served(self, record_field: str) -> str:
        """The name the API serves a record field under (for parameters built from it: `sort`,
        the requested `fields`, a filter's key)."""
        return self.record_names.get(record_field, record_field)

    def __getattr__(self, name: str) -> Any:
        """An option of this endpoint's `options` (`ep.max_count` for `ep.options.max_count`)."""
        options = self.__dict__.get("options")
        if options is not None and not name.startswith("_") and hasattr(options, name):
            return getattr(options, name)
        raise AttributeError(f"endpoint {self.__dict__.get('name')!r} has no option {name!r}")

    @property
    def records_mark(self) -> Status:
        return self.records_status or self.status

    def arrived(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records with every renamed field back under the contract's name (in place), so it
        lands in the declared column the models read. A field the record carries under a renamed
        field's contract name is not that field: it is dropped (unless it is itself served for another)."""
        names = self.record_names
        served = set(names.values())
        for record in records:
            values = {contract: _pop(record, name) for contract, name in names.items()}
            for contract in names:
                if contract not in served:
                    _pop(record, contract)
            for contract, value in values.items():
                if value is not _ABSENT:
                    _put(record, contract, value)
        return records


_ABSENT = object()


def _pop(record: dict[str, Any], path: str) -> Any:
    *parents, last = path.split(".")
    node: Any = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return node.pop(last, _ABSENT) if isinstance(node, dict) else _ABSENT


def _put(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def marks(doc: str = "", assumed: str = "") -> dict[str, Status]:
    """Names (space separated) with their marks."""
    return {**dict.fromkeys(doc.split(), "doc"), **dict.fromkeys(assumed.split(), "assumed")}
