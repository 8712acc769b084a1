"""Settings of the client and the sync, read from the environment (shared/interfaces.md).

The API key never appears in `repr`, `str` or any message (see `errors.scrub`)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError, register_secret
from pipelines.registry import Endpoint, build_registry
from warehouse.location import DEFAULT_DESTINATION, DEFAULT_WAREHOUSE, WarehouseLocation

PRODUCTION_URLS = {
    "integration": "https://integration.returning.ai",
    "partner": "https://api.returning.ai",
    "application": "https://application.returning.ai",
}

# env var -> (field, parser)
_NUMERIC_ENV: dict[str, tuple[str, type]] = {
    "RETURNING_SYNC_CONCURRENCY": ("concurrency", int),
    "RETURNING_SYNC_TIMEOUT": ("timeout", float),
    "RETURNING_SYNC_MAX_ATTEMPTS": ("max_attempts", int),
    "RETURNING_SYNC_BACKOFF_BASE": ("backoff_base", float),
    "RETURNING_SYNC_BACKOFF_MAX": ("backoff_max", float),
    "RETURNING_SYNC_RATE_LIMIT": ("rate_limit", float),
    "RETURNING_SYNC_LOOKBACK_SECONDS": ("lookback_seconds", float),
    "RETURNING_SYNC_LOOKBACK_DAYS": ("lookback_days", int),
    "RETURNING_SYNC_DAILY_LOOKBACK_DAYS": ("daily_lookback_days", int),
    "RETURNING_SYNC_HISTORY_DAYS": ("history_days", int),
    "RETURNING_SYNC_LOCK_WAIT": ("lock_wait", float),
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

    def __post_init__(self) -> None:
        register_secret(self.api_key)
        if not self.api_key:
            raise ConfigError("RETURNING_AI_API_KEY is not set (environment or .dlt/secrets.toml): "
                              "create a key under community settings > API keys")
        if any(c.isspace() for c in self.api_key):
            raise ConfigError("RETURNING_AI_API_KEY contains whitespace: paste the key alone")
        for name in ("integration_url", "partner_url", "application_url"):
            url = getattr(self, name)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(f"{name.replace('_', ' ')} must start with http:// or https://, got {url!r}")
        if self.concurrency < 1 or self.concurrency > 64:
            raise ConfigError(f"concurrency must be between 1 and 64, got {self.concurrency}")
        if self.timeout <= 0 or self.max_attempts < 1:
            raise ConfigError("timeout must be positive and max_attempts at least 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ConfigError(f"rate limit must be positive requests per second, got {self.rate_limit}")
        if self.duckdb_memory_limit is not None and not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", self.duckdb_memory_limit):
            raise ConfigError(f"RETURNING_SYNC_DUCKDB_MEMORY_LIMIT must look like 512MB or 2GB, got {self.duckdb_memory_limit!r}")
        if self.lock_wait < 0:
            raise ConfigError(f"RETURNING_SYNC_LOCK_WAIT must be >= 0 seconds, got {self.lock_wait}")
        if min(self.lookback_seconds, self.lookback_days, self.daily_lookback_days) < 0 or not 1 <= self.history_days <= 3650:
            raise ConfigError("lookbacks must be >= 0 and history_days between 1 and 3650")
        try:
            self.registry  # noqa: B018 - validate overrides now, with one clear line
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def __str__(self) -> str:
        return repr(self)

    @property
    def location(self) -> WarehouseLocation:
        """Where the warehouse is (the one decision: `warehouse.location`)."""
        return WarehouseLocation(destination=self.destination, path=Path(self.warehouse))

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
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"api_key": env.get("RETURNING_AI_API_KEY", "").strip()}
        if not values["api_key"] and environ is None:
            values["api_key"] = key_from_secrets_file()
        base = env.get("RETURNING_AI_BASE_URL")
        for surface in PRODUCTION_URLS:
            url = env.get(f"RETURNING_AI_{surface.upper()}_URL") or base
            if url:
                values[f"{surface}_url"] = url
        if env.get("RETURNING_AI_COMMUNITY_ID"):
            values["community_id"] = env["RETURNING_AI_COMMUNITY_ID"].strip()
        location = WarehouseLocation.from_env(env)
        values["warehouse"], values["destination"] = location.path, location.destination
        for var, (name, parse) in _NUMERIC_ENV.items():
            raw = env.get(var)
            if raw:
                try:
                    values[name] = parse(raw)
                except ValueError:
                    raise ConfigError(f"{var} must be a {parse.__name__}, got {raw!r}") from None
        if env.get("RETURNING_SYNC_DUCKDB_MEMORY_LIMIT"):
            limit = env["RETURNING_SYNC_DUCKDB_MEMORY_LIMIT"].strip()
            values["duckdb_memory_limit"] = None if limit.lower() in ("off", "none", "default") else limit
        if env.get("RETURNING_SYNC_REGISTRY_OVERRIDES"):
            values["registry_overrides"] = load_overrides(env["RETURNING_SYNC_REGISTRY_OVERRIDES"])
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("warehouse"), str):
            values["warehouse"] = Path(values["warehouse"])
        return cls(**values)


SECRETS_FILE = Path(".dlt") / "secrets.toml"  # dlt's place for secrets, git-ignored


def key_from_secrets_file(path: Path = SECRETS_FILE) -> str:
    """`RETURNING_AI_API_KEY = "..."` from `.dlt/secrets.toml` in the working directory ('' if absent)."""
    if not path.is_file():
        return ""
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("RETURNING_AI_API_KEY", "")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if not isinstance(value, str):
        raise ConfigError(f"RETURNING_AI_API_KEY in {path} must be a string")
    return value.strip()


def load_overrides(spec: str) -> dict[str, Any]:
    """Registry overrides from inline JSON, or from a .toml / .json file path."""
    text = spec.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
        else:
            path = Path(text)
            if not path.is_file():
                raise ConfigError(f"RETURNING_SYNC_REGISTRY_OVERRIDES: no such file {path}")
            raw = path.read_text(encoding="utf-8")
            data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"RETURNING_SYNC_REGISTRY_OVERRIDES is not valid TOML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("RETURNING_SYNC_REGISTRY_OVERRIDES must hold a table of endpoint names")
    return data
