"""What one dataset is: the `Dataset` declaration, in the style of a dlt verified source's
`settings.py`. Each dataset of the source `returning_ai` is one declaration in
`pipelines/datasets.py`; the resources, the raw tables' rows (`pipelines/tables.py`), the declared
columns (`pipelines/declared.py`), the endpoint registry, the docs (`docs/endpoints.md`, the source's
docstring), `check`'s probes and the Dagster assets are all derived from the declarations.

A declaration holds its endpoint (`pipelines.endpoint.Endpoint`: path, method, surface, permission,
paginator, records path, the incremental cursor under `fields["cursor"]`, the [doc]/[assumed] marks
and the endpoint's own typed `options`), how the table is loaded (load kind, write disposition,
primary key, Arrow or Python rows), the columns the table is created with, what it depends on
(`parent`, `needs`), the personal data it holds, and how its resource is built: `build=None` is the
generic resource (every page of a paginated list, or one response's records), a builder otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from pipelines.endpoint import Endpoint

# the declared columns' kinds (dlt's data types; `pipelines.declared.ARROW` maps them to Arrow's)
TEXT, BIGINT, DOUBLE, BOOL, TSTZ, DAY = "text", "bigint", "double", "bool", "timestamp", "date"

# A builder: (run context, the dataset, the resources built before it by name) -> its dlt resource
Builder = Callable[[Any, "Dataset", Mapping[str, Any]], Any]


class Load(StrEnum):
    INCREMENTAL = "incremental"
    SNAPSHOT = "snapshot"

    @property
    def meaning(self) -> str:
        if self is Load.INCREMENTAL:
            return "date-keyed, partitioned by day, loaded hourly"
        return "read whole, loaded daily"


class Write(StrEnum):
    MERGE = "merge"  # entities: upserted on the key
    REPLACE = "replace"  # small reference lists: replaced whole
    # immutable events merged on their key: a re-read (lookback window for late data, a record repeated
    # across pages) never duplicates them. delete-insert because dlt dedupes a load's own repeats by key
    # only with it; the rows it replaces are identical anyway
    DELETE_INSERT = "delete-insert"

    @property
    def disposition(self) -> str | dict[str, str]:
        """dlt's `write_disposition` for this write."""
        if self is Write.DELETE_INSERT:
            return {"disposition": "merge", "strategy": "delete-insert"}
        return self.value


@dataclass(frozen=True)
class Dataset:
    """One dataset: one dlt resource of the source, one table in the warehouse's raw schema."""

    name: str
    holds: str  # one line: what a row is
    # its endpoint; a name: the endpoint another dataset declares (one call read by both); None: no API call
    endpoint: Endpoint | str | None
    load: Load
    write: Write
    key: tuple[str, ...] = ()  # API names; dlt normalises them (`transactionId` -> `transaction_id`)
    columns: Mapping[str, str] = field(default_factory=dict)  # the columns the table is created with
    read: str = ""  # how the API is read, for the docs
    arrow: bool = False  # its rows reach dlt as Arrow tables (the big ones; their file format per destination)
    parent: str | None = None  # the resource it is a transformer of, loaded with it when it alone is asked for
    needs: str | None = None  # the dataset it reads its work from (a fan-out's users): skipped when that one is
    # how its resource is built: None, the generic one (`pipelines/resources/entities.py`); a builder
    # (see `Builder`), or "module.function" naming one in `pipelines/resources/`
    build: Builder | str | None = None
    part: str | None = None  # a one-response dataset: the endpoint's `fields` key naming the part it loads
    # personal data (`pipelines/privacy.py`): its PII columns, text that may quote them, the member's id column
    pii: tuple[str, ...] = ()
    pii_text: tuple[str, ...] = ()
    member_id: str | None = None
    nullable_objects: tuple[str, ...] = ()  # nested objects the contract lets be null: dropped while null
    # lists models read as child tables, by field: created empty when no record has the field
    child_tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # `record_fields="doc"`: the record fields are the declared columns, listed once
        ep = self.endpoint
        if isinstance(ep, Endpoint) and isinstance(ep.record_fields, str):
            object.__setattr__(self, "endpoint", replace(ep, record_fields=dict.fromkeys(self.columns, ep.record_fields)))

    @property
    def endpoint_name(self) -> str | None:
        if isinstance(self.endpoint, Endpoint):
            return self.endpoint.name
        return self.endpoint

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoints whose requests the sync's summary charges to it (none: no API call)."""
        return (self.endpoint_name,) if self.endpoint_name else ()

    def hints(self) -> dict[str, Any]:
        """The table's arguments of `@dlt.resource` / `@dlt.transformer`."""
        return {"name": self.name, "write_disposition": self.write.disposition,
                "primary_key": (self.key[0] if len(self.key) == 1 else self.key) or None}
