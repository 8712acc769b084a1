"""Four simulated communities (tests/communities/simulated.py: four simulator processes, each its
own seed, size and community id), synced at once by `sync --all-communities --parallel 4`:

- on Postgres, every community in its own schemas of one database; then `models --all-communities`
  (each community's models and `analytics_all`), a push in one community, a scan of every schema and
  pipeline folder for the other communities' ids, and a stateless worker (the local dlt folder
  wiped) syncing the default community and a second one incrementally;
- on DuckDB, a file per community, so they really run side by side, one community's key given in the
  environment (`SOURCES__RETURNING_AI__COMMUNITIES__EAST__API_KEY`), with a fifth community whose key
  has expired: it fails alone with exit 3 while the others load; the command exits 3.

Each destination is one test: one `sync --all-communities` run, then the steps that build on it, in
order (so that under xdist a run is never set up twice, on two workers: the `xdist_group` mark does
nothing with pytest 9, whose node ids xdist 3.8 cannot suffix).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from pipelines.tables import RESOURCES
from tests.communities.simulated import (
    FOUR,
    cli,
    folder_tokens,
    identity,
    key_variables,
    make_project,
    row_of,
    simulators,
    state_tokens,
    tokens,
)
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare
from tests.simadmin import EXPIRED_KEY, FULL_KEY, SimAdmin
from warehouse.connection import Connection, connect
from warehouse.location import COMMUNITY_SCHEMAS, WarehouseLocation

# a run is some 25 subprocesses of `returning-sync`: on a busy machine past the suite's 300 s per test
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SLUGS = tuple(c.slug for c in FOUR)
PIPELINE = {c.slug: "returning_ai" if c.slug == "default" else f"returning_ai__{c.slug}" for c in FOUR}
PUSHER = "south"  # the community that pushes (its simulator's users change: its truth is taken before)
RESYNCED = ("default", "north")  # the stateless workers: the local dlt folder wiped, then a day later


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, SimAdmin]]:
    with simulators() as started:
        yield started


# -- reading a community's warehouse ---------------------------------------------------------------
@contextmanager
def opened(location: WarehouseLocation, postgres: str | None) -> Iterator[Connection]:
    """A read-only connection scoped to the location's community (Postgres: credentials by dlt's variable)."""
    with pytest.MonkeyPatch.context() as env:
        if postgres:
            env.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres)
        con = connect(location, read_only=True)
    try:
        yield con
    finally:
        con.close()


def differences(sim: SimAdmin, con: Connection) -> list[str]:
    """Every table of the community against its simulator's truth: the counts of `GET /__sim/truth`
    and the rows of `GET /__sim/truth/<dataset>` (tests/pipelines/truth.py: duplicates are differences)."""
    truth, held = sim.truth(), counts(con)
    problems = [f"{d}: {held.get(d, 0)} rows, truth {truth[d]['count']}"
                for d in RESOURCES if held.get(d, 0) != truth[d]["count"]]
    for dataset in RESOURCES:
        problems += compare(con, dataset, sim.truth_rows(dataset), ignore=("deleted_at",) if dataset == "users" else ())
    return problems


def summed_seconds(output: str, slugs: tuple[str, ...]) -> float:
    return sum(float(row_of(output, s)[-2]) for s in slugs)


@dataclass
class Synced:
    """One `sync --all-communities` run and what was captured right after it."""

    project: Path
    done: subprocess.CompletedProcess[str]
    wall: float
    problems: dict[str, list[str]] = field(default_factory=dict)  # community -> differences from its truth
    requests: dict[str, int] = field(default_factory=dict)  # community -> its simulator's requests (a full read)
    ids: dict[str, set[str]] = field(default_factory=dict)  # community -> its id, members' ids and addresses


def sync_all(project: Path, sims: Mapping[str, SimAdmin], locations: Mapping[str, WarehouseLocation],
             postgres: str | None, env: Mapping[str, str] | None = None) -> Synced:
    for sim in sims.values():  # back to its seeded start: what another run moved does not count
        sim.reset()
    started = time.monotonic()
    done = cli(project, "sync", "--all-communities", "--parallel", "4", env=env)
    synced = Synced(project, done, time.monotonic() - started)
    for c in FOUR:
        with opened(locations[c.slug], postgres) as con:
            synced.problems[c.slug] = differences(sims[c.slug], con)
        synced.requests[c.slug] = sims[c.slug].counters()["total"]
        synced.ids[c.slug] = identity(sims[c.slug], c.community_id)
    return synced


def foreign(ids: Mapping[str, set[str]], slug: str) -> set[str]:
    """The other communities' ids and addresses, less any that is also this community's (one person may
    be a member of two communities under one address)."""
    return set().union(*(v for s, v in ids.items() if s != slug)) - ids[slug]


# == Postgres: four communities in one database ====================================================
def pg_location(slug: str) -> WarehouseLocation:
    return WarehouseLocation(destination="postgres", community=slug)


def check_postgres_loaded(synced: Synced) -> None:
    """Four communities side by side, each equal to its truth."""
    done = synced.done
    assert done.returncode == 0, done.stdout + done.stderr
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok" and row_of(done.stdout, slug)[-1] == "0"
    assert "at most 4 communities at a time\n" in done.stdout  # a server: nothing one after another
    # they overlapped: one after another, the whole run would take at least the sum of their times
    assert summed_seconds(done.stdout, SLUGS) > 1.5 * synced.wall, done.stdout
    assert synced.problems == {s: [] for s in SLUGS}
    # different data: sizes and members differ
    assert len({len(v) for v in synced.ids.values()}) == 4


@dataclass
class Modelled:
    done: subprocess.CompletedProcess[str]
    union: dict[str, dict[str, int]]  # analytics_all view -> community -> rows
    own: dict[str, dict[str, int]]  # model table -> community -> rows in its own analytics schema


def build_models(url: str, project: Path) -> Modelled:
    done = cli(project, "models", "--all-communities", "--parallel", "4")
    union: dict[str, dict[str, int]] = {}
    own: dict[str, dict[str, int]] = {}
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics_all'")
        for (view,) in cur.fetchall():
            cur.execute(f'SELECT community, count(*) FROM analytics_all."{view}" GROUP BY 1')
            union[view] = dict(cur.fetchall())
        for slug in SLUGS:
            schema = "analytics" if slug == "default" else f"analytics__{slug}"
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_type = 'BASE TABLE'", (schema,))
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT count(*) FROM {schema}."{table}"')
                own.setdefault(table, {})[slug] = cur.fetchone()[0]
    con.close()
    return Modelled(done, union, own)


def check_models(modelled: Modelled) -> None:
    """`models --all-communities`: each community's models, and `analytics_all` holds each one's rows."""
    done = modelled.done
    assert done.returncode == 0, done.stdout + done.stderr
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok", done.stdout
    assert "analytics_all:" in done.stdout
    assert modelled.own, "no community built a model"
    assert set(modelled.union) == set(modelled.own)  # a union view per model table
    for table, per in modelled.own.items():
        assert set(per) == set(SLUGS), table  # every community built every model
        # a community whose table is empty adds no row to the union (no group)
        assert modelled.union[table] == {s: n for s, n in per.items() if n}, table
    assert len(set(modelled.own["dim_users"].values())) == 4  # four different communities


@dataclass
class Pushed:
    done: subprocess.CompletedProcess[str]
    requests: dict[str, int]  # community -> its simulator's requests during the push
    bulk_jobs: dict[str, tuple[int, int]]  # community -> its simulator's bulk jobs before, after
    ledgers: dict[str, list[tuple[str, str]]]  # community -> (definition, state) in its reverse_etl


def push_in_one(url: str, project: Path, sims: Mapping[str, SimAdmin]) -> Pushed:
    before = {s: sims[s].truth()["bulk_jobs"]["count"] for s in SLUGS}
    for sim in sims.values():
        sim.reset_counters()
    done = cli(project, "push", "loyalty_points", "--community", PUSHER)
    ledgers: dict[str, list[tuple[str, str]]] = {}
    with psycopg2.connect(url) as con, con.cursor() as cur:
        for slug in SLUGS:
            schema = "reverse_etl" if slug == "default" else f"reverse_etl__{slug}"
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_name = 'pushes'", (schema,))
            if cur.fetchone()[0]:
                cur.execute(f"SELECT definition, state FROM {schema}.pushes")
                ledgers[slug] = cur.fetchall()
            else:
                ledgers[slug] = []
    con.close()
    return Pushed(done, {s: sims[s].counters()["total"] for s in SLUGS},
                  {s: (before[s], sims[s].truth()["bulk_jobs"]["count"]) for s in SLUGS}, ledgers)


def check_push(pushed: Pushed) -> None:
    """A push in one community sends nothing for another, and lands in its own ledger only."""
    assert pushed.done.returncode == 0, pushed.done.stdout + pushed.done.stderr
    others = [s for s in SLUGS if s != PUSHER]
    assert {s: pushed.requests[s] for s in others} == {s: 0 for s in others}
    assert pushed.requests[PUSHER] > 0
    before, after = pushed.bulk_jobs[PUSHER]
    assert after == before + 1
    assert all(pushed.bulk_jobs[s][0] == pushed.bulk_jobs[s][1] for s in others)
    assert pushed.ledgers[PUSHER] == [("loyalty_points", "completed")]
    assert {s: pushed.ledgers[s] for s in others} == {s: [] for s in others}


def schema_owner(schema: str) -> str | None:
    """The community a schema belongs to (None: shared, such as `seeds` and `analytics_all`)."""
    for slug in SLUGS[1:]:
        if any(schema in (f"{base}__{slug}", f"{base}__{slug}_staging") for base in COMMUNITY_SCHEMAS):
            return slug
    if any(schema in (base, f"{base}_staging") for base in COMMUNITY_SCHEMAS):
        return "default"
    return None


@dataclass
class Scanned:
    schemas: dict[str, set[str]]  # community -> its schemas
    held: dict[str, set[str]]  # community -> every id and address its schemas hold
    pipelines: dict[str, set[str]]  # community -> the pipelines named in its `_dlt_pipeline_state`
    folders: dict[str, set[str]]  # community -> every id and address its pipeline folder holds


def scan_postgres(url: str) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """Every row of every table of every community's schemas, as text; the pipeline state decoded."""
    schemas: dict[str, set[str]] = {}
    held: dict[str, set[str]] = {}
    pipelines: dict[str, set[str]] = {}
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2")
        for schema, table in cur.fetchall():
            slug = schema_owner(schema)
            if slug is None:
                continue
            schemas.setdefault(slug, set()).add(schema)
            found = held.setdefault(slug, set())
            cur.execute(f'SELECT t::text FROM "{schema}"."{table}" t')
            for (text,) in cur.fetchall():
                found |= tokens(text.encode())
            if table == "_dlt_pipeline_state":
                cur.execute(f'SELECT pipeline_name, state FROM "{schema}"."{table}"')
                for name, state in cur.fetchall():
                    pipelines.setdefault(slug, set()).add(name)
                    found |= state_tokens(state)
    con.close()
    return schemas, held, pipelines


