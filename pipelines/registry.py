"""The endpoint registry: every endpoint the client reads or writes, as the datasets declare them
(`pipelines/datasets.py`), with the user's overrides applied.

Status per name: "doc" = stated in Returning.AI's reference, "assumed" = our reading
(docs/returning-api.md, docs/contract-readings.md). Any entry can be corrected without touching
code through `Settings.registry_overrides` (RETURNING_SYNC_REGISTRY_OVERRIDES): a table per
endpoint of the attributes to change, e.g.
`{"redemption_transactions": {"path": "/apis/v1/redemptions", "fields": {"from": "since"}}}`.
`fields` (the names used on the wire) are merged into the defaults; typed options take their type
(`{"messages": {"max_count": 500, "member_fallback": false}}`) and may also be written as text
under `fields`, as they once were (`"max_count": "500"`); `pagination` is a scheme name or a table
of the scheme's options (`{"pagination": {"scheme": "skip-limit", "limit_param": "size"}}`; without
`scheme` the endpoint's own scheme). An unknown endpoint or option, or a value of the wrong type,
is a one-line ConfigError naming the endpoint and the option.

The options an endpoint takes: those of every endpoint (`COMMON_OPTIONS`: method, path, page size,
lookback, ...) and its own (`Endpoint.options`, a dataclass such as `MessagesOptions`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pipelines.datasets import ALIASES, DOC_PLATFORM_FIELDS
from pipelines.datasets import ENDPOINTS as DEFAULT_REGISTRY
from pipelines.endpoint import Endpoint, Status
from pipelines.errors import ConfigError
from pipelines.pagination import SCHEMES, Paginator

__all__ = ["COMMON_OPTIONS", "DEFAULT_REGISTRY", "DOC_PLATFORM_FIELDS", "Endpoint", "Status", "build_registry",
           "options_of", "valid_keys"]

# -- overrides ---------------------------------------------------------------------------------
_NOT_OPTIONS = ("name", "fields", "pagination", "records_status", "params", "record_fields", "param_names",
                "record_names", "options")
COMMON_OPTIONS: dict[str, Any] = {n: t for n, t in get_type_hints(Endpoint).items() if n not in _NOT_OPTIONS}
_FIELDS = frozenset(f.name for f in fields(Endpoint))
NAME_TABLES = ("params", "record_fields")  # override keys renaming the contract's names
_TRUE, _FALSE = ("true", "on", "yes", "1", "auto"), ("false", "off", "no", "0")


def options_of(ep: Endpoint) -> dict[str, Any]:
    """Every option `ep` takes with its type: the common ones, then its own (`ep.options`)."""
    own = get_type_hints(type(ep.options)) if ep.options is not None else {}
    return {**COMMON_OPTIONS, **own}


def build_registry(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Endpoint]:
    """The default registry with `overrides` applied (see the module docstring); ConfigError on a
    name or value that does not fit. An endpoint may be named by its dataset (`users`)."""
    registry = dict(DEFAULT_REGISTRY)
    aliases = ALIASES
    for given, attrs in (overrides or {}).items():
        name = aliases.get(given, given)
        if name not in registry:
            raise ConfigError(f"registry override names unknown endpoint {given!r}"
                              f"{_close(given, [*registry, *aliases], valid=registry)}")
        if not isinstance(attrs, Mapping):
            raise ConfigError(f"registry override {given}: expected a table of options, got {attrs!r}")
        registry[name] = _overridden(registry[name], attrs, given)
    return registry


def valid_keys(ep: Endpoint) -> list[str]:
    """Every key an override of `ep` takes, as docs/endpoints.md and error messages list them."""
    return [*options_of(ep), "pagination", *(f"params.{n}" for n in ep.params),
            *(f"record_fields.{n}" for n in ep.record_fields), *(f"fields.{k}" for k in ep.fields)]


def _overridden(ep: Endpoint, attrs: Mapping[str, Any], given: str) -> Endpoint:
    options = options_of(ep)
    changes: dict[str, Any] = {}
    for option, value in attrs.items():
        where = f"{given}.{option}"
        if option == "fields":
            changes = _merge(changes, _fields(ep, value, given))
        elif option in NAME_TABLES:
            changes = _merge(changes, _names(ep, option, value, where))
        elif option == "pagination":
            changes["pagination"] = _pagination(ep, value, where)
        elif option in options:
            changes[option] = _typed(where, value, options[option])
        else:
            raise ConfigError(f"registry override {where}: unknown option"
                              f"{_hint(ep, option) or _close(option, [*options, 'fields', 'pagination'], valid_keys(ep))}")
    return _with(ep, changes)


def _with(ep: Endpoint, changes: dict[str, Any]) -> Endpoint:
    """`ep` with `changes`, its own options among them set on its `options`."""
    own = {k: changes.pop(k) for k in list(changes) if k not in _FIELDS}
    if own:
        changes["options"] = replace(ep.options, **own)
    return replace(ep, **changes)


def _merge(changes: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for key, value in more.items():
        out[key] = {**out[key], **value} if isinstance(value, Mapping) and key in out else value
    return out


def _hint(ep: Endpoint, option: str) -> str:
    """For a contract name given where an option goes: the key it belongs under."""
    kinds = [t for t in NAME_TABLES if option in getattr(ep, t)]
    return f" ({option!r} is the contract's name: {' or '.join(f'{t}.{option}' for t in kinds)} renames it)" if kinds else ""


def _names(ep: Endpoint, table: str, value: Any, where: str) -> dict[str, Any]:
    """`params` / `record_fields`: the contract's name -> the name the API uses."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"registry override {where}: expected a table of names, got {value!r}")
    known = getattr(ep, table)
    renamed: dict[str, str] = {}
    for key, name in value.items():
        if key not in known:
            raise ConfigError(f"registry override {where}.{key}: not a {table[:-1].replace('_', ' ')} of {ep.name} in "
                              f"the contract{_close(key, known, known)}")
        renamed[key] = _name(f"{where}.{key}", name)
    return {"param_names" if table == "params" else "record_names": renamed}


