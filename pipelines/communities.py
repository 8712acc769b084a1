"""Communities as configuration: several Returning.AI communities in one deployment.

The settings of today, under `[sources.returning_ai]` (or the `RETURNING_*` variables), are the
community `default`. Each further community is a table under
`[sources.returning_ai.communities.<slug>]`, resolved by dlt like every setting
(`warehouse.configuration`): `community_id`, `base_url` or the surface URLs (`integration_url`,
`partner_url`, `application_url`), `registry_overrides`, `disabled`, any other setting (`concurrency`,
...), its own `warehouse` (a DuckDB file) or `destination`; and its `api_key` in secrets
(`SOURCES__RETURNING_AI__COMMUNITIES__<SLUG>__API_KEY`, or `api_key` in that table of
`.dlt/secrets.toml`). A setting the block does not set is the top-level one, except the key and the
community id, which are the community's own.

Each community is isolated by name: its dlt pipeline, staging dataset, sync lock and schemas
(`returning_raw__<slug>`, ...; the default community keeps today's names: `warehouse.location`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines.config import Settings
from pipelines.errors import ConfigError
from warehouse.configuration import SECTION, Found, Lookup, subsections
from warehouse.location import (
    DEFAULT_COMMUNITY,
    MODELS_SCHEMA,
    PUSH_SCHEMA,
    RAW_SCHEMA,
    WarehouseLocation,
    community_schema,
)

COMMUNITIES = "communities"  # the table under `sources.returning_ai` holding one table per community
PIPELINE_NAME = "returning_ai"  # the default community's dlt pipeline (pipelines.sync.PIPELINE_NAME)
# a slug names schemas (`returning_private__<slug>` stays within Postgres's 63 characters)
# (no double underscore: it separates the community from the schema's name, and sections in the environment)
SLUG = re.compile(r"(?!.*__)[a-z0-9_]{1,32}")
RESERVED = {"all": "it means every community (--all-communities)",
            DEFAULT_COMMUNITY: "it is the top-level configuration under [sources.returning_ai]"}
OWN = ("api_key", "community_id")  # never inherited from the top level


@dataclass(frozen=True)
class Community:
    """One community: its slug, its settings and the names that keep it apart from the others."""

    slug: str
    settings: Settings  # scoped: `settings.location` is this community's (its schemas, its database)
    where: str = field(default="", compare=False)  # where it is configured, for messages

    @property
    def is_default(self) -> bool:
        return self.slug == DEFAULT_COMMUNITY

    def _named(self, base: str) -> str:
        return base if self.is_default else f"{base}__{self.slug}"

    @property
    def pipeline_name(self) -> str:
        """dlt's pipeline (its local state folder and its state in the destination)."""
        return self._named(PIPELINE_NAME)

    @property
    def raw_schema(self) -> str:
        return community_schema(RAW_SCHEMA, self.slug)

    @property
    def models_schema(self) -> str:
        return community_schema(MODELS_SCHEMA, self.slug)

    @property
    def push_schema(self) -> str:
        return community_schema(PUSH_SCHEMA, self.slug)

    @property
    def staging_dataset(self) -> str:
        """dlt's staging dataset of the raw schema (dlt's layout `<dataset>_staging`), never shared."""
        return f"{self.raw_schema}_staging"

    @property
    def lock_name(self) -> str:
        """The sync lock: `sync` for the default community (`sync.lock` as before), `sync__<slug>`."""
        return self._named("sync")

    @property
    def location(self) -> WarehouseLocation:
        """The community's warehouse, scoped to its schemas (`warehouse.connection` maps them)."""
        return self.settings.location

    @property
    def own_database(self) -> bool:
        """Credentials of its own under dlt's named destination `returning_ai__<slug>`
        (`DESTINATION__RETURNING_AI__<SLUG>__CREDENTIALS`, or `[destination.returning_ai__<slug>]`)."""
        return self.settings.destination_name is not None

    @property
    def lock_file(self) -> Path:
        return self.location.workdir / f"{self.lock_name}.lock"

    def __repr__(self) -> str:
        return f"Community({self.slug!r}, {self.settings!r})"


