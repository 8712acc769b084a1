"""docs/endpoints.md, generated from the dataset declarations (pipelines/datasets.py): per dataset its endpoint,
permission and pagination, and every name the client relies on with its [doc]/[assumed] mark and
the override key that changes it. A test keeps the file equal to `markdown()`; regenerate it with
`python -m pipelines.endpoints_doc > docs/endpoints.md`."""

from __future__ import annotations

import json
from dataclasses import fields

from pipelines.datasets import ENDPOINTS, TABLES
from pipelines.endpoint import Endpoint
from pipelines.overrides import SECTION

HEADER = """# Endpoints: what the sync reads, and what is assumed

Generated from the dataset declarations (`pipelines/datasets.py`) by
`python -m pipelines.endpoints_doc > docs/endpoints.md` (a test keeps them equal). Returning.AI's public reference documents some of what the sync relies on
(**[doc]**); the rest is our reading (**[assumed]**). When the API you talk to differs, correct it by
configuration, without touching code: each name below shows its override key, set under
`[SECTION.<endpoint>]` in `.dlt/config.toml` (or in `RETURNING_SYNC_REGISTRY_OVERRIDES`, inline JSON
or a .toml/.json file of the same tables; a dataset's name may stand for its endpoint). A renamed
record field still lands in the column named here: the override renames the input, not the
warehouse. Examples: [pipelines/README.md](../pipelines/README.md#registry-overrides).
"""


def endpoint_section(ep: Endpoint) -> list[str]:
    """One endpoint: its facts, then a table of every name with its mark and override key."""
    facts = (f"`{ep.name}`: {ep.surface} API, permission `{ep.permission}`, pagination `{ep.pagination.scheme}` "
             f"(key `pagination`)")
    if ep.options is not None:  # its own typed options, with their defaults (an override key each)
        facts += "; options " + ", ".join(f"`{f.name} = {_toml(getattr(ep.options, f.name))}`"
                                          for f in fields(ep.options))
    rows = [("path", f"`{ep.method} {ep.path}`", ep.status, "path")]
    if ep.read:
        rows.append(("records path", f"`{ep.records}`", ep.records_mark, "records"))
    rows += [("parameter", f"`{n}`", s, f"params.{_quoted(n)}") for n, s in ep.params.items()]
    rows += [("record field", f"`{n}`", s, f"record_fields.{_quoted(n)}") for n, s in ep.record_fields.items()]
    return [facts, "", "| what | name | status | override key |", "|---|---|---|---|",
            *(f"| {what} | {name} | [{status}] | `{key}` |" for what, name, status, key in rows), ""]


def markdown() -> str:
    out = [HEADER.replace("SECTION", SECTION)]
    used: set[str] = set()
    out.append("## Datasets\n")
    for t in TABLES:
        if not t.endpoints:
            continue
        out.append(f"### {t.name}\n")
        for name in t.endpoints:
            out.extend(endpoint_section(ENDPOINTS[name]))
            used.add(name)
    out.append("## Other endpoints (look-ups and writes)\n")
    for name, ep in ENDPOINTS.items():
        if name not in used:
            out.append(f"### {name}\n")
            out.extend(endpoint_section(ep))
    return "\n".join(out).rstrip("\n") + "\n"


def _toml(value: object) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _quoted(name: str) -> str:
    return f'"{name}"' if "." in name else name


if __name__ == "__main__":
    print(markdown(), end="")
