"""Several simulated communities, each its own simulator process (its own seed, size and community id),
and a project folder configuring them as a user does (docs/communities.md): the default community
at the top level of `.dlt/config.toml`, each other one a block there and its key in `.dlt/secrets.toml`.

Test code only; `returning-sync` runs as a subprocess in the project (`cli`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY
from tests.conftest import simulator_process
from tests.simadmin import SimAdmin


@dataclass(frozen=True)
class Simulated:
    """One community: its name, its simulator's seed and size, its community id."""

    slug: str
    seed: int
    users: int
    community_id: str


# four communities of different sizes and seeds (different data, different ids), the default first
FOUR = (
    Simulated("default", 31, 60, COMMUNITY_ID),
    Simulated("north", 32, 70, "65b0000000000000000a0001"),
    Simulated("south", 33, 80, "65b0000000000000000a0002"),
    Simulated("east", 34, 90, "65b0000000000000000a0003"),
)


@contextmanager
def simulators(communities: tuple[Simulated, ...] = FOUR) -> Iterator[dict[str, SimAdmin]]:
    """One simulator process per community, started side by side; slug -> its admin handle."""
    with ExitStack() as stack:
        procs = {c.slug: simulator_process(c.users, c.seed, "--community-id", c.community_id)
                 for c in communities}
        for proc in procs.values():
            stack.enter_context(proc)
        yield {c.slug: SimAdmin(procs[c.slug].url, seed=c.seed, users=c.users) for c in communities}


def make_project(root: Path, sims: Mapping[str, SimAdmin], communities: tuple[Simulated, ...] = FOUR, *,
                 postgres: str | None = None, file_each: bool = False,
                 keys: Mapping[str, str] | None = None, extra: tuple[tuple[str, Simulated], ...] = (),
                 keys_in_env: tuple[str, ...] = ()) -> Path:
    """A project folder configuring `communities` (the default at the top level, the others as blocks).
    `postgres`: the database URL every community shares, each in its own schemas; `file_each`: on
    DuckDB, a file per community (`<slug>/returning.duckdb`); `keys`: a key other than the full one;
    `extra`: (slug, community) blocks reading another community's simulator (an expired key, say);
    `keys_in_env`: communities whose key is left out of `.dlt/secrets.toml` (`key_variables` has them)."""
    keys = keys or {}
    config, secrets = [], []
    top, *others = communities
    assert top.slug == "default"
    config.append(f"""[sources.returning_ai]
base_url = "{sims['default'].base_url}"
community_id = "{top.community_id}"
warehouse = "{root / 'warehouse' / 'returning.duckdb'}"
""" + ('destination = "postgres"\n' if postgres else ""))
    secrets.append(f'[sources.returning_ai]\napi_key = "{keys.get("default", FULL_KEY)}"\n')
    for slug, c in [(c.slug, c) for c in others] + list(extra):
        config.append(f"""[sources.returning_ai.communities.{slug}]
community_id = "{c.community_id}"
base_url = "{sims[c.slug].base_url}"
""" + (f'warehouse = "{root / slug / "returning.duckdb"}"\n' if file_each and not postgres else ""))
        if slug not in keys_in_env:
            secrets.append(f'[sources.returning_ai.communities.{slug}]\napi_key = "{keys.get(slug, FULL_KEY)}"\n')
    if postgres:
        secrets.append(f'[destination.postgres]\ncredentials = "{postgres}"\n')
    (root / ".dlt").mkdir(parents=True)
    (root / ".dlt" / "config.toml").write_text("\n".join(config), encoding="utf-8")
    (root / ".dlt" / "secrets.toml").write_text("\n".join(secrets), encoding="utf-8")
    return root


def key_variables(slugs: tuple[str, ...], keys: Mapping[str, str] | None = None) -> dict[str, str]:
    """The communities' keys as dlt's environment variables (docs/communities.md)."""
    return {f"SOURCES__RETURNING_AI__COMMUNITIES__{s.upper()}__API_KEY": (keys or {}).get(s, FULL_KEY) for s in slugs}


def cli(project: Path, *argv: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`returning-sync argv` in the project, with no setting of this process's environment."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("RETURNING_", "SOURCES__", "DESTINATION__", "DLT_"))}
    clean["DLT_PROJECT_DIR"] = str(project)
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", *argv], cwd=project,
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=600, check=False)


def row_of(output: str, slug: str) -> list[str]:
    """The summary's row of a community: its cells."""
    rows = [line.split() for line in output.splitlines() if re.match(rf"^{slug}\s+(ok|partial|failed)\s", line)]
    assert len(rows) == 1, output
    return rows[0]


# -- what names a community: its ids, as the tests look for them in the other communities' places ----
OBJECT_ID = re.compile(rb"(?<![0-9a-f])[0-9a-f]{24}(?![0-9a-f])")
EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def identity(sim: SimAdmin, community_id: str) -> set[str]:
    """The community's id, its members' ids and addresses (the truth's users)."""
    users = sim.truth_rows("users")
    return {community_id} | {u["_id"] for u in users} | {u["email"].lower() for u in users if u.get("email")}


def tokens(data: bytes) -> set[str]:
    """The ids and addresses a text holds (lowercased)."""
    lower = data.lower()
    return {m.decode() for m in OBJECT_ID.findall(lower)} | {m.decode() for m in EMAIL.findall(lower)}


def file_tokens(path: Path) -> set[str]:
    """The ids and addresses in a file of dlt's working folder (gzip and Parquet read as their text)."""
    import gzip
    import json

    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        data = json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
    return tokens(data)


def folder_tokens(folder: Path) -> dict[str, set[str]]:
    """file (relative to `folder`) -> the ids and addresses it holds, for every file under `folder`."""
    return {str(p.relative_to(folder)): file_tokens(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def state_tokens(encoded: str) -> set[str]:
    """The ids and addresses in a `_dlt_pipeline_state` row's state (dlt stores it compressed)."""
    import json

    from dlt.common.versioned_state import decompress_state

    return tokens(json.dumps(decompress_state(encoded), default=str).encode())

