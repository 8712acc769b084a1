"""The command line over two communities, as a user configures them: the default one (the top-level
settings) and `acme` (one block of configuration and one secret in `.dlt/`), each its own simulator
process with its own seed and community id. `returning-sync` runs as a subprocess in that project."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from returning_sync.simulator_process import COMMUNITY_ID, FULL_KEY, SimulatorProcess
from tests.conftest import simulator_process
from warehouse.duck import connect

USERS = 150
ACME_ID = "65a0c9e514a3e564c5c0aaaa"
EXPIRED_KEY = "00000000000000000000000000000000deadbeefdeadbeefdeadbeefdeadbeef"  # docs/simulator.md
TABLES = ("users", "user_fields", "redemption_orders", "messages")  # compared with each simulator's truth
DOCS = Path(__file__).resolve().parents[2] / "docs" / "communities.md"


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[SimulatorProcess, SimulatorProcess]]:
    with simulator_process(USERS, 7) as default, \
            simulator_process(USERS, 11, "--community-id", ACME_ID) as acme:
        yield default, acme


def documented(acme_url: str, acme_key: str) -> tuple[str, str]:
    """docs/communities.md's one block of configuration and one secret for `acme`, as a user copies
    them into `.dlt/config.toml` and `.dlt/secrets.toml`: the simulator's URL and key in place of
    the API's and the placeholder, all else as written (its community id is the simulator's)."""
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert block, f"{DOCS} shows no toml block"
    config, secret = block.group(1).split("# .dlt/secrets.toml\n")
    assert f'community_id = "{ACME_ID}"' in config, config
    config, urls = re.subn(r'^base_url = "[^"]*"', f'base_url = "{acme_url}"', config, flags=re.M)
    secret, keys = re.subn(r'^api_key = "\.\.\."', f'api_key = "{acme_key}"', secret, flags=re.M)
    assert urls == keys == 1, block.group(1)
    return config, secret


def make_project(root: Path, sims: tuple[SimulatorProcess, SimulatorProcess], acme_key: str = FULL_KEY) -> Path:
    """A project folder: the default community's settings, then acme's one block and one secret,
    copied from docs/communities.md."""
    default, acme = sims
    config, secret = documented(acme.url, acme_key)
    (root / ".dlt").mkdir(parents=True)
    (root / ".dlt" / "config.toml").write_text(f"""\
[sources.returning_ai]
base_url = "{default.url}"
community_id = "{COMMUNITY_ID}"
warehouse = "{root / 'warehouse' / 'returning.duckdb'}"

{config}""", encoding="utf-8")
    (root / ".dlt" / "secrets.toml").write_text(f"""\
[sources.returning_ai]
api_key = "{FULL_KEY}"

{secret}""", encoding="utf-8")
    return root


def cli(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RETURNING_", "SOURCES__", "DESTINATION__", "DLT_"))}
    env["DLT_PROJECT_DIR"] = str(project)
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", *argv], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def row_of(output: str, slug: str) -> list[str]:
    """The summary's row of a community: its cells."""
    rows = [line.split() for line in output.splitlines() if re.match(rf"^{slug}\s+(ok|partial|failed)\s", line)]
    assert len(rows) == 1, output
    return rows[0]


def count(project: Path, schema: str, table: str) -> int:
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        return con.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()[0]
    finally:
        con.close()


