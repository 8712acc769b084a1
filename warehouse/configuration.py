"""Every setting of the project is resolved by dlt, under the section `sources.returning_ai`
(`dlt.secrets` for secrets, `dlt.config` for the rest), in this order:

1. an explicit argument (code, a Dagster resource's field, a command-line flag);
2. the documented `RETURNING_*` environment variable (docs/interfaces.md): `ReturningAliases`, the
   dlt provider registered first, answers `sources.returning_ai.<name>` with its alias;
3. dlt's own providers, in dlt's order: the environment (`SOURCES__RETURNING_AI__CONCURRENCY`,
   Docker/Kubernetes secret files for the key), `.dlt/secrets.toml`, `.dlt/config.toml` (the
   project's `.dlt` folder as dlt finds it, then dlt's global folder), then any vault dlt is
   configured with; after the section's key, a top-level `RETURNING_*` key in them
   (`RETURNING_AI_API_KEY = "..."` in `.dlt/secrets.toml`);
4. the default.

Only the full section name counts: dlt's accessors look up the exact path, so a bare `API_KEY` or
`[sources] api_key` (another service's key) is never sent to Returning.AI, and `dlt.secrets` asks
only the providers that may hold secrets, never `config.toml`. Where a value came from is dlt's
own trace of the lookup (`Found.origin`, for messages; never the value).

Settings are resolved when a run starts; dlt's files are read again when they changed (or the
working directory did), so an edited `.dlt/config.toml` counts from the next run on. This module
lives in `warehouse/`, the lowest layer that reads settings, so the location can use it too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SECTION = ("sources", "returning_ai")
# setting under SECTION -> its documented variable (docs/interfaces.md): the one table, complete before any
# module that reads a setting is imported (a command that resolves `warehouse` before importing
# warehouse.location still hears RETURNING_WAREHOUSE); each module takes its part with `aliases_of`
ALIASES: dict[str, str] = {
    "api_key": "RETURNING_AI_API_KEY",
    "base_url": "RETURNING_AI_BASE_URL",
    "integration_url": "RETURNING_AI_INTEGRATION_URL",
    "partner_url": "RETURNING_AI_PARTNER_URL",
    "application_url": "RETURNING_AI_APPLICATION_URL",
    "community_id": "RETURNING_AI_COMMUNITY_ID",
    "destination": "RETURNING_DESTINATION",
    "warehouse": "RETURNING_WAREHOUSE",
    "concurrency": "RETURNING_SYNC_CONCURRENCY",
    "timeout": "RETURNING_SYNC_TIMEOUT",
    "max_attempts": "RETURNING_SYNC_MAX_ATTEMPTS",
    "backoff_base": "RETURNING_SYNC_BACKOFF_BASE",
    "backoff_max": "RETURNING_SYNC_BACKOFF_MAX",
    "rate_limit": "RETURNING_SYNC_RATE_LIMIT",
    "lookback_seconds": "RETURNING_SYNC_LOOKBACK_SECONDS",
    "lookback_days": "RETURNING_SYNC_LOOKBACK_DAYS",
    "daily_lookback_days": "RETURNING_SYNC_DAILY_LOOKBACK_DAYS",
    "history_days": "RETURNING_SYNC_HISTORY_DAYS",
    "lock_wait": "RETURNING_SYNC_LOCK_WAIT",
    "duckdb_memory_limit": "RETURNING_SYNC_DUCKDB_MEMORY_LIMIT",
    "registry_overrides": "RETURNING_SYNC_REGISTRY_OVERRIDES",
    "disabled": "RETURNING_SYNC_DISABLED",
    "push_max_rejection_rate": "RETURNING_PUSH_MAX_REJECTION_RATE",
    "push_stale_job_minutes": "RETURNING_PUSH_STALE_JOB_MINUTES",
    "webhook_key": "RETURNING_WEBHOOK_KEY",
    "webhook_aes_key": "RETURNING_WEBHOOK_AES_KEY",
    "webhook_dir": "RETURNING_WEBHOOK_DIR",
    "models_dir": "RETURNING_MODELS_DIR",  # the user's folders beside the shipped ones (location.user_folders)
    "push_dir": "RETURNING_PUSH_DIR",
    "seeds_dir": "RETURNING_SEEDS_DIR",
}
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("returning_aliases_environ", default=None)


def aliases_of(*names: str) -> Mapping[str, str]:
    """Part of the table: `setting -> variable` for `names`."""
    return {name: ALIASES[name] for name in names}


@dataclass(frozen=True)
class Found:
    """A setting's raw value, the name it was given under and where that was."""

    value: Any
    name: str  # as the user wrote it: `RETURNING_SYNC_CONCURRENCY`, `sources.returning_ai.concurrency`
    where: str  # `argument`, `environment`, `/srv/app/.dlt/config.toml`, ...

    @property
    def place(self) -> str:
        """`in the environment`, `in /srv/app/.dlt/config.toml`, `as an argument`."""
        return {"argument": "as an argument", "environment": "in the environment"}.get(self.where, f"in {self.where}")

    @property
    def origin(self) -> str:
        """`RETURNING_SYNC_CONCURRENCY in the environment`: for messages (never the value)."""
        return f"{self.name} {self.place}"


