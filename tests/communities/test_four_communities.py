"""Four simulated communities (tests/communities/simulated.py: four simulator processes, each its
own seed, size and community id), synced at once by `sync --all-communities --parallel 4`:

- on Postgres, every community in its own schemas of one database; then `models --all-communities`
  (each community's models and `analytics_all`), a push in one community, a scan of every schema and
  pipeline folder for the other communities' ids, and a stateless worker (the local dlt folder
  wiped) syncing the default community and a second one incrementally;
- on DuckDB, a file per community, so they really run side by side, with a fifth community whose key
  has expired: it fails alone with exit 3 while the others load; the command exits 3.

Each destination is one `sync --all-communities` run whose results the tests share (module-scoped
fixtures, chained where a later step changes the warehouse: what a test asserts is captured first).
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
    make_project,
    row_of,
    simulators,
    state_tokens,
    tokens,
)
from tests.pipelines.conftest import counts
from tests.pipelines.truth import compare
from tests.simadmin import EXPIRED_KEY, SimAdmin
from warehouse.connection import Connection, connect
from warehouse.location import COMMUNITY_SCHEMAS, WarehouseLocation

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("four_communities")]

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
             postgres: str | None) -> Synced:
    for sim in sims.values():  # back to its seeded start: what another run moved does not count
        sim.reset()
    started = time.monotonic()
    done = cli(project, "sync", "--all-communities", "--parallel", "4")
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
@pytest.fixture(scope="module")
def pg(pg_cluster: Any, sims: dict[str, SimAdmin], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    url = pg_cluster.create_database()
    return url, make_project(tmp_path_factory.mktemp("pg4"), sims, postgres=url)


def pg_location(slug: str) -> WarehouseLocation:
    return WarehouseLocation(destination="postgres", community=slug)


@pytest.fixture(scope="module")
def pg_synced(pg: tuple[str, Path], sims: dict[str, SimAdmin]) -> Synced:
    url, project = pg
    return sync_all(project, sims, {s: pg_location(s) for s in SLUGS}, url)


def test_postgres_four_communities_load_side_by_side_each_equal_to_its_truth(pg_synced: Synced) -> None:
    done = pg_synced.done
    assert done.returncode == 0, done.stdout + done.stderr
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok" and row_of(done.stdout, slug)[-1] == "0"
    assert "at most 4 communities at a time\n" in done.stdout  # a server: nothing one after another
    # they overlapped: one after another, the whole run would take at least the sum of their times
    assert summed_seconds(done.stdout, SLUGS) > 1.5 * pg_synced.wall, done.stdout
    assert pg_synced.problems == {s: [] for s in SLUGS}
    # different data: sizes and members differ
    assert len({len(v) for v in pg_synced.ids.values()}) == 4


@dataclass
class Modelled:
    done: subprocess.CompletedProcess[str]
    union: dict[str, dict[str, int]]  # analytics_all view -> community -> rows
    own: dict[str, dict[str, int]]  # model table -> community -> rows in its own analytics schema


@pytest.fixture(scope="module")
def pg_modelled(pg: tuple[str, Path], pg_synced: Synced) -> Modelled:
    url, project = pg
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


def test_postgres_models_per_community_and_the_union_views(pg_modelled: Modelled) -> None:
    done = pg_modelled.done
    assert done.returncode == 0, done.stdout + done.stderr
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok", done.stdout
    assert "analytics_all:" in done.stdout
    assert pg_modelled.own, "no community built a model"
    assert set(pg_modelled.union) == set(pg_modelled.own)  # a union view per model table
    for table, per in pg_modelled.own.items():
        assert set(per) == set(SLUGS), table  # every community built every model
        # a community whose table is empty adds no row to the union (no group)
        assert pg_modelled.union[table] == {s: n for s, n in per.items() if n}, table
    assert len(set(pg_modelled.own["dim_users"].values())) == 4  # four different communities


@dataclass
class Pushed:
    done: subprocess.CompletedProcess[str]
    requests: dict[str, int]  # community -> its simulator's requests during the push
    bulk_jobs: dict[str, tuple[int, int]]  # community -> its simulator's bulk jobs before, after
    ledgers: dict[str, list[tuple[str, str]]]  # community -> (definition, state) in its reverse_etl


@pytest.fixture(scope="module")
def pg_pushed(pg: tuple[str, Path], pg_modelled: Modelled, sims: dict[str, SimAdmin]) -> Pushed:
    url, project = pg
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


def test_a_push_in_one_community_sends_nothing_for_another(pg_pushed: Pushed) -> None:
    assert pg_pushed.done.returncode == 0, pg_pushed.done.stdout + pg_pushed.done.stderr
    others = [s for s in SLUGS if s != PUSHER]
    assert {s: pg_pushed.requests[s] for s in others} == {s: 0 for s in others}
    assert pg_pushed.requests[PUSHER] > 0
    before, after = pg_pushed.bulk_jobs[PUSHER]
    assert after == before + 1
    assert all(pg_pushed.bulk_jobs[s][0] == pg_pushed.bulk_jobs[s][1] for s in others)
    assert pg_pushed.ledgers[PUSHER] == [("loyalty_points", "completed")]
    assert {s: pg_pushed.ledgers[s] for s in others} == {s: [] for s in others}


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


@pytest.fixture(scope="module")
def pg_scanned(pg: tuple[str, Path], pg_pushed: Pushed) -> Scanned:
    url, project = pg
    schemas, held, pipelines = scan_postgres(url)
    root = project / "warehouse" / ".dlt" / "pipelines-postgres"
    folders = {s: set().union(*folder_tokens(root / PIPELINE[s]).values()) for s in SLUGS}
    return Scanned(schemas, held, pipelines, folders)


def test_no_id_of_one_community_is_in_another_s_schemas_state_ledger_or_folder(
        pg_synced: Synced, pg_scanned: Scanned) -> None:
    ids = pg_synced.ids
    for slug in SLUGS:
        own = "" if slug == "default" else f"__{slug}"
        mine = {f"returning_raw{own}", f"returning_raw{own}_staging", f"analytics{own}"}
        assert mine | ({f"reverse_etl{own}"} if slug == PUSHER else set()) <= pg_scanned.schemas[slug]
        # the scan sees the community's own members (it can find ids), and none of the others'
        members = {i for i in ids[slug] if "@" not in i}
        assert members <= pg_scanned.held[slug], slug
        assert pg_scanned.held[slug] & foreign(ids, slug) == set(), slug
        assert pg_scanned.pipelines[slug] == {PIPELINE[slug]}
        assert pg_scanned.folders[slug] & ids[slug], f"{slug}: its pipeline folder names none of its members"
        assert pg_scanned.folders[slug] & foreign(ids, slug) == set(), slug


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
                        postgres: str | None, full_read: int) -> Resynced:
    """Wipe dlt's local folder of the community's pipeline, move its clock a day, sync it again."""
    with opened(location, postgres) as con:
        before = live_ids(con)
    assert folder.is_dir(), folder
    shutil.rmtree(folder)
    sim.advance(hours=24)
    sim.reset_counters()
    done = cli(project, "sync", "--community", slug)
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


@pytest.fixture(scope="module")
def pg_resynced(pg: tuple[str, Path], pg_synced: Synced, pg_scanned: Scanned,
                sims: dict[str, SimAdmin]) -> dict[str, Resynced]:
    url, project = pg
    root = project / "warehouse" / ".dlt" / "pipelines-postgres"
    return {slug: resync_from_scratch(project, root / PIPELINE[slug], sims[slug], slug, pg_location(slug), url,
                                      pg_synced.requests[slug]) for slug in RESYNCED}


@pytest.mark.parametrize("slug", RESYNCED)
def test_postgres_a_stateless_worker_resumes_from_the_warehouse(pg_resynced: dict[str, Resynced], slug: str) -> None:
    assert_incremental(pg_resynced[slug])


# == DuckDB: a file per community, side by side; a fifth community's key has expired ==============
LAPSED = ("lapsed", FOUR[3])  # reads east's simulator with the expired key


@pytest.fixture(scope="module")
def duck(sims: dict[str, SimAdmin], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("duck4"), sims, file_each=True, keys={"lapsed": EXPIRED_KEY},
                        extra=(LAPSED,))


def duck_file(project: Path, slug: str) -> Path:
    return project / ("warehouse" if slug == "default" else slug) / "returning.duckdb"


def duck_location(project: Path, slug: str) -> WarehouseLocation:
    return WarehouseLocation(destination="duckdb", path=duck_file(project, slug), community=slug)


@pytest.fixture(scope="module")
def duck_synced(duck: Path, sims: dict[str, SimAdmin]) -> Synced:
    return sync_all(duck, sims, {s: duck_location(duck, s) for s in SLUGS}, None)


def test_duckdb_a_file_each_side_by_side_and_an_expired_key_fails_its_community_alone(duck_synced: Synced) -> None:
    done = duck_synced.done
    assert done.returncode == 3, done.stdout + done.stderr  # the worst community's exit
    for slug in SLUGS:
        assert row_of(done.stdout, slug)[1] == "ok" and row_of(done.stdout, slug)[-1] == "0"
    assert row_of(done.stdout, "lapsed")[1] == "failed" and row_of(done.stdout, "lapsed")[-1] == "3"
    assert "at most 4 communities at a time\n" in done.stdout  # no file shared: side by side
    assert summed_seconds(done.stdout, SLUGS) > 1.5 * duck_synced.wall, done.stdout
    assert duck_synced.problems == {s: [] for s in SLUGS}
    assert EXPIRED_KEY not in done.stdout + done.stderr


def test_duckdb_each_file_holds_its_own_community_only(duck: Path, duck_synced: Synced) -> None:
    from warehouse.duck import connect as duck_connect

    ids = duck_synced.ids
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


@pytest.fixture(scope="module")
def duck_resynced(duck: Path, duck_synced: Synced, sims: dict[str, SimAdmin]) -> Resynced:
    slug = "east"  # the whole working folder beside its file wiped
    return resync_from_scratch(duck, duck_file(duck, slug).parent / ".dlt", sims[slug], slug,
                               duck_location(duck, slug), None, duck_synced.requests[slug])


def test_duckdb_a_stateless_worker_resumes_from_its_file(duck_resynced: Resynced) -> None:
    assert_incremental(duck_resynced)


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


@pytest.fixture(scope="module")
def pg_forgotten(pg: tuple[str, Path], pg_resynced: dict[str, Resynced]) -> Forgotten:
    url, project = pg
    root = project / "warehouse" / ".dlt" / "pipelines-postgres"
    slug = "east"  # neither resynced nor pushing: its folder holds what its one sync loaded
    return forget_one(project, pg_location(slug), url, root / PIPELINE[slug],
                      [root / PIPELINE[s] for s in SLUGS if s != slug])


def test_postgres_forget_scrubs_its_community_s_pipeline_folder_only(pg_forgotten: Forgotten) -> None:
    assert_forgotten(pg_forgotten)


@pytest.fixture(scope="module")
def duck_forgotten(duck: Path, duck_resynced: Resynced) -> Forgotten:
    slug = "south"  # its own DuckDB file: the working folder beside it
    return forget_one(duck, duck_location(duck, slug), None, duck_file(duck, slug).parent / ".dlt",
                      [duck_file(duck, s).parent / ".dlt" for s in SLUGS if s != slug])


def test_duckdb_forget_scrubs_the_working_folder_beside_the_community_s_own_file(duck_forgotten: Forgotten) -> None:
    assert_forgotten(duck_forgotten)
