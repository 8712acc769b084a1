"""The one order every setting of the project is looked up in (the client's and the sync's
`pipelines.config.Settings`, the warehouse location, the push checks' thresholds):

1. an explicit argument (code, a Dagster resource's field, a command-line flag);
2. the documented `RETURNING_*` environment variable (shared/interfaces.md);
3. dlt's own providers, in dlt's order, under the section `sources.returning_ai`: the environment
   (`SOURCES__RETURNING_AI__CONCURRENCY`, Docker/Kubernetes secret files for the key), then
   `.dlt/secrets.toml`, `.dlt/config.toml` (the project's `.dlt` folder, as dlt finds it:
   `DLT_PROJECT_DIR` or the working directory, then dlt's global folder), then any vault dlt is
   configured with. A top-level `RETURNING_*` key in those files is read too (`RETURNING_AI_API_KEY
   = "..."` in `.dlt/secrets.toml`);
4. the default.

Only the full section name counts: dlt's fallback to a bare `API_KEY` or `[sources] api_key` is not
used, so another service's key is never sent to Returning.AI. Secrets (the API key) are asked only
of the providers dlt allows secrets in, never of `config.toml`.

dlt is imported (about half a second) only when a setting is left for its providers; the files are
read again at each resolution, so an edited `.dlt/config.toml` counts from the next run on. It lives
in `warehouse/`, the lowest layer that reads settings, so the location can use it too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SECTION = ("sources", "returning_ai")


@dataclass(frozen=True)
class Found:
    """A setting's raw value, the name it was given under and where that was."""

    value: Any
    name: str  # as the user wrote it: `RETURNING_SYNC_CONCURRENCY`, `sources.returning_ai.concurrency`
    where: str  # `argument`, `environment`, `.dlt/config.toml`, ...

    @property
    def place(self) -> str:
        """`in the environment`, `in /srv/app/.dlt/config.toml`, `as an argument`."""
        return {"argument": "as an argument", "environment": "in the environment"}.get(self.where, f"in {self.where}")

    @property
    def origin(self) -> str:
        """`RETURNING_SYNC_CONCURRENCY in the environment`: for messages (never the value)."""
        return f"{self.name} {self.place}"


class Resolver:
    """Looks settings up in the order above. `environ` None: the process environment and dlt's
    providers; a mapping: that mapping alone (tests, callers that built an environment)."""

    def __init__(self, aliases: Mapping[str, str], explicit: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None, *, providers: bool | None = None,
                 error: Callable[[str], Exception] = ValueError) -> None:
        self.aliases = aliases
        self.explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
        self.environ = os.environ if environ is None else environ
        self.providers = environ is None if providers is None else providers
        self.error = error
        self._dlt: list[Any] | None = None

    def first(self, *names: str, secret: bool = False) -> Found | None:
        """The first value of any of `names` (each layer tries them in order), or None."""
        for found in self._candidates(names, secret):
            if not _blank(found.value):
                return Found(found.value.strip() if isinstance(found.value, str) else found.value,
                             found.name, found.where)
        return None

    def _candidates(self, names: tuple[str, ...], secret: bool) -> Iterator[Found]:
        for name in names:
            if name in self.explicit:
                yield Found(self.explicit[name], name, "argument")
        for name in names:
            alias = self.aliases.get(name)
            if alias and alias in self.environ:
                yield Found(self.environ[alias], alias, "environment")
        if self.providers:
            yield from self._from_dlt(names, secret)

    def _from_dlt(self, names: tuple[str, ...], secret: bool) -> Iterator[Found]:
        from dlt.common.configuration.providers import EnvironProvider
        from dlt.common.typing import TSecretValue

        hint: Any = TSecretValue if secret else Any
        for provider in self._dlt_providers():
            if provider.is_empty or (secret and not provider.supports_secrets):
                continue
            for name in names:
                keys = [(name, SECTION)]
                if self.aliases.get(name):
                    keys.append((self.aliases[name], ()))
                for key, sections in keys:
                    value, full_key = provider.get_value(key, hint, None, *sections)
                    if value is not None:
                        where = "environment" if isinstance(provider, EnvironProvider) else _file(
                            provider, provider.get_value_location(key, None, *sections))
                        yield Found(value, full_key, where)

    def _dlt_providers(self) -> list[Any]:
        if self._dlt is None:
            from dlt.common.configuration.container import Container
            from dlt.common.configuration.providers.toml import TomlProviderReadException
            from dlt.common.configuration.specs import PluggableRunContext

            try:
                context = Container()[PluggableRunContext]
                context.reload_providers()  # the files as they are now, where dlt finds them now
            except TomlProviderReadException as exc:
                detail = str(exc).strip().splitlines()[-1]
                raise self.error(f"{exc.file_name} is not valid TOML ({', '.join(exc.full_paths)}): {detail}") from None
            self._dlt = list(context.providers.providers)
        return self._dlt


def _file(provider: Any, origin: str) -> str:
    """The file a TOML provider's value came from: dlt names it `config.toml` (the project's) or
    `global:config.toml`; its present locations list the project's file first."""
    name = origin.removeprefix("global:")
    paths = [p for p in getattr(provider, "present_locations", []) if os.path.basename(p) == name]
    if not paths:
        return origin or provider.name
    return os.path.abspath(paths[-1] if origin.startswith("global:") else paths[0])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(found: Found, error: Callable[[str], Exception]) -> str:
    if isinstance(found.value, os.PathLike):
        return os.fspath(found.value)
    if not isinstance(found.value, str):
        raise error(f"{found.origin} must be text, got a {type(found.value).__name__}")
    return found.value


def as_number(found: Found, kind: type[int] | type[float], error: Callable[[str], Exception]) -> Any:
    """An int or float from text (the environment) or a TOML number; a bool or a fraction for an
    int is refused, with the setting's name and place, e.g. `RETURNING_SYNC_CONCURRENCY must be a
    int, got 'many' (in the environment)`."""
    value = found.value
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError
        number = kind(value)
        if kind is int and isinstance(value, float) and value != number:
            raise ValueError
        return number
    except ValueError:
        raise error(f"{found.name} must be a {kind.__name__}, got {value!r} ({found.place})") from None