def scan(url: str, project: Path) -> Scanned:
    schemas, held, pipelines = scan_postgres(url)
    root = project / "warehouse" / ".dlt" / "pipelines-postgres"
    folders = {s: set().union(*folder_tokens(root / PIPELINE[s]).values()) for s in SLUGS}
    return Scanned(schemas, held, pipelines, folders)


def check_isolation(synced: Synced, scanned: Scanned) -> None:
    """No id of one community in another's schemas (rows, dlt's state and loads, push ledger) or
    pipeline folder; the scan finds each community's own."""
    ids = synced.ids
    for slug in SLUGS:
        own = "" if slug == "default" else f"__{slug}"
        mine = {f"returning_raw{own}", f"returning_raw{own}_staging", f"analytics{own}"}
        assert mine | ({f"reverse_etl{own}"} if slug == PUSHER else set()) <= scanned.schemas[slug]
        # the scan sees the community's own members (it can find ids), and none of the others'
        members = {i for i in ids[slug] if "@" not in i}
        assert members <= scanned.held[slug], slug
        assert scanned.held[slug] & foreign(ids, slug) == set(), slug
        assert scanned.pipelines[slug] == {PIPELINE[slug]}
        assert scanned.folders[slug] & ids[slug], f"{slug}: its pipeline folder names none of its members"
        assert scanned.folders[slug] & foreign(ids, slug) == set(), slug