def _name(where: str, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"registry override {where}: expected a name, got {name!r}")
    return name


def _fields(ep: Endpoint, value: Any, given: str) -> dict[str, Any]:
    """`fields`: the code's own keys (`cursor`, `from`, ...: what they stand for is renamed), a
    contract's parameter or record field name, or an option written as text (it takes its type)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"registry override {given}.fields: expected a table of names, got {value!r}")
    literal, params, records, changes = dict(ep.fields), {}, {}, {}
    options = options_of(ep)
    for key, name in value.items():
        where = f"{given}.fields.{key}"
        target = ep.fields.get(key, key)
        if key in options:
            changes[key] = _typed(where, name, options[key])
        elif key not in ep.fields and target in ep.params and target in ep.record_fields:
            raise ConfigError(f"registry override {where}: {key!r} is both a parameter and a record field of "
                              f"{ep.name}: write params.{key} or record_fields.{key}")
        elif target in ep.params:
            params[target] = _name(where, name)
        elif target in ep.record_fields:
            records[target] = _name(where, name)
        elif key in ep.fields:
            literal[key] = _name(where, name)
        else:
            known = [*ep.fields, *ep.params, *ep.record_fields]
            raise ConfigError(f"registry override {where}: unknown field{_close(key, known, dict.fromkeys(known))}")
    return {"fields": literal, "param_names": params, "record_names": records, **changes}


def _pagination(ep: Endpoint, value: Any, where: str) -> Paginator:
    """A scheme name, or a table of the scheme's options (`scheme` to change it)."""
    options = {"scheme": value} if isinstance(value, str) else value
    if not isinstance(options, Mapping):
        raise ConfigError(f"registry override {where}: expected a scheme name or a table of options, got {value!r}")
    options = dict(options)
    scheme = options.pop("scheme", ep.pagination.scheme)
    if scheme not in SCHEMES:
        raise ConfigError(f"registry override {where}: scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    base = ep.pagination if scheme == ep.pagination.scheme else SCHEMES[scheme]()
    known = {f.name: f for f in fields(base) if f.init}
    hints = get_type_hints(type(base))
    changes = {}
    for option, given in options.items():
        if option not in known:
            raise ConfigError(f"registry override {where}.{option}: unknown option of scheme {scheme!r}"
                              f"{_close(option, known, known)}")
        changes[option] = _typed(f"{where}.{option}", given, hints[option])
    return replace(base, **changes)


def _typed(where: str, value: Any, kind: Any) -> Any:
    """`value` as the type `kind` (text accepted for numbers, switches and lists), or ConfigError."""
    args = get_args(kind)
    if get_origin(kind) is Literal:
        if value in args:
            return value
        raise ConfigError(f"registry override {where}: must be one of {', '.join(map(str, args))}, got {value!r}")
    if type(None) in args:  # `X | None`
        return None if value is None else _typed(where, value, next(a for a in args if a is not type(None)))
    text = value.strip() if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"registry override {where}: expected true or false, got {value!r}")
    if kind in (int, float):
        number: Any = value
        if text is not None:
            try:
                number = float(text)
            except ValueError:
                number = None
        is_number = isinstance(number, int | float) and not isinstance(number, bool)
        if is_number and (kind is float or float(number).is_integer()):
            return kind(number)
        raise ConfigError(f"registry override {where}: expected {'an integer' if kind is int else 'a number'}, "
                          f"got {value!r}")
    if kind is str:
        if isinstance(value, str) and value:
            return value
        raise ConfigError(f"registry override {where}: expected text, got {value!r}")
    if get_origin(kind) is tuple:
        items = [v.strip() for v in text.split(",")] if text is not None else value
        if isinstance(items, list | tuple) and all(isinstance(v, str) for v in items):
            return tuple(v for v in items if v)
        raise ConfigError(f"registry override {where}: expected a list of names, got {value!r}")
    raise ConfigError(f"registry override {where}: cannot be set by configuration")


def _close(name: str, known: Any, valid: Any = ()) -> str:
    """` (did you mean 'x'?)` for a near miss, else the valid names."""
    match = difflib.get_close_matches(name, list(known), n=1)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f"; valid: {', '.join(valid)}" if valid else ""
