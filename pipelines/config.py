"""Settings of the client and the sync, resolved by dlt when a run starts (`Settings.from_env`).

Every setting resolves in the project's one order (`warehouse.configuration`): an explicit argument,
then its `RETURNING_*` environment variable (docs/interfaces.md; the table `ALIASES`, dlt's
`ReturningAliases` provider), then dlt's providers under `sources.returning_ai`
(`SOURCES__RETURNING_AI__<FIELD>`, `.dlt/secrets.toml`, `.dlt/config.toml`, ...; the key is the
field's name), then the default. A bad value ends in one
`ConfigError` line naming the setting and where it came from, never the key.

The API key never appears in `repr`, `str` or any message (see `errors.scrub`)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError, register_secret
from pipelines.registry import Endpoint, build_registry
from pipelines.skips import check_disabled
from warehouse.configuration import Found, Lookup, aliases_of, as_names, as_number, as_text
from warehouse.location import (
    DEFAULT_COMMUNITY,
    DEFAULT_DESTINATION,
    DEFAULT_WAREHOUSE,
    LOCATION_ALIASES,
    WarehouseLocation,
)

PRODUCTION_URLS = {
    "integration": "https://integration.returning.ai",
    "partner": "https://api.returning.ai",
    "application": "https://application.returning.ai",
}

COMMUNITY_ID = re.compile(r"[0-9a-fA-F]{24}")  # a MongoDB ObjectId, as every id of the API
# setting -> its documented environment variable (`base_url`: every surface whose own URL is unset)
ALIASES: Mapping[str, str] = {
    **aliases_of("api_key", "base_url", *(f"{surface}_url" for surface in PRODUCTION_URLS), "community_id"),
    **LOCATION_ALIASES,
    **aliases_of("concurrency", "timeout", "max_attempts", "backoff_base", "backoff_max", "rate_limit",
                 "lookback_seconds", "lookback_days", "daily_lookback_days", "history_days", "lock_wait",
                 "duckdb_memory_limit", "registry_overrides", "disabled"),
}


@dataclass(frozen=True)
class Settings:
    api_key: str = field(repr=False)
    integration_url: str = PRODUCTION_URLS["integration"]
    partner_url: str = PRODUCTION_URLS["partner"]
    application_url: str = PRODUCTION_URLS["application"]
    community_id: str | None = None
    warehouse: Path = Path(DEFAULT_WAREHOUSE)  # the DuckDB file; on any destination, dlt's local state beside it
    destination: str = DEFAULT_DESTINATION  # any dlt destination (RETURNING_DESTINATION)
    concurrency: int = 4
    timeout: float = 30.0
    max_attempts: int = 8
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    rate_limit: float | None = None  # requests per second; None: follow the server's X-RateLimit-* only
    lookback_seconds: float = 3600.0  # timestamp cursors re-read this far back (late data)
    lookback_days: int = 1  # loyalty overview and activity stats re-read this many days before the last run's day
    daily_lookback_days: int = 0  # daily history re-reads its last loaded day plus this many before it
    history_days: int = 90  # how far back a first run reaches when no start date is given
    lock_wait: float = 0.0  # seconds a sync waits for another one on the same warehouse before refusing
    # DuckDB's memory during a sync (it spills to disk beyond it): keeps a 1M-user sync under 1 GB.
    # RETURNING_SYNC_DUCKDB_MEMORY_LIMIT=off leaves DuckDB's own default (80% of RAM).
    duckdb_memory_limit: str | None = "512MB"
    registry_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # datasets not read at all (an endpoint the API does not serve, a permission the key will not get):
    # `disabled = ["user_field_histories"]` under [sources.returning_ai], or RETURNING_SYNC_DISABLED=a,b
    disabled: tuple[str, ...] = ()
    # setting -> where its value came from (`RETURNING_SYNC_CONCURRENCY in the environment`), for messages
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # False: work that makes no API call (a push's dry run) may go without a key; the client then
    # refuses to send anything (`missing_key`)
    key_required: bool = field(default=True, repr=False, compare=False)
    # whose warehouse schemas these settings reach (`pipelines.communities`; not a setting of its own)
    community: str = DEFAULT_COMMUNITY
    destination_name: str | None = None  # the community's own server database (dlt's named destination)

    def __post_init__(self) -> None:
        register_secret(self.api_key)
        if not self.api_key and self.key_required:
            raise missing_key()
        if any(c.isspace() for c in self.api_key):
            raise ConfigError(f"the API key contains whitespace{self._from('api_key')}: paste the key alone")
        if self.community_id is not None and not COMMUNITY_ID.fullmatch(str(self.community_id)):
            raise ConfigError(f"{self._name('community_id')} must be the community's id, 24 hex characters "
                              f"(e.g. 6502c9e514a3e564c5c09c0a), got {self.community_id!r}{self._from('community_id')}")
        for name in ("integration_url", "partner_url", "application_url"):
            url = getattr(self, name)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(f"{name.replace('_', ' ')} must start with http:// or https://, "
                                  f"got {url!r}{self._from(name)}")
        if self.concurrency < 1 or self.concurrency > 64:
            raise ConfigError(f"concurrency must be between 1 and 64, got {self.concurrency}{self._from('concurrency')}")
        if self.timeout <= 0 or self.max_attempts < 1:
            raise ConfigError("timeout must be positive and max_attempts at least 1"
                              f"{self._from('timeout', 'max_attempts')}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ConfigError(f"rate limit must be positive requests per second, got {self.rate_limit}"
                              f"{self._from('rate_limit')}")
        if self.duckdb_memory_limit is not None and not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", self.duckdb_memory_limit):
            raise ConfigError(f"duckdb_memory_limit must look like 512MB or 2GB (or off), "
                              f"got {self.duckdb_memory_limit!r}{self._from('duckdb_memory_limit')}")
        if self.lock_wait < 0:
            raise ConfigError(f"lock_wait must be >= 0 seconds, got {self.lock_wait}{self._from('lock_wait')}")
        if min(self.lookback_seconds, self.lookback_days, self.daily_lookback_days) < 0 or not 1 <= self.history_days <= 3650:
            raise ConfigError("lookbacks must be >= 0 and history_days between 1 and 3650"
                              f"{self._from('lookback_seconds', 'lookback_days', 'daily_lookback_days', 'history_days')}")
        try:
            object.__setattr__(self, "disabled", check_disabled(self.disabled))
        except ValueError as exc:
            raise ConfigError(f"disabled: {exc}{self._from('disabled')}") from None
        try:  # validate overrides now: one ConfigError naming the endpoint, the option and where it was set
            self.registry  # noqa: B018
        except ConfigError as exc:  # (passed in code: nothing to point at)
            told = "" if self.origins.get("registry_overrides", "").endswith("as an argument") else \
                self._from("registry_overrides")
            raise ConfigError(f"{exc}{told}") from None

    def _name(self, setting: str) -> str:
        """The name the setting was given under (`RETURNING_AI_COMMUNITY_ID`), else its own."""
        origin = self.origins.get(setting)
        return origin.split(" ", 1)[0] if origin else setting

    def _from(self, *names: str) -> str:
        """` (from RETURNING_SYNC_CONCURRENCY in the environment)`: where the named settings were set."""
        told = [self.origins[n] for n in names if n in self.origins]
        return f" (from {', '.join(told)})" if told else ""

    def __str__(self) -> str:
        return repr(self)

    @property
    def location(self) -> WarehouseLocation:
        """Where the warehouse is (the one decision: `warehouse.location`)."""
        return WarehouseLocation(destination=self.destination, path=Path(self.warehouse), community=self.community,
                                 destination_name=self.destination_name)

    @cached_property
    def registry(self) -> dict[str, Endpoint]:
        return build_registry(self.registry_overrides)

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.registry[name]
        except KeyError:
            raise ConfigError(f"unknown endpoint {name!r}") from None

    def base_url(self, surface: str) -> str:
        return str(getattr(self, f"{surface}_url")).rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, providers: bool | None = None,
                 key_required: bool = True, **explicit: Any) -> Settings:
        """The settings in the one order: `explicit` (None = unset; `base_url` sets every surface),
        `RETURNING_*` in `environ`, dlt's providers, defaults. `environ` None: the process
        environment and dlt's providers; a mapping: that mapping alone. `providers=False` leaves
        dlt's providers out (explicit values and the `RETURNING_*` variables only). `key_required=False`: no key
        is no error (for work that makes no API call)."""
        unknown = set(explicit) - SETTINGS - {"base_url"}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls.from_lookup(Lookup(explicit, environ, providers=providers, error=ConfigError),
                               key_required=key_required)

    @classmethod
    def from_lookup(cls, lookup: Lookup, *, key_required: bool = True) -> Settings:
        """The settings as `lookup` resolves them (`from_env`; a community's block over the
        top-level settings: `pipelines.communities`)."""
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name in sorted(SETTINGS - set(LOCATION_ALIASES)):
            names = (name, "base_url") if name.endswith("_url") else (name,)
            found = lookup.first(*names, secret=name == "api_key")
            if found is not None:
                values[name] = PARSERS.get(name, _text)(found)
                origins[name] = _origin(found)
        location = WarehouseLocation.resolve(lookup)
        values["warehouse"], values["destination"] = location.path, location.destination
        return cls(**{"api_key": "", **values}, origins=origins, key_required=key_required)


def missing_key(needed_by: str = "") -> ConfigError:
    """No API key anywhere (`needed_by`: what asked for one)."""
    return ConfigError("RETURNING_AI_API_KEY is not set (nor SOURCES__RETURNING_AI__API_KEY, nor api_key "
                       "under [sources.returning_ai] in .dlt/secrets.toml)"
                       f"{f'; {needed_by} calls the API' if needed_by else ''}: "
                       "create a key under community settings > API keys")


def load_overrides(spec: str, origin: str) -> dict[str, Any]:
    """Registry overrides from inline JSON, or from a .toml / .json file path (`origin`: where the
    spec was set, for messages)."""
    text = spec.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
        else:
            path = Path(text)
            if not path.is_file():
                raise ConfigError(f"{origin}: no such file {path}")
            raw = path.read_text(encoding="utf-8")
            data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{origin} is not valid TOML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} must hold a table of endpoint names")
    return data


def _origin(found: Found) -> str:
    """Where a setting came from, for messages: the file an overrides spec names, and where it was named."""
    spec = found.value.strip() if isinstance(found.value, str) else ""
    if found.name.lower().endswith("registry_overrides") and spec and not spec.startswith("{"):
        return f"{Path(spec).resolve()}, named by {found.origin}"
    return found.origin


def _text(found: Found) -> str:
    return as_text(found, ConfigError)


def _number(kind: type[int] | type[float]) -> Callable[[Found], Any]:
    return lambda found: as_number(found, kind, ConfigError)


def _memory_limit(found: Found) -> str | None:
    text = _text(found)
    return None if text.lower() in ("off", "none", "default") else text


def _names(found: Found) -> tuple[str, ...]:
    return as_names(found, "dataset names", ConfigError)


def _overrides(found: Found) -> Mapping[str, Any]:
    if isinstance(found.value, Mapping):  # a table in .dlt/config.toml, or a mapping passed in code
        return found.value
    return load_overrides(_text(found), found.origin)


SETTINGS = frozenset(f.name for f in fields(Settings)) - {"origins", "key_required", "community", "destination_name"}
PARSERS: dict[str, Callable[[Found], Any]] = {
    **{name: _number(int) for name in ("concurrency", "max_attempts", "lookback_days", "daily_lookback_days",
                                       "history_days")},
    **{name: _number(float) for name in ("timeout", "backoff_base", "backoff_max", "rate_limit",
                                         "lookback_seconds", "lock_wait")},
    "duckdb_memory_limit": _memory_limit,
    "registry_overrides": _overrides,
    "disabled": _names,
}