def _provider_class() -> type:
    from dlt.common.configuration.providers import ConfigProvider

    class ReturningAliases(ConfigProvider):
        """The documented `RETURNING_*` variables, as a dlt provider: `sources.returning_ai.<name>`
        is the variable `ALIASES[name]` (a blank one is unset). The only reader of those variables."""

        NAME = "RETURNING_* environment variables"

        def get_value(self, key: str, hint: Any, pipeline_name: str | None, *sections: str) -> tuple[Any, str]:
            alias = ALIASES.get(key)
            if alias is None or pipeline_name or tuple(sections) != SECTION:
                return None, alias or key
            environ = _environ.get()
            value = (os.environ if environ is None else environ).get(alias)
            return (None if value is None or not value.strip() else value), alias

        @property
        def supports_secrets(self) -> bool:
            return True  # the environment, as dlt's own EnvironProvider

        @property
        def supports_sections(self) -> bool:
            return True

        @property
        def name(self) -> str:
            return self.NAME

    return ReturningAliases


class Lookup:
    """Resolves settings of one section through dlt: `explicit` first (None = unset), then dlt's
    accessors. `environ` None: the process environment and all of dlt's providers; a mapping:
    the `RETURNING_*` names in that mapping alone (tests, callers that built an environment), with
    dlt's providers only if `providers` is True. `providers=False`: explicit values and the
    `RETURNING_*` variables only."""

    def __init__(self, explicit: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, *,
                 providers: bool | None = None, error: Callable[[str], Exception] = ValueError,
                 section: tuple[str, ...] = SECTION) -> None:
        self.explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
        self.environ = environ
        self.providers = environ is None if providers is None else providers
        self.error = error
        self.section = section
        self._ready = False

    def first(self, *names: str, secret: bool = False) -> Found | None:
        """The first value of any of `names` (each layer tries them in order), or None."""
        with aliases_from(self.environ):
            for found in self._candidates(names, secret):
                if not _blank(found.value):
                    return Found(found.value.strip() if isinstance(found.value, str) else found.value,
                                 found.name, found.where)
        return None

    def _candidates(self, names: tuple[str, ...], secret: bool) -> Iterator[Found]:
        for name in names:
            if name in self.explicit:
                yield Found(self.explicit[name], name, "argument")
        aliases = _alias_provider()  # the layer above dlt's own: a higher layer's name wins over all
        for name in names:
            value, alias = aliases.get_value(name, Any, None, *self.section)
            if value is not None:
                yield Found(value, alias, "environment")
        if not self.providers:
            return
        if not self._ready:
            _prepare(self.error)
            self._ready = True
        for name in names:
            yield from _ask(f"{'.'.join(self.section)}.{name}", secret)
        if self.section == SECTION:
            for name in names:
                if name in ALIASES:
                    yield from _ask(ALIASES[name], secret)


def configured(name: str, error: Callable[[str], Exception] = ValueError) -> Any:
    """A setting's raw value as it resolves now (the variable, then dlt's providers), or None."""
    found = Lookup(error=error).first(name)
    return None if found is None else found.value


@contextmanager
def aliases_from(environ: Mapping[str, str] | None) -> Iterator[None]:
    """Within the block, `ReturningAliases` reads `environ` (None: the process environment)."""
    token = _environ.set(environ)
    try:
        yield
    finally:
        _environ.reset(token)


def _ask(field: str, secret: bool) -> Iterator[Found]:
    """dlt's value at `field` (`sources.returning_ai.concurrency`), with where dlt found it."""
    import dlt
    from dlt.common.configuration.utils import get_resolved_traces

    value = (dlt.secrets if secret else dlt.config).get(field)
    if value is None:
        return
    sections, key = tuple(field.split(".")[:-1]), field.split(".")[-1]
    traces = get_resolved_traces().resolved_traces
    trace = next((t for t in reversed(traces) if t.key == key and tuple(t.sections) == sections), None)
    yield Found(value, *_where(trace, key, sections))


def _where(trace: Any, key: str, sections: tuple[str, ...]) -> tuple[str, str]:
    """The name a value was given under and its place, from dlt's trace of the lookup."""
    import dlt
    from dlt.common.configuration.providers import EnvironProvider

    dotted = ".".join((*sections, key))
    if trace is None:
        return dotted, "dlt's providers"
    if trace.provider_name == _alias_provider().name:
        return ALIASES[key], "environment"
    provider = next((p for p in dlt.config.config_providers if p.name == trace.provider_name), None)
    if isinstance(provider, EnvironProvider):
        return EnvironProvider.get_key_name(key, *sections), "environment"
    return dotted, _file(provider, trace.provider_location) if provider is not None else trace.provider_name