def ids(project: Path, schema: str) -> set[str]:
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        return {r[0] for r in con.execute(f"SELECT _id FROM {schema}.users").fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def synced(sims: tuple[SimulatorProcess, SimulatorProcess],
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    project = make_project(tmp_path_factory.mktemp("two"), sims)
    return project, cli(project, "sync", "--all-communities")


def test_sync_all_communities_loads_each_into_its_own_schema(
        sims: tuple[SimulatorProcess, SimulatorProcess], synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, done = synced
    assert done.returncode == 0, done.stdout + done.stderr
    for slug in ("default", "acme"):
        assert row_of(done.stdout, slug)[1:2] == ["ok"]
        assert row_of(done.stdout, slug)[-1] == "0"
    assert "default, acme share" in done.stdout  # the shared DuckDB file: one after another, said
    default, acme = sims
    for sim, schema in ((default, "returning_raw"), (acme, "returning_raw__acme")):
        truth = sim.admin_get("/__sim/truth")
        for table in TABLES:
            assert count(project, schema, table) == truth[table]["count"], (schema, table)
    # rows in the summary are the community's loaded rows
    assert int(row_of(done.stdout, "acme")[2].replace(",", "")) > 0


def test_no_id_of_one_community_is_in_the_other(synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = synced
    default_ids, acme_ids = ids(project, "returning_raw"), ids(project, "returning_raw__acme")
    assert len(default_ids) == len(acme_ids) == USERS
    assert default_ids.isdisjoint(acme_ids)


def test_each_community_has_its_own_pipeline_and_lock(synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = synced
    workdir = project / "warehouse" / ".dlt"
    pipelines = {p.name for p in (workdir / "pipelines").iterdir()}
    assert {"returning_ai", "returning_ai__acme"} <= pipelines
    assert (workdir / "sync.lock").exists() and (workdir / "sync__acme.lock").exists()
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        states = con.execute("SELECT pipeline_name FROM returning_raw__acme._dlt_pipeline_state").fetchall()
        assert {s for (s,) in states} == {"returning_ai__acme"}
        states = con.execute("SELECT pipeline_name FROM returning_raw._dlt_pipeline_state").fetchall()
        assert {s for (s,) in states} == {"returning_ai"}
    finally:
        con.close()


def test_the_shared_seeds_pipeline_records_no_community_s_settings(
        sims: tuple[SimulatorProcess, SimulatorProcess], synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """The fan-out's parent loads the seeds (schema `seeds`, every community's) after reading every
    community's settings; dlt's trace of that load (`trace.pickle`) holds none of them."""
    project, done = synced
    assert done.returncode == 0, done.stdout + done.stderr
    trace = project / "warehouse" / ".dlt" / "pipelines" / "returning_seeds" / "trace.pickle"
    assert trace.is_file(), trace
    held = trace.read_bytes()
    default, acme = sims
    for value in (ACME_ID, acme.url, default.url, COMMUNITY_ID, FULL_KEY):
        assert value.encode() not in held, value


def test_models_all_communities_then_union_and_a_push_of_acme(
        sims: tuple[SimulatorProcess, SimulatorProcess], synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = synced
    done = cli(project, "models", "--all-communities")
    assert done.returncode == 0, done.stdout + done.stderr
    assert row_of(done.stdout, "default")[1] == "ok" and row_of(done.stdout, "acme")[1] == "ok"
    assert "analytics_all:" in done.stdout
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        per = dict(con.execute("SELECT community, count(*) FROM analytics_all.dim_users GROUP BY 1").fetchall())
        assert per == {"default": con.execute("SELECT count(*) FROM analytics.dim_users").fetchone()[0],
                       "acme": con.execute("SELECT count(*) FROM analytics__acme.dim_users").fetchone()[0]}
        acme_emails = {e for (e,) in con.execute("SELECT email FROM analytics__acme.dim_users WHERE NOT deleted").fetchall()}
        default_emails = {e for (e,) in con.execute("SELECT email FROM analytics.dim_users").fetchall()}
    finally:
        con.close()
    assert per["acme"] == USERS

    pushed = cli(project, "push", "loyalty_points", "--community", "acme", "--dry-run")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    path = Path(re.search(r"csv: (\S+)", pushed.stdout).group(1))
    with path.open(newline="", encoding="utf-8") as f:
        sent = {row["email"] for row in csv.DictReader(f)}
    assert sent == acme_emails and sent.isdisjoint(default_emails)
    # a real push of acme: its ledger is in reverse_etl__acme, and the default community gets nothing
    default_sim, acme_sim = sims
    jobs = {"default": default_sim.admin_get("/__sim/truth")["bulk_jobs"]["count"],
            "acme": acme_sim.admin_get("/__sim/truth")["bulk_jobs"]["count"]}
    sent_for_real = cli(project, "push", "loyalty_points", "--community", "acme")
    assert sent_for_real.returncode == 0, sent_for_real.stdout + sent_for_real.stderr
    assert default_sim.admin_get("/__sim/truth")["bulk_jobs"]["count"] == jobs["default"]
    assert acme_sim.admin_get("/__sim/truth")["bulk_jobs"]["count"] == jobs["acme"] + 1
    con = connect(project / "warehouse" / "returning.duckdb", read_only=True)
    try:
        schemas = {s for (s,) in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        ledger = con.execute("SELECT definition, state FROM reverse_etl__acme.pushes").fetchall()
    finally:
        con.close()
    assert "reverse_etl" not in schemas
    assert ledger == [("loyalty_points", "completed")]
    listed = cli(project, "push", "--list", "--community", "acme")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^loyalty_points .* completed \(sent \d+\)", listed.stdout, flags=re.MULTILINE), listed.stdout
    listed = cli(project, "push", "--list")  # the default community's ledger: never pushed
    assert re.search(r"^loyalty_points .* never ", listed.stdout, flags=re.MULTILINE), listed.stdout


def test_sql_and_an_unknown_community(synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    project, _ = synced
    done = cli(project, "sql", "select count(*) as n from returning_raw.users", "--community", "acme",
               "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", str(USERS)]
    # forget and check: the community's own tables and key
    member = sorted(ids(project, "returning_raw__acme"))[0]
    acme_forget = cli(project, "forget", "--user-id", member, "--community", "acme", "--dry-run")
    assert acme_forget.returncode == 0, acme_forget.stderr
    places = [line.split(":")[0].strip() for line in acme_forget.stdout.splitlines()[1:] if "." in line.split(":")[0]]
    assert "returning_raw__acme.users" in places and "returning_raw__acme_staging.users" in places, places
    assert all(p.split(".")[0].endswith(("__acme", "__acme_staging")) for p in places), places
    default_forget = cli(project, "forget", "--user-id", member, "--dry-run")
    assert default_forget.returncode == 0, default_forget.stderr
    # no table of the default community holds acme's member, and acme's tables are not the default's
    # (dlt's working folder beside the warehouse is shared by the communities: not asserted here)
    assert not [line for line in default_forget.stdout.splitlines()[1:] if re.match(r"^  \w+\.\w+: ", line)], \
        default_forget.stdout
    checked = cli(project, "check", "--community", "acme", "--resources", "users", "--format", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    unknown = cli(project, "sync", "--community", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: no community 'nope' is configured (known: default, acme); add a table "
        "[sources.returning_ai.communities.nope] to .dlt/config.toml and its api_key to .dlt/secrets.toml"]


def test_an_expired_key_fails_its_community_alone(sims: tuple[SimulatorProcess, SimulatorProcess],
                                                  tmp_path: Path) -> None:
    project = make_project(tmp_path / "expired", sims, acme_key=EXPIRED_KEY)
    done = cli(project, "sync", "--all-communities", "--resources", "users,messages")
    assert done.returncode == 3, done.stdout + done.stderr
    assert row_of(done.stdout, "default")[1] == "ok" and row_of(done.stdout, "default")[-1] == "0"
    assert row_of(done.stdout, "acme")[1] == "failed" and row_of(done.stdout, "acme")[-1] == "3"
    truth = sims[0].admin_get("/__sim/truth")
    assert count(project, "returning_raw", "users") == truth["users"]["count"]
    assert count(project, "returning_raw", "messages") == truth["messages"]["count"]
    assert FULL_KEY not in done.stdout + done.stderr and EXPIRED_KEY not in done.stdout + done.stderr


def test_the_concurrency_limit_and_who_runs_one_after_another(project: Path) -> None:
    from pipelines.communities import communities
    from pipelines.errors import ConfigError
    from returning_sync.communities_run import concurrency, serial_key, shared_files, worst_exit
    from tests.dltproject import write

    assert concurrency(None) == 2  # nothing set
    write(project, "config.toml", f"""
[sources.returning_ai]
community_id = "{COMMUNITY_ID}"
community_concurrency = 3
warehouse = "w/shared.duckdb"

[sources.returning_ai.communities.acme]
community_id = "{ACME_ID}"

[sources.returning_ai.communities.beta]
community_id = "{"bb" * 12}"
warehouse = "w/beta.duckdb"
""")
    write(project, "secrets.toml", "\n".join(
        f'[sources.returning_ai{s}]\napi_key = "{FULL_KEY}"' for s in ("", ".communities.acme", ".communities.beta")))
    assert (concurrency(None), concurrency(1)) == (3, 1)
    with pytest.raises(ConfigError, match=r"^--parallel must be between 1 and 64, got 0$"):
        concurrency(0)
    default, acme, beta = communities()
    assert serial_key(default) == serial_key(acme) != serial_key(beta)  # a shared file: one after another
    assert shared_files(3) == "at most 3 communities at a time (default, acme share w/shared.duckdb: one after another)"
    assert (worst_exit([0, 0]), worst_exit([0, 5]), worst_exit([5, 3, 0]), worst_exit([0, 6, 3])) == (0, 5, 3, 6)


def test_sync_all_communities_on_postgres_side_by_side(sims: tuple[SimulatorProcess, SimulatorProcess],
                                                       tmp_path: Path, pg_url: str) -> None:
    project = make_project(tmp_path / "pg", sims)
    config = project / ".dlt" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[sources.returning_ai]\n", '[sources.returning_ai]\ndestination = "postgres"\n', 1), encoding="utf-8")
    secrets = project / ".dlt" / "secrets.toml"
    secrets.write_text(secrets.read_text(encoding="utf-8") + f'\n[destination.postgres]\ncredentials = "{pg_url}"\n',
                       encoding="utf-8")
    done = cli(project, "sync", "--all-communities", "--resources", "users,messages")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "at most 2 communities at a time\n" in done.stdout  # a server: nothing runs one after another
    for sim, slug in zip(sims, ("default", "acme"), strict=True):
        truth = sim.admin_get("/__sim/truth")
        for table in ("users", "messages"):
            counted = cli(project, "sql", f"select count(*) as n from returning_raw.{table}", "--community", slug,
                          "--format", "csv")
            assert counted.stdout.split() == ["n", str(truth[table]["count"])], (slug, table, counted.stderr)
    both = cli(project, "sql", "select count(*) as n from returning_raw__acme.users u "
                               "join returning_raw.users d on d._id = u._id", "--format", "csv")
    assert both.stdout.split() == ["n", "0"], both.stderr


def test_a_community_with_its_own_duckdb_file_runs_beside_the_others(
        sims: tuple[SimulatorProcess, SimulatorProcess], tmp_path: Path) -> None:
    project = make_project(tmp_path / "files", sims)
    own = project / "acme" / "acme.duckdb"
    config = project / ".dlt" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + f'warehouse = "{own}"\n', encoding="utf-8")
    done = cli(project, "sync", "--all-communities", "--resources", "users,tiers")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "at most 2 communities at a time\n" in done.stdout  # no file shared: side by side
    con = connect(own, read_only=True)
    try:
        held = con.execute("SELECT count(*) FROM returning_raw__acme.users").fetchone()[0]
    finally:
        con.close()
    assert held == sims[1].admin_get("/__sim/truth")["users"]["count"]
    assert count(project, "returning_raw", "users") == sims[0].admin_get("/__sim/truth")["users"]["count"]
    built = cli(project, "models", "--all-communities", "--select", "dim_users")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "analytics_all: 1 union view over default\n" in built.stdout  # acme's models are in its own file


def test_a_stateless_worker_on_a_shared_duckdb_file_restores_its_community_alone(
        sims: tuple[SimulatorProcess, SimulatorProcess], tmp_path: Path) -> None:
    """Both communities in one DuckDB file; acme's local dlt folder wiped (a fresh worker). Its next
    sync restores acme's state from `returning_raw__acme` in that file and reads only what changed a
    day later; the default community's schemas and state are left as they were."""
    from tests.communities.test_four_communities import a_day_later
    from tests.simadmin import SimAdmin
    from warehouse.connection import connect as connect_location
    from warehouse.location import WarehouseLocation

    default, acme = sims
    admin = SimAdmin(acme.url, seed=11, users=USERS)
    project = make_project(tmp_path / "shared", sims)
    admin.reset_counters()
    first = cli(project, "sync", "--all-communities")
    assert first.returncode == 0, first.stdout + first.stderr
    full_read = admin.counters()
    daily = "POST /apis/v1/users/activity/daily"
    default_before = {t: count(project, "returning_raw", t) for t in TABLES}
    file = project / "warehouse" / "returning.duckdb"
    acme_location = WarehouseLocation(destination="duckdb", path=file, community="acme")
    try:
        with connect_location(acme_location, read_only=True) as con:
            before = {r[0] for r in con.fetchall("SELECT _id FROM returning_raw.users WHERE NOT is_deleted")}
        folder = project / "warehouse" / ".dlt" / "pipelines" / "returning_ai__acme"
        assert folder.is_dir(), folder
        import shutil

        shutil.rmtree(folder)
        admin.advance(hours=24)
        admin.reset_counters()
        again = cli(project, "sync", "--community", "acme")
        assert again.returncode == 0, again.stdout + again.stderr
        by_endpoint = admin.counters()["by_endpoint"]
        # no full reload: the daily history asks for the last day or two (a full read asks for each of
        # 90 days), the whole run costs a fraction of the first
        assert by_endpoint[daily] <= 3 < full_read["by_endpoint"][daily] / 10, (by_endpoint, full_read)
        assert sum(by_endpoint.values()) < full_read["total"] / 2, (by_endpoint, full_read)
        with connect_location(acme_location, read_only=True) as con:
            problems = a_day_later(admin, con, before)
        # acme's block (docs/communities.md) disables user_field_histories: not read, so not compared
        assert [p for p in problems if not p.startswith("user_field_histories:")] == []
        assert {t: count(project, "returning_raw", t) for t in TABLES} == default_before
        assert (project / "warehouse" / ".dlt" / "pipelines" / "returning_ai").is_dir()  # the default's untouched
    finally:
        admin.reset()  # the seeded start again, for the module's other tests
        admin.reset_counters()
