"""The one order every setting of the project is looked up in (the client's and the sync's
`pipelines.config.Settings`, the warehouse location, the push checks' thresholds):

1. an explicit argument (code, a Dagster resource's field, a command-line flag);
2. the documented `RETURNING_*` environment variable (docs/interfaces.md);
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

dlt is imported (about half a second) only when a setting is left for its providers; its files are
read again when they changed (or the working directory did), so an edited `.dlt/config.toml`
counts from the next run on. It lives
in `warehouse/`, the lowest layer that reads settings, so the location can use it too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
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
                 error: Callable[[str], Exception] = ValueError,
                 section: tuple[str, ...] = SECTION) -> None:
        self.aliases = aliases
        self.section = section  # dlt's section the names are looked up under
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
                keys = [(name, self.section)]
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
            self._dlt = _current_dlt_providers(self.error)
        return self._dlt


_files_read: tuple[Any, ...] | None = None  # the TOML files dlt's providers hold, as they were read
_reading = threading.Lock()


def _current_dlt_providers(error: Callable[[str], Exception]) -> list[Any]:
    """dlt's providers, their TOML files read again when those changed since (another working
    directory, an edited file): dlt reads them once per process otherwise."""
    global _files_read
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.providers.toml import CONFIG_TOML, SECRETS_TOML, TomlProviderReadException
    from dlt.common.configuration.specs import PluggableRunContext

    try:
        with _reading:
            context = Container()[PluggableRunContext]
            folders = (context.context.settings_dir, context.context.global_dir)
            files = tuple(_stamp(os.path.abspath(os.path.join(folder, name)))
                          for folder in folders for name in (SECRETS_TOML, CONFIG_TOML))
            if files != _files_read:
                context.reload_providers()
                _files_read = files
            return list(context.providers.providers)
    except TomlProviderReadException as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise error(f"{exc.file_name} is not valid TOML ({', '.join(exc.full_paths)}): {detail}") from None


def _stamp(path: str) -> tuple[str, tuple[int, int, int] | None]:
    try:
        stat = os.stat(path)
    except OSError:
        return path, None
    return path, (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _file(provider: Any, origin: str) -> str:
    """The file a TOML provider's value came from: dlt names it `config.toml` (the project's) or
    `global:config.toml`; its present locations list the project's file first."""
    name = origin.removeprefix("global:")
    paths = [p for p in getattr(provider, "present_locations", []) if os.path.basename(p) == name]
    if not paths:
        return origin or provider.name
    return os.path.abspath(paths[-1] if origin.startswith("global:") else paths[0])


def dlt_may_set(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> bool:
    """Whether dlt's providers may hold a setting of ours, told without importing dlt: a variable
    under the section (`SOURCES__RETURNING_AI__*`), or a `.dlt/config.toml` / `secrets.toml` (the
    project's, `DLT_PROJECT_DIR`'s or the user's) that names the section or a `RETURNING_*` key."""
    env = os.environ if environ is None else environ
    prefix = "__".join(SECTION).upper() + "__"
    if any(k.upper().startswith(prefix) for k in env):
        return True
    folders = [(cwd or Path.cwd()) / ".dlt", Path.home() / ".dlt"]
    if env.get("DLT_PROJECT_DIR"):
        folders.append(Path(env["DLT_PROJECT_DIR"]) / ".dlt")
    for folder in folders:
        for name in ("config.toml", "secrets.toml"):
            try:
                text = (folder / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if SECTION[-1] in text or "RETURNING_" in text:
                return True
    return False


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