def check_slug(slug: str, where: str = "") -> str:
    """A community's name as schemas and pipelines carry it; a ConfigError says what is wrong."""
    told = f" ({where})" if where else ""
    if slug in RESERVED:
        raise ConfigError(f"a community cannot be named {slug!r}: {RESERVED[slug]}{told}")
    if not SLUG.fullmatch(slug):
        raise ConfigError(f"community name {slug!r} must be 1 to 32 lowercase letters, digits or single "
                          f"underscores (it names schemas such as analytics__<name>){told}")
    return slug


def configured(*, error: type[Exception] = ConfigError) -> dict[str, str]:
    """The communities configured under `sources.returning_ai.communities`: slug -> where."""
    found = subsections(COMMUNITIES, error)
    for slug, where in found.items():
        check_slug(slug, where)
    return dict(sorted(found.items()))


def communities(environ: Mapping[str, str] | None = None, *, key_required: bool = True) -> list[Community]:
    """Every configured community: `default` when the top level configures one (an API key or a
    community id), then each block, by name. `environ`: as `Settings.from_env` (for the top level)."""
    out = [_default(environ, key_required)] if _top_configured(environ) else []
    return out + [_block(slug, where, key_required) for slug, where in configured().items()]


def names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The slugs `communities()` returns, without resolving any community's settings (what Dagster's
    definitions read when they load: no key needed, nothing checked but the names)."""
    return [*([DEFAULT_COMMUNITY] if _top_configured(environ) else []), *configured()]


def _top_configured(environ: Mapping[str, str] | None) -> bool:
    """The top level configures the community `default` (an API key or a community id)."""
    top = Lookup(None, environ, error=ConfigError)
    return top.first("api_key", secret=True) is not None or top.first("community_id") is not None


def community(slug: str, environ: Mapping[str, str] | None = None, *, key_required: bool = True) -> Community:
    """The community named `slug` (`default`: the top-level settings, as `Settings.from_env`)."""
    if slug == DEFAULT_COMMUNITY:
        return _default(environ, key_required)
    known = configured()
    if slug not in known:
        check_slug(slug)
        names = ", ".join([DEFAULT_COMMUNITY, *known])
        raise ConfigError(f"no community {slug!r} is configured (known: {names}); add a table "
                          f"[sources.{SECTION[1]}.{COMMUNITIES}.{slug}] to .dlt/config.toml and its api_key "
                          "to .dlt/secrets.toml")
    return _block(slug, known[slug], key_required)


def _default(environ: Mapping[str, str] | None, key_required: bool) -> Community:
    return Community(DEFAULT_COMMUNITY, Settings.from_env(environ, key_required=key_required),
                     where="[sources.returning_ai]")


def _block(slug: str, where: str, key_required: bool) -> Community:
    lookup = _Overlay(slug)
    if key_required and lookup.first("api_key", secret=True) is None:
        variable = f"SOURCES__RETURNING_AI__COMMUNITIES__{slug.upper()}__API_KEY"
        raise ConfigError(f"community {slug!r} has no API key: set {variable}, or api_key under "
                          f"[sources.returning_ai.communities.{slug}] in .dlt/secrets.toml")
    try:
        settings = Settings.from_lookup(lookup, key_required=key_required)
    except ConfigError as exc:
        raise ConfigError(f"community {slug!r}: {exc}") from None
    named = f"{PIPELINE_NAME}__{slug}"
    own = not settings.location.embedded and \
        Lookup(error=ConfigError, section=("destination", named)).first("credentials", secret=True) is not None
    return Community(slug, replace(settings, community=slug, destination_name=named if own else None), where=where)


class _Overlay(Lookup):
    """A community's block over the top-level settings: each name is looked up in
    `sources.returning_ai.communities.<slug>` first, then (except the key and the community id)
    at the top level, in the project's one order."""

    def __init__(self, slug: str) -> None:
        super().__init__(error=ConfigError, section=(*SECTION, COMMUNITIES, slug))
        self.top = Lookup(error=ConfigError)

    def first(self, *names: str, secret: bool = False) -> Found | None:
        found = super().first(*names, secret=secret)
        if found is not None or set(names) & set(OWN):
            return found
        return self.top.first(*names, secret=secret)