def _file(provider: Any, origin: str) -> str:
    """The file a TOML provider's value came from: dlt names it `config.toml` (the project's) or
    `global:config.toml`; its present locations list the project's file first."""
    name = origin.removeprefix("global:")
    paths = [p for p in getattr(provider, "present_locations", []) if os.path.basename(p) == name]
    if not paths:
        return origin or provider.name
    return os.path.abspath(paths[-1] if origin.startswith("global:") else paths[0])


_ALIAS_PROVIDER: list[Any] = []
_files_read: tuple[Any, ...] | None = None  # the TOML files dlt's providers hold, as they were read
_preparing = threading.Lock()


def _alias_provider() -> Any:
    if not _ALIAS_PROVIDER:
        _ALIAS_PROVIDER.append(_provider_class()())
    return _ALIAS_PROVIDER[0]


def _prepare(error: Callable[[str], Exception]) -> None:
    """dlt's providers as a run starts: its TOML files read again when they changed since (another
    working directory, an edited file; dlt reads them once per process otherwise), and
    `ReturningAliases` registered first (once; again after dlt reloads its providers)."""
    global _files_read
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.providers.toml import CONFIG_TOML, SECRETS_TOML, TomlProviderReadException
    from dlt.common.configuration.specs import PluggableRunContext

    try:
        with _preparing:
            context = Container()[PluggableRunContext]
            folders = (context.context.settings_dir, context.context.global_dir)
            files = tuple(_stamp(os.path.abspath(os.path.join(folder, name)))
                          for folder in folders for name in (SECRETS_TOML, CONFIG_TOML))
            if files != _files_read:
                context.reload_providers()
                _files_read = files
            providers = context.providers.providers
            if not providers or providers[0] is not _alias_provider():
                providers[:] = [_alias_provider(), *(p for p in providers if p is not _alias_provider())]
    except TomlProviderReadException as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise error(f"{exc.file_name} is not valid TOML ({', '.join(exc.full_paths)}): {detail}") from None


def _stamp(path: str) -> tuple[str, tuple[int, int, int] | None]:
    try:
        stat = os.stat(path)
    except OSError:
        return path, None
    return path, (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(found: Found, error: Callable[[str], Exception]) -> str:
    if isinstance(found.value, os.PathLike):
        return os.fspath(found.value)
    if not isinstance(found.value, str):
        raise error(f"{found.origin} must be text, got a {type(found.value).__name__}")
    return found.value


def as_names(found: Found, what: str, error: Callable[[str], Exception]) -> tuple[str, ...]:
    """A list of names: a TOML list, or comma-separated text (the environment)."""
    value = found.value
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise error(f"{found.origin} must be a list of {what}, got {value!r}")


NUMBER_KINDS: dict[type, str] = {int: "a whole number", float: "a number"}


def as_number(found: Found, kind: type[int] | type[float], error: Callable[[str], Exception]) -> Any:
    """An int or float from text (the environment) or a TOML number; a bool or a fraction for an
    int is refused, with the setting's name and place, e.g. `RETURNING_SYNC_CONCURRENCY must be a
    whole number, got 'many' (in the environment)`."""
    value = found.value
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError
        number = kind(value)
        if kind is int and isinstance(value, float) and value != number:
            raise ValueError
        return number
    except ValueError:
        raise error(f"{found.name} must be {NUMBER_KINDS[kind]}, got {value!r} ({found.place})") from None


def subsections(name: str, error: Callable[[str], Exception] = ValueError,
                section: tuple[str, ...] = SECTION) -> dict[str, str]:
    """The tables configured under `section.name` (`sources.returning_ai.communities`) in any of dlt's
    providers, each with where it was first seen: the environment (`SOURCES__RETURNING_AI__COMMUNITIES__
    ACME__API_KEY` names `acme`) and every TOML file (dlt's accessors answer with the first provider's
    table only, so each provider is asked). A vault cannot be listed: a table only there is not seen."""
    import dlt
    from dlt.common.configuration.providers import EnvironProvider

    _prepare(error)
    found: dict[str, str] = {}
    prefix = EnvironProvider.get_key_name(name, *section) + "__"
    for provider in dlt.config.config_providers:
        if provider is _alias_provider():
            continue
        if isinstance(provider, EnvironProvider):
            for variable in sorted(os.environ):
                if variable.startswith(prefix) and "__" in variable[len(prefix):]:
                    found.setdefault(variable[len(prefix):].split("__", 1)[0].lower(),
                                     f"{variable} in the environment")
            continue
        try:
            value, _ = provider.get_value(name, Any, None, *section)
        except Exception:  # noqa: BLE001 - a provider that cannot answer for a table (a vault)
            continue
        if isinstance(value, Mapping):
            where = _file(provider, getattr(provider, "name", ""))
            for key in value:
                found.setdefault(str(key), f"[{'.'.join((*section, name, str(key)))}] in {where}")
    return found
