"""`returning-sync check [--resources a,b] [--format table|json] [--write-config PATH]`: probe every
endpoint the sync would use (of the datasets `--resources` names, as `sync --resources` takes them), with the configured key and settings, one or two small reads each (never a write), and
say per dataset whether the next sync can load it, and if not why and what to set.

The verdicts come from the sync's own decisions (pipelines/skips.py, pipelines/probe.py): a dataset
`check` calls unavailable is one the next `sync` skips, for the same reason.

Exit codes: 0 every dataset the sync would read is available, 5 some are not (partial), 3 the key
was refused (invalid or expired, or no permission for anything), 2 a configuration error.
`--community SLUG` probes that community's endpoints with its key and settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError
from pipelines.probe import Probe, probe, summary_exit
from pipelines.skips import SECTION, refused_key
from pipelines.tables import RESOURCES
from returning_sync.communities_run import add_community_argument, chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resources", default=None, metavar="A,B",
                        help="comma-separated datasets to probe, as `sync --resources` takes them (default all)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--write-config", default=None, metavar="PATH",
                        help="write into this TOML file (usually .dlt/config.toml) the overrides check is sure of, "
                             "the others as commented templates, and the `disabled` setting that turns off what is "
                             "unavailable; its other settings are kept")
    add_community_argument(parser)
    parser.epilog = ("exit codes: 0 every dataset available · 5 partial: some are not (each named, with the "
                     "setting that changes it) · 3 the key was refused · 2 configuration error")


def run(args: argparse.Namespace) -> int:
    from pipelines.sync import select_resources

    settings = chosen(args).settings
    selected = select_resources(args.resources.split(",")) if args.resources is not None else None
    probes = probe(settings, selected)
    refused = refused_key([p.skip for p in probes if p.skip is not None and not p.disabled],
                          [p.dataset for p in probes if not p.disabled])
    if refused is not None:
        raise refused
    written = write_config(Path(args.write_config), probes) if args.write_config else None
    code = summary_exit(probes)
    if args.format == "json":
        print(json.dumps({"datasets": [p.as_dict() for p in probes], "exit": code,
                          "unavailable": [p.dataset for p in probes if not p.ok and not p.disabled],
                          "wrote": written}, indent=2))
    else:
        print_table(probes)
        if written is not None:
            print(written["message"])
    return code


def _fields(p: Probe) -> str:
    if p.seen is None:
        return "no record to compare" if p.ok and not p.note else ""
    parts = [f"{len(p.expected) - len(p.missing_fields)}/{len(p.expected)} expected seen"]
    if p.missing_fields:
        parts.append(f"missing {', '.join(p.missing_fields)}")
    if p.extra_fields:
        parts.append(f"extra {', '.join(p.extra_fields)}")
    return "; ".join(parts)


def print_table(probes: list[Probe]) -> None:
    rows = [(p.dataset, f"{p.method} {p.path} [{p.mark}]" if p.endpoint else "(no API call)",
             p.result + (" (disabled)" if p.disabled else "")) for p in probes]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(("dataset", "endpoint", "result"))]
    print("  ".join(h.ljust(w) for h, w in zip(("dataset", "endpoint", "result"), widths, strict=True)).rstrip())
    for p, row in zip(probes, rows, strict=True):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for label, text in (("fields", _fields(p)), ("note", p.note), ("set", p.skip.fix if p.skip else "")):
            if text:
                print(f"    {label}: {text}")
        for s in p.suggestions:
            print(f"    override: {s.inline}" + (f"  ({s.unknown})" if s.unknown else f"  ({s.reason})"))
    bad = [p.dataset for p in probes if not p.ok and not p.disabled]
    print(f"{len(probes) - len(bad)} of {len(probes)} datasets available"
          + (f"; unavailable: {', '.join(bad)}" if bad else ""))


def write_config(path: Path, probes: list[Probe]) -> dict[str, Any]:
    """Add the unavailable datasets to `disabled` under [sources.returning_ai] in the TOML file at
    `path` (created when missing); every other setting and comment of the file is kept."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except (OSError, TOMLKitError) as exc:
        raise ConfigError(f"--write-config {path}: cannot read it as TOML ({exc}); nothing written") from None
    section: Any = doc
    for part in SECTION.split("."):
        if part not in section:
            section[part] = tomlkit.table(is_super_table=part != SECTION.split(".")[-1])
        section = section[part]
        if not isinstance(section, dict):
            raise ConfigError(f"--write-config {path}: '{part}' is not a table; nothing written")
    overrides = _write_overrides(section, probes)
    before = [str(n) for n in section.get("disabled", [])]
    unavailable = {p.dataset for p in probes if not p.ok}
    after = [n for n in RESOURCES if n in unavailable or n in before]
    added = [n for n in after if n not in before]
    section["disabled"] = after
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    said = f"added {', '.join(added)}" if added else "nothing to add"
    set_ = ", ".join(f"{k} = {json.dumps(v)}" for k, v in overrides.items())
    return {"path": str(path), "disabled": after, "added": added, "overrides": overrides,
            "message": f"wrote {path}: [{SECTION}] disabled = {json.dumps(after)} ({said})"
                       + (f"; overrides {set_}" if overrides else "")}


def _write_overrides(section: Any, probes: list[Probe]) -> dict[str, str]:
    """The suggested overrides whose value check is sure of, under `registry_overrides.<endpoint>`;
    the others as commented templates (a path is never guessed). Returns the written ones by config key."""
    import tomlkit

    written: dict[str, str] = {}
    for p in probes:
        for s in p.suggestions:
            if "registry_overrides" not in section:
                section["registry_overrides"] = tomlkit.table(is_super_table=True)
            node: Any = section["registry_overrides"]
            if s.endpoint not in node:
                node[s.endpoint] = tomlkit.table()
            node = node[s.endpoint]
            table, dot, name = s.key.partition(".")
            if dot:
                if table not in node:
                    node[table] = tomlkit.table()
                node = node[table]
            else:
                name = table
            if s.value is not None:
                node[name] = s.value
                written[s.config_key] = s.value
            elif name not in node:
                node.add(tomlkit.comment(f"{name if name.replace('_', '').isalnum() else json.dumps(name)} = "
                                         f'"{s.example}"  # {p.dataset}: {s.reason}; {s.unknown}'))
    return written
