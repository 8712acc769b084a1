"""Members' personal data before it lands: the PII policy, applied where rows are extracted.

Each column of a raw table is `keep`, `hash` or `drop`. The columns that hold a member's personal
data are declared beside each dataset (`pipelines.declared.PII`; custom user fields configured as
personal join them); the policy says what happens to them:

    [sources.returning_ai.privacy]          # .dlt/config.toml
    pii = "hash"                            # keep (default) | hash | drop: every declared PII column
    personal_fields = ["phone"]             # custom user fields that are personal data too
    columns = { "users.username" = "keep", "messages.message" = "drop" }   # per column, over `pii`

    [sources.returning_ai.privacy]          # .dlt/secrets.toml
    hmac_key = "a long random secret"       # or SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY

`hash` is HMAC-SHA256 under `hmac_key`, as 64 lowercase hex characters: the same value always gives
the same hash, so joins and distinct counts still work, and without the key a list of addresses
cannot be hashed to find one. `drop` leaves the column empty (NULL). Both run as a dlt `add_map`
step on the resource (Python rows and Arrow tables alike), so a dropped or hashed value never reaches
dlt's normaliser, its load packages, the warehouse or a log. Text that may quote a row's PII (a
webhook event's JSON, `declared.PII_TEXT`) has each PII value replaced by its hash.

The fan-outs of `users` call the API by email: they are handed the users page with the real
addresses back (`reveal`), kept in memory for the run only. After the load commits, the sync writes
`returning_private.member_keys` (hash -> email, user id) for reverse ETL (`warehouse/member_keys.py`).

Members erased by `returning-sync forget` (`returning_private.erasures`) are left out of every load,
whatever the API still serves (`Privacy.erased`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.context import RunContext
from pipelines.declared import MEMBER_ID, PII, PII_TEXT
from pipelines.errors import ConfigError, register_secret
from warehouse.configuration import SECTION, Found, Lookup, as_names, as_number, as_text
from warehouse.connection import Connection
from warehouse.private import HEX64, erased_hashes, write_member_keys

KEEP, HASH, DROP = "keep", "hash", "drop"
ACTIONS = (KEEP, HASH, DROP)
PRIVACY_SECTION = (*SECTION, "privacy")
USERS_CHILDREN_EMAIL = "email"  # the users column the fan-outs read to call the API
HISTORY_FIELD, HISTORY_VALUES = "field", ("value", "previousValue")  # user_field_histories


def normal(name: str) -> str:
    """A column name as the warehouse spells it (dlt's snake_case): `userId` -> `user_id`."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention().normalize_path(name)


@dataclass(frozen=True)
class Policy:
    """What happens to each PII column (`action`), with the key hashes are made with."""

    pii: str = KEEP  # the action for every declared PII column
    columns: Mapping[str, str] = field(default_factory=dict)  # "table.column" (warehouse names) -> action
    personal_fields: tuple[str, ...] = ()
    hmac_key: str = field(default="", repr=False)
    erase_deleted_after_days: int | None = None
    analyst_password: str = field(default="", repr=False)  # `share`: the returning_analyst role's login (servers)
    erase_message_text: bool = False  # forget: delete a member's messages (default: keep the text, hash the author)
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        register_secret(self.hmac_key)
        register_secret(self.analyst_password)
        for where, action in [("pii", self.pii), *self.columns.items()]:
            if action not in ACTIONS:
                raise ConfigError(f"privacy {where} must be keep, hash or drop, got {action!r}{self._from('pii', 'columns')}")
        for name in self.columns:
            if name.count(".") != 1:
                raise ConfigError(f"privacy columns: {name!r} must name table.column (e.g. users.email)"
                                  f"{self._from('columns')}")
        if self.hashes and not self.hmac_key:
            raise ConfigError("privacy hashes columns but has no key: set hmac_key under "
                              "[sources.returning_ai.privacy] in .dlt/secrets.toml "
                              "(or SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY)")
        if self.hmac_key and len(self.hmac_key) < 16:
            raise ConfigError(f"privacy hmac_key must be at least 16 characters{self._from('hmac_key')}")
        if self.erase_deleted_after_days is not None and self.erase_deleted_after_days < 0:
            raise ConfigError(f"privacy erase_deleted_after_days must be >= 0 days"
                              f"{self._from('erase_deleted_after_days')}")

    def _from(self, *names: str) -> str:
        told = [self.origins[n] for n in names if n in self.origins]
        return f" (from {', '.join(told)})" if told else ""

    def declared(self, table: str) -> tuple[str, ...]:
        """The table's PII columns (warehouse names): declared, plus personal custom fields."""
        names = [normal(c) for c in PII.get(table, ())]
        if table == "users":
            names += [normal(f) for f in self.personal_fields]
        return tuple(dict.fromkeys(names))

    def action(self, table: str, column: str) -> str:
        column = normal(column)
        told = self.columns.get(f"{table}.{column}")
        if told is not None:
            return told
        return self.pii if column in self.declared(table) else KEEP

    def table_actions(self, table: str) -> dict[str, str]:
        """Warehouse column -> hash or drop, for the table's columns that are not kept."""
        names = list(self.declared(table)) + [c.split(".", 1)[1] for c in self.columns if c.split(".", 1)[0] == table]
        return {c: a for c in dict.fromkeys(names) if (a := self.action(table, c)) != KEEP}

    @property
    def hashes(self) -> bool:
        return self.pii == HASH or HASH in self.columns.values()

    @property
    def active(self) -> bool:
        return self.pii != KEEP or any(a != KEEP for a in self.columns.values())

    @property
    def hashes_all_pii(self) -> bool:
        """Every declared PII column is hashed before it lands (the models then hold only hashes)."""
        kept = [k for k, a in self.columns.items() if a == KEEP and k.split(".", 1)[1] in self.declared(k.split(".", 1)[0])]
        return self.pii == HASH and not kept

    @property
    def share_hashed(self) -> tuple[str, ...]:
        """The PII columns the analysts' share keeps (as hashes): all of them when every one is hashed
        before it lands, else none (warehouse/share.py)."""
        from warehouse.share import PII_COLUMNS

        return PII_COLUMNS if self.hashes_all_pii else ()

    def email_action(self) -> str:
        return self.action("users", "email")

    def digest(self, value: Any) -> str:
        """HMAC-SHA256 of the value's text under the key, 64 hex characters."""
        return hmac.new(self.hmac_key.encode(), str(value).encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> Policy:
        """The policy in the project's one order (`warehouse.configuration`), under
        `sources.returning_ai.privacy` (`SOURCES__RETURNING_AI__PRIVACY__PII`, ...)."""
        lookup = Lookup(explicit, environ, error=ConfigError, section=PRIVACY_SECTION)
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name, parse in PARSERS.items():
            found = lookup.first(name, secret=name in ("hmac_key", "analyst_password"))
            if found is not None:
                values[name] = parse(found)
                origins[name] = found.origin
        return cls(**values, origins=origins)


def _action(found: Found) -> str:
    return as_text(found, ConfigError).strip().lower()


def _columns(found: Found) -> dict[str, str]:
    value = found.value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"{found.origin} must be a table of table.column = action") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{found.origin} must be a table of table.column = action")
    out: dict[str, str] = {}
    for key, action in value.items():
        if isinstance(action, Mapping):  # [sources.returning_ai.privacy.columns.users] email = "hash"
            for column, inner in action.items():
                out[f"{key}.{normal(column)}"] = str(inner).strip().lower()
        else:
            table, _, column = str(key).partition(".")
            out[f"{table}.{normal(column)}" if column else table] = str(action).strip().lower()
    return out


def _names(found: Found) -> tuple[str, ...]:
    return as_names(found, "field names", ConfigError)


def _days(found: Found) -> int | None:
    if isinstance(found.value, str) and found.value.strip().lower() in ("off", "none", ""):
        return None
    return as_number(found, int, ConfigError)


def _flag(found: Found) -> bool:
    value = found.value
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{found.origin} must be true or false, got {value!r}")


PARSERS: dict[str, Callable[[Found], Any]] = {
    "pii": _action, "columns": _columns, "personal_fields": _names,
    "hmac_key": lambda f: as_text(f, ConfigError), "erase_deleted_after_days": _days,
    "erase_message_text": _flag, "analyst_password": lambda f: as_text(f, ConfigError),
}


# -- one run -------------------------------------------------------------------------------------

class Privacy:
    """The policy applied to one run's resources, with what the run learnt (hash -> email)."""

    def __init__(self, policy: Policy, ctx: RunContext | None = None, erased: Iterable[str] | None = None) -> None:
        self.policy = policy
        self.ctx = ctx
        self._erased = None if erased is None else frozenset(erased)
        self._lock = threading.Lock()
        self.keys: dict[str, tuple[str, str | None]] = {}  # email hash -> (email, user id), this run
        self.by_id: dict[str, str] = {}  # user id -> email, when email is dropped (this run, in memory)
        self._committing = False

    @property
    def erased(self) -> frozenset[str]:
        """Hashes of the erased members' ids and addresses (`returning_private.erasures`), read once."""
        with self._lock:
            if self._erased is None:
                self._erased = frozenset()
                with run_connection(self.ctx) as con:
                    if con is not None:
                        self._erased = frozenset(erased_hashes(con))
            return self._erased

    def member_hash(self, value: Any) -> str:
        return member_hash(self.policy, value)

    def apply(self, resource: DltResource) -> DltResource:
        """Add the policy's step to `resource` (nothing when it can change nothing); a fan-out of
        users gets its page with the real addresses back."""
        name = resource.name
        parent = resource._pipe.parent
        if parent is not None and parent.name == "users" and self.policy.email_action() != KEEP:
            self._reveal_for(resource)
        if not self.policy.table_actions(name) and name not in MEMBER_ID:
            return resource
        if name == "users" and self.policy.email_action() == HASH and self.ctx is not None and not self._committing:
            self._committing = True
            self.ctx.tracker.after_load(self.commit_keys)

        def step(item: Any) -> Any:
            return self.transform(name, item)

        resource.add_map(step)
        return resource

    def commit_keys(self) -> None:
        """After the load: `returning_private.member_keys` gets this run's hashes and addresses."""
        with self._lock:
            keys, self.keys = dict(self.keys), {}
        if not keys:
            return
        with run_connection(self.ctx) as con:
            if con is not None:
                write_member_keys(con, keys)

    # -- rows ------------------------------------------------------------------------------------
    def transform(self, table: str, item: Any) -> Any:
        if not self.policy.table_actions(table) and not self.erased and not self._histories(table):
            return item
        if isinstance(item, pa.Table):
            return self._arrow(table, item)
        if isinstance(item, list):
            return [r for r in (self._row(table, r) for r in item) if r is not None]
        if isinstance(item, dict):
            return self._row(table, item)
        return item  # dlt's markers (an empty table's hints)

    def _names(self, table: str, columns: Iterable[str]) -> dict[str, str]:
        """Actual column -> action for the columns of an item."""
        actions = self.policy.table_actions(table)
        return {c: actions[normal(c)] for c in columns if normal(c) in actions}

    def _hash(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and HEX64.fullmatch(value)):
            return value  # already a hash (a tombstone re-emitted from the warehouse)
        return self.policy.digest(value)

    def _remember_ids(self, table: str, column: str, values: list[Any], ids: list[Any] | None) -> None:
        """users.email dropped: the fan-outs still need each member's address, by id (this run only)."""
        if table != "users" or normal(column) != "email" or ids is None:
            return
        with self._lock:
            for value, user_id in zip(values, ids, strict=True):
                if value is not None and user_id is not None:
                    self.by_id[str(user_id)] = str(value)

    def _remember(self, table: str, column: str, values: list[Any], hashes: list[Any], ids: list[Any] | None) -> None:
        if table != "users" or normal(column) != "email":
            return
        with self._lock:
            for i, (value, digest) in enumerate(zip(values, hashes, strict=True)):
                if value is not None and digest != value:
                    self.keys[digest] = (str(value), str(ids[i]) if ids is not None and ids[i] is not None else None)

    def _erased_row(self, table: str, row: Mapping[str, Any]) -> bool:
        if not self.erased:
            return False
        member = MEMBER_ID.get(table)
        if member and row.get(member) is not None and self.member_hash(row[member]) in self.erased:
            return True
        return any(row.get(c) is not None and self.member_hash(row[c]) in self.erased
                   for c in PII.get(table, ()) if c in row)

    def _histories(self, table: str) -> bool:
        """A personal custom field's history holds its values: treated as the field itself."""
        return table == "user_field_histories" and bool(self.policy.personal_fields) and self.policy.pii != KEEP

    def _history(self, row: dict[str, Any]) -> dict[str, Any]:
        action = self.policy.action("users", str(row.get(HISTORY_FIELD) or ""))
        if action == KEEP or normal(str(row.get(HISTORY_FIELD) or "")) not in \
                {normal(f) for f in self.policy.personal_fields}:
            return row
        out = dict(row)
        for column in HISTORY_VALUES:
            if column in out:
                out[column] = None if action == DROP else self._hash(out[column])
        return out

    def _row(self, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
        if self._erased_row(table, row):
            return None
        if self._histories(table):
            row = self._history(row)
        names = self._names(table, row)
        if not names:
            return row
        out = dict(row)
        replaced: dict[str, str] = {}
        for column, action in names.items():
            value = out.get(column)
            if action == DROP:
                out.pop(column, None)
                if isinstance(value, str) and value:
                    replaced[value] = ""
            else:
                digest = self._hash(value)
                out[column] = digest
                if isinstance(value, str) and value and digest != value:
                    replaced[value] = digest
                self._remember(table, column, [value], [digest], [row.get(MEMBER_ID.get(table, "_id"))])
        for column in PII_TEXT.get(table, ()):
            if isinstance(out.get(column), str):
                out[column] = scrub(out[column], replaced)
        return out

    def _arrow(self, table: str, data: pa.Table) -> pa.Table:
        if self.erased and data.num_rows:
            data = data.filter(pa.array([not self._erased_row(table, r) for r in _rows_for_erasure(table, data)],
                                        pa.bool_()))
        names = self._names(table, data.column_names)
        if not names or data.num_rows == 0 and not any(a == DROP for a in names.values()):
            return data
        member = MEMBER_ID.get(table, "_id")
        ids = data.column(member).to_pylist() if member in data.column_names else None
        texts = {c: data.column(c).to_pylist() for c in PII_TEXT.get(table, ()) if c in data.column_names}
        replaced: list[dict[str, str]] = [{} for _ in range(data.num_rows)] if texts else []
        for column, action in names.items():
            values = data.column(column).to_pylist()
            if action == DROP:
                new = pa.nulls(data.num_rows, pa.string())
                hashes = ["" for _ in values]
                self._remember_ids(table, column, values, ids)
            else:
                hashes = [self._hash(v) for v in values]
                new = pa.array(hashes, pa.string())
                self._remember(table, column, values, hashes, ids)
            if texts:
                for i, (value, digest) in enumerate(zip(values, hashes, strict=True)):
                    if isinstance(value, str) and value and value != digest:
                        replaced[i][value] = digest
            index = data.column_names.index(column)
            field_ = pa.field(column, pa.string())
            data = data.set_column(index, field_, new)
        for column, values in texts.items():
            scrubbed = [scrub(v, replaced[i]) if isinstance(v, str) else v for i, v in enumerate(values)]
            data = data.set_column(data.column_names.index(column), data.schema.field(column),
                                   pa.array(scrubbed, data.schema.field(column).type))
        return data

    # -- the fan-outs of users ---------------------------------------------------------------------
    def _reveal_for(self, resource: DltResource) -> None:
        pipe = resource._pipe
        gen = pipe.gen

        def step(item: Any, *, meta: Any = None) -> Any:
            return gen(self.reveal(item), meta=meta)

        step.__name__ = step.__qualname__ = getattr(gen, "__name__", resource.name)
        pipe.replace_gen(step)

    def reveal(self, page: Any) -> Any:
        """A users page with its hashed (or dropped) emails back as addresses, as this run read them."""
        if not isinstance(page, pa.Table) or USERS_CHILDREN_EMAIL not in page.column_names:
            return page
        with self._lock:
            known, by_id = dict(self.keys), dict(self.by_id)
        values = page.column(USERS_CHILDREN_EMAIL).to_pylist()
        if by_id and "_id" in page.column_names:
            real = [by_id.get(str(i), v) for i, v in zip(page.column("_id").to_pylist(), values, strict=True)]
        else:
            real = [known[v][0] if v in known else v for v in values]
        return page.set_column(page.column_names.index(USERS_CHILDREN_EMAIL),
                               pa.field(USERS_CHILDREN_EMAIL, pa.string()), pa.array(real, pa.string()))


@contextmanager
def run_connection(ctx: RunContext | None) -> Iterator[Connection | None]:
    """The running pipeline's warehouse as the port's connection (None outside a run); on a server
    what it wrote commits when the block ends."""
    pipeline = ctx.pipeline() if ctx is not None else None
    if pipeline is None or ctx is None:
        yield None
        return
    location = ctx.settings.location
    with pipeline.sql_client() as client:
        if location.embedded:
            yield Connection(location, client.native_connection)
            return
        con = Connection(location, client.native_connection, sql_client=client)
        with con.transaction():
            yield con


def _rows_for_erasure(table: str, data: pa.Table) -> list[dict[str, Any]]:
    wanted = [c for c in (MEMBER_ID.get(table), *PII.get(table, ())) if c and c in data.column_names]
    if not wanted:
        return [{} for _ in range(data.num_rows)]
    return data.select(wanted).to_pylist()


def scrub(text: str, replaced: Mapping[str, str]) -> str:
    """`text` with each PII value in it replaced (longest first, so an address's name part stays whole)."""
    for value in sorted(replaced, key=len, reverse=True):
        if value in text:
            text = text.replace(value, replaced[value])
    return text


ERASURE_SALT = "returning-sync erasure"


def member_hash(policy: Policy, value: Any) -> str:
    """How an erased member is recorded (`returning_private.erasures`), recognised by later syncs and
    replaced where their rows stay (a message's author): HMAC-SHA256 of the id or the lower-cased
    address, prefixed apart from the PII policy's hashes (so an erased member's hash is not the one
    the raw tables held), under the privacy key, else under a fixed salt (then the list holds no
    address, but one could be guessed from it: set `hmac_key` to prevent that)."""
    key = (policy.hmac_key or ERASURE_SALT).encode()
    text = str(value).strip().lower() if "@" in str(value) else str(value)
    return hmac.new(key, ("erased\x00" + text).encode(), hashlib.sha256).hexdigest()


__all__ = ["DROP", "HASH", "KEEP", "Policy", "Privacy", "member_hash", "normal", "scrub"]