# -- stateless workers: the local dlt folder wiped, the state comes back from the warehouse -------
def live_ids(con: Connection) -> set[str]:
    return {r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users WHERE NOT is_deleted")}


PER_MEMBER = ("gamification_daily", "activity_stats", "minigame_logs", "user_game_stats")


def a_day_later(sim: SimAdmin, con: Connection, before: set[str]) -> list[str]:
    """The community against its truth after the clock moved (tests/pipelines/test_sync_sim.py): the
    live members equal it, the deleted ones are kept and flagged, their history kept as loaded."""
    live = {r["_id"] for r in sim.truth_rows("users")}
    deleted = before - live
    flagged = {r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users WHERE is_deleted")}
    problems = [] if flagged == deleted else [f"users: flagged deleted {sorted(flagged)}, truth {sorted(deleted)}"]
    gone = "(" + ", ".join(f"'{i}'" for i in sorted(deleted)) + ")"
    for dataset in RESOURCES:
        where = "WHERE NOT is_deleted" if dataset == "users" else \
            f"WHERE user_id NOT IN {gone}" if dataset in PER_MEMBER and deleted else ""
        problems += compare(con, dataset, sim.truth_rows(dataset), where=where,
                            ignore=("deleted_at",) if dataset == "users" else ())
    return problems


@dataclass
class Resynced:
    """The second sync of a stateless worker: its output, requests, differences from the truth."""

    done: subprocess.CompletedProcess[str]
    by_endpoint: dict[str, int]
    problems: list[str]
    full_read: int  # the first sync's requests


def resync_from_scratch(project: Path, folder: Path, sim: SimAdmin, slug: str, location: WarehouseLocation,
                        postgres: str | None, full_read: int, env: Mapping[str, str] | None = None) -> Resynced:
    """Wipe dlt's local folder of the community's pipeline, move its clock a day, sync it again."""
    with opened(location, postgres) as con:
        before = live_ids(con)
    assert folder.is_dir(), folder
    shutil.rmtree(folder)
    sim.advance(hours=24)
    sim.reset_counters()
    done = cli(project, "sync", "--community", slug, env=env)
    by_endpoint = dict(sim.counters()["by_endpoint"])
    with opened(location, postgres) as con:
        problems = a_day_later(sim, con, before)
    return Resynced(done, by_endpoint, problems, full_read)


def assert_incremental(resynced: Resynced) -> None:
    done = resynced.done
    assert done.returncode == 0, done.stdout + done.stderr
    assert resynced.problems == []
    # no full reload: the daily history asks for the new day only (a full read asks for each of 90
    # days), the whole run costs a fraction of the first
    assert resynced.by_endpoint["POST /apis/v1/users/activity/daily"] <= 2, resynced.by_endpoint
    assert sum(resynced.by_endpoint.values()) < resynced.full_read / 2, (resynced.by_endpoint, resynced.full_read)


# == DuckDB: a file per community, side by side; a fifth community's key has expired ==============
LAPSED = ("lapsed", FOUR[3])  # reads east's simulator with the expired key
# east's key in the environment, as docs/communities.md allows, the others' in .dlt/secrets.toml
KEY_VARIABLES = key_variables(("east",))


def duck_file(project: Path, slug: str) -> Path:
    return project / ("warehouse" if slug == "default" else slug) / "returning.duckdb"


def duck_location(project: Path, slug: str) -> WarehouseLocation:
    return WarehouseLocation(destination="duckdb", path=duck_file(project, slug), community=slug)


def check_duckdb_loaded(synced: Synced) -> None:
    """A file each, side by side; the expired key fails its community alone, the command exits 3."""
    done = synced.done
    assert done.returncode == 3, done.stdout + done.stderr  # the worst community's exit
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok" and row_of(done.stdout, slug)[-1] == "0"
    assert row_of(done.stdout, "lapsed")[1] == "failed" and row_of(done.stdout, "lapsed")[-1] == "3"
    assert "at most 4 communities at a time\n" in done.stdout  # no file shared: side by side
    assert summed_seconds(done.stdout, SLUGS) > 1.5 * synced.wall, done.stdout
    assert synced.problems == {s: [] for s in SLUGS}
    assert EXPIRED_KEY not in done.stdout + done.stderr and FULL_KEY not in done.stdout + done.stderr


def check_duckdb_files(duck: Path, synced: Synced) -> None:
    """Each file and the working folder beside it hold their own community only."""
    from warehouse.duck import connect as duck_connect

    ids = synced.ids
    for slug in SLUGS:
        con = duck_connect(duck_file(duck, slug), read_only=True)
        try:
            held: set[str] = set()
            schemas = set()
            for schema, table in con.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                    ).fetchall():
                schemas.add(schema)
                if schema_owner(schema) is None:  # `seeds`, loaded once into the default's file
                    continue
                for (text,) in con.execute(f'SELECT CAST(t AS VARCHAR) FROM "{schema}"."{table}" AS t').fetchall():
                    held |= tokens(text.encode())
                if table == "_dlt_pipeline_state":
                    for name, state in con.execute(f'SELECT pipeline_name, state FROM "{schema}"."{table}"').fetchall():
                        assert name == PIPELINE[slug], (slug, schema)
                        held |= state_tokens(state)
        finally:
            con.close()
        assert {schema_owner(s) for s in schemas} - {None} == {slug}, schemas
        assert {i for i in ids[slug] if "@" not in i} <= held, slug
        assert held & foreign(ids, slug) == set(), slug
        pipelines = duck_file(duck, slug).parent / ".dlt" / "pipelines"
        assert {p.name for p in pipelines.iterdir()} - {"returning_seeds"} == {PIPELINE[slug]}
        # its own pipeline's folder (the seeds' pipeline is the deployment's: its trace lists every
        # community's settings, which dlt records, secrets left out)
        found = set().union(*folder_tokens(pipelines / PIPELINE[slug]).values())
        assert found & ids[slug] and found & foreign(ids, slug) == set(), slug


# -- forget in one community: its working folder scrubbed, the others' untouched ------------------
@dataclass
class Forgotten:
    done: subprocess.CompletedProcess[str]
    member: set[str]  # the member's id and address
    before: set[str]  # ids and addresses in the community's pipeline folder, before
    after: set[str]
    packages: list[Path]  # dlt's completed load packages that named the member
    others: tuple[dict[str, bytes], dict[str, bytes]]  # the other communities' folders: file -> content


def contents(folders: list[Path]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def loaded_package(folder: Path, file: Path) -> Path | None:
    """The completed load package (`<pipeline>/load/loaded/<load id>`) holding `file`, if any."""
    parts = file.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 2] == ("load", "loaded"):
            return folder.joinpath(*parts[:i + 3])
    return None


def forget_one(project: Path, location: WarehouseLocation, postgres: str | None, own: Path,
               others: list[Path]) -> Forgotten:
    with opened(location, postgres) as con:
        user_id, email = con.fetchone("SELECT _id, email FROM returning_raw.users ORDER BY _id LIMIT 1")
    member = {user_id, email.lower()}
    before, kept = folder_tokens(own), contents(others)
    packages = sorted({package for f, found in before.items() if found & member
                       and (package := loaded_package(own, Path(f))) is not None})
    done = cli(project, "forget", "--user-id", user_id, "--community", location.community)
    return Forgotten(done, member, set().union(*before.values()), set().union(*folder_tokens(own).values()),
                     packages, (kept, contents(others)))


def assert_forgotten(forgotten: Forgotten) -> None:
    done = forgotten.done
    assert done.returncode == 0, done.stdout + done.stderr
    assert forgotten.member <= forgotten.before  # the folder named the member
    assert forgotten.member & forgotten.after == set()
    # dlt's completed load packages that named the member are deleted whole
    assert forgotten.packages and not any(p.exists() for p in forgotten.packages), forgotten.packages
    assert forgotten.others[0] == forgotten.others[1]  # no other community's file changed


# == the two runs: each destination's steps in order, on one worker (they share their warehouse) ===
def test_four_communities_on_postgres(pg_cluster: Any, sims: dict[str, SimAdmin], tmp_path: Path) -> None:
    url = pg_cluster.create_database()
    project = make_project(tmp_path / "pg4", sims, postgres=url)
    synced = sync_all(project, sims, {s: pg_location(s) for s in SLUGS}, url)
    check_postgres_loaded(synced)
    check_models(build_models(url, project))
    check_push(push_in_one(url, project, sims))
    check_isolation(synced, scan(url, project))
    # stateless workers: the default community and a second one
    root = project / "warehouse" / ".dlt" / "pipelines-postgres"
    for slug in RESYNCED:
        assert_incremental(resync_from_scratch(project, root / PIPELINE[slug], sims[slug], slug, pg_location(slug),
                                               url, synced.requests[slug]))
    # forget in one community: its pipeline folder in the shared working folder
    slug = "east"  # neither resynced nor pushing: its folder holds what its one sync loaded
    assert_forgotten(forget_one(project, pg_location(slug), url, root / PIPELINE[slug],
                                [root / PIPELINE[s] for s in SLUGS if s != slug]))


def test_four_communities_on_duckdb(sims: dict[str, SimAdmin], tmp_path: Path) -> None:
    project = make_project(tmp_path / "duck4", sims, file_each=True, keys={"lapsed": EXPIRED_KEY},
                           extra=(LAPSED,), keys_in_env=("east",))
    synced = sync_all(project, sims, {s: duck_location(project, s) for s in SLUGS}, None, KEY_VARIABLES)
    check_duckdb_loaded(synced)
    check_duckdb_files(project, synced)
    # a stateless worker: the whole working folder beside its file wiped
    slug = "east"
    assert_incremental(resync_from_scratch(project, duck_file(project, slug).parent / ".dlt", sims[slug], slug,
                                           duck_location(project, slug), None, synced.requests[slug], KEY_VARIABLES))
    # forget in a community with its own file: the working folder beside it
    slug = "south"
    assert_forgotten(forget_one(project, duck_location(project, slug), None, duck_file(project, slug).parent / ".dlt",
                                [duck_file(project, s).parent / ".dlt" for s in SLUGS if s != slug]))
