"""No secret leaks: a canary API key, used for a full sync, a failing sync, a reverse-ETL push and a
Dagster materialization, appears in no output, log, Dagster event or run record, dlt trace or
state, warehouse table, or any file the runs wrote. The secrets file and the warehouse are
ignored by git."""

from __future__ import annotations

import gzip
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest

from tests.simadmin import COMMUNITY_ID, SimAdmin

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "returning_sync.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def files_under(root: Path, newer_than: float = 0.0) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                if path.is_file() and path.stat().st_mtime >= newer_than:
                    yield path
            except OSError:
                continue


def readable(path: Path) -> bytes:
    """A file's bytes as they would be read: gzip unpacked, parquet decoded, DuckDB dumped."""
    if path.suffix == ".gz":
        with gzip.open(path) as f:
            return f.read()
    if path.suffix == ".parquet":
        return repr(pq.read_table(path).to_pylist()).encode()
    if path.suffix == ".duckdb":
        return dump_warehouse(path).encode()
    return path.read_bytes()


def dump_warehouse(path: Path) -> str:
    """Every row of every table of every schema, as text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = []
        for schema, table in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall():
            out.append(f"{schema}.{table}")
            out.extend(repr(r) for r in con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall())
        return "\n".join(out)
    finally:
        con.close()


def dagster_records(home: Path) -> str:
    """Runs (config, tags, job snapshots) and every event of every run in the instance's storage."""
    from dagster import DagsterInstance
    from dagster._serdes import serialize_value

    instance = DagsterInstance.from_config(str(home))
    try:
        out = []
        for run in instance.get_runs():
            out.append(serialize_value(run))
            if run.job_snapshot_id:
                out.append(serialize_value(instance.get_job_snapshot(run.job_snapshot_id)))
            out.extend(serialize_value(e) for e in instance.all_logs(run.run_id))
        assert out, "no Dagster run was recorded"
        return "\n".join(out)
    finally:
        instance.dispose()


def materialize_with_key(sim: SimAdmin, warehouse: Path, home: Path, key: Any) -> Any:
    from dagster import DagsterInstance, materialize
    from dagster_dlt import DagsterDltResource

    from assets.ingest import build_ingest_assets

    raw_snapshot = build_ingest_assets().snapshot
    from assets.instance import ensure_dagster_home
    from assets.resources import ReturningApiSettings, Warehouse

    instance = DagsterInstance.from_config(str(ensure_dagster_home(home)))
    try:
        return materialize([raw_snapshot], instance=instance, raise_on_error=False, resources={
            "dlt": DagsterDltResource(),
            "returning": ReturningApiSettings(api_key=key, base_url=sim.base_url, community_id=COMMUNITY_ID),
            "warehouse": Warehouse(destination="duckdb", path=str(warehouse)),
        })
    finally:
        instance.dispose()


@pytest.mark.slow
def test_canary_key_appears_nowhere(sim: SimAdmin, api_env: dict[str, str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    started = time.time() - 1
    canary = secrets.token_hex(32)
    sim.post("/__sim/keys", {"key": canary, "permissions": "all"})
    home = tmp_path / "dagster_home"
    env = {**os.environ, **api_env, "RETURNING_AI_API_KEY": canary, "DAGSTER_HOME": str(home),
           "RUNTIME__LOG_LEVEL": "INFO"}
    monkeypatch.setenv("RETURNING_AI_API_KEY", canary)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    outputs: list[str] = []

    sync = cli(["sync"], env)  # every resource, the demo's community
    outputs += [sync.stdout, sync.stderr]
    assert sync.returncode == 0, sync.stderr[-2000:]

    from warehouse.duck import connect
    from warehouse.models import build_all

    con = connect(Path(api_env["RETURNING_WAREHOUSE"]))
    try:
        build_all(con)
    finally:
        con.close()
    sim.knobs(bulk_delay_ms=50)
    push = cli(["push", "weekly_tier_bonus"], env)
    outputs += [push.stdout, push.stderr]
    assert push.returncode == 0 and "completed" in push.stdout, push.stdout + push.stderr[-2000:]

    httpx.delete(f"{sim.base_url}/__sim/keys/{canary}").raise_for_status()  # error paths too
    refused = cli(["sync", "--resources", "users"], env)
    outputs += [refused.stdout, refused.stderr]
    assert refused.returncode == 3 and "HTTP 401" in refused.stderr
    sim.post("/__sim/keys", {"key": canary, "permissions": "all"})

    dagster_wh = tmp_path / "dagster" / "returning.duckdb"
    result = materialize_with_key(sim, dagster_wh, home, None)  # the key from the environment, as deployed
    assert result.success
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err]

    needle = canary.encode()
    assert not [i for i, text in enumerate(outputs) if canary in text], "canary in command output"
    assert canary not in dagster_records(home)
    for warehouse in (Path(api_env["RETURNING_WAREHOUSE"]), dagster_wh):
        assert canary not in dump_warehouse(warehouse)
    leaked = [str(p) for p in files_under(tmp_path) if needle in readable(p)]
    leaked += [str(p) for p in files_under(REPO, newer_than=started)
               if p.suffix not in (".duckdb", ".wal") and needle in p.read_bytes()]
    assert leaked == []
    # the runs wrote what the search covered: dlt state, trace, schema; Dagster storage; the push CSV
    written = {p.name for p in files_under(tmp_path)}
    assert {"state.json", "trace.pickle", "returning_ai.schema.json"} <= written
    assert any(n.endswith(".csv") for n in written) and any(n.endswith(".db") for n in written)


def test_a_key_given_to_the_dagster_resource_as_envvar_is_not_stored(sim: SimAdmin, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster stores a resource's literal values in its run records (the job snapshot's config
    defaults): a key passed explicitly must come as `EnvVar`, which is stored by name only."""
    from dagster import EnvVar

    canary = secrets.token_hex(32)
    sim.post("/__sim/keys", {"key": canary, "permissions": "all"})
    monkeypatch.setenv("RETURNING_CANARY_KEY", canary)
    home = tmp_path / "dagster_home"
    result = materialize_with_key(sim, tmp_path / "returning.duckdb", home, EnvVar("RETURNING_CANARY_KEY"))
    assert result.success
    records = dagster_records(home)
    assert canary not in records and "RETURNING_CANARY_KEY" in records
    assert [str(p) for p in files_under(home) if canary.encode() in p.read_bytes()] == []


def test_secrets_file_and_warehouse_are_ignored_by_git() -> None:
    for path in (".dlt/secrets.toml", "warehouse/returning.duckdb", "warehouse/returning.duckdb.wal",
                 "warehouse/.dlt/pipelines/returning_ai/state.json", ".dagster_home/storage/runs.db", ".env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=REPO, capture_output=True)
        assert tracked.returncode != 0, f"{path} is tracked by git"


def test_key_in_dlt_secrets_toml_is_used_and_never_echoed(sim: SimAdmin, api_env: dict[str, str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The README's second place for the key: `.dlt/secrets.toml` in the working directory."""
    from returning_sync.cli import main

    canary = secrets.token_hex(32)
    sim.post("/__sim/keys", {"key": canary, "permissions": "all"})
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "secrets.toml").write_text(f'RETURNING_AI_API_KEY = "{canary}"\n')
    monkeypatch.chdir(project)
    monkeypatch.delenv("RETURNING_AI_API_KEY")
    assert main(["sync", "--resources", "tiers"]) == 0
    httpx.delete(f"{sim.base_url}/__sim/keys/{canary}").raise_for_status()
    assert main(["sync", "--resources", "tiers"]) == 3  # the key from the file is the one sent
    out = capsys.readouterr()
    assert canary not in out.out + out.err
    (project / ".dlt" / "secrets.toml").write_text("RETURNING_AI_API_KEY = [\n")
    assert main(["sync", "--resources", "tiers"]) == 2
    assert "secrets.toml is not valid TOML" in capsys.readouterr().err


def dump_postgres(url: str) -> str:
    """Every row of every table of every schema of a Postgres database, as text."""
    import psycopg2

    con = psycopg2.connect(url)
    try:
        out = []
        with con.cursor() as cur:
            cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            for schema, table in cur.fetchall():
                out.append(f"{schema}.{table}")
                with con.cursor() as rows:
                    rows.execute(f'SELECT * FROM "{schema}"."{table}"')
                    out.extend(repr(r) for r in rows.fetchall())
        return "\n".join(out)
    finally:
        con.close()


def test_canary_database_password_appears_nowhere(sim: SimAdmin, api_env: dict[str, str], tmp_path: Path,
                                                  pg_cluster: Any) -> None:
    """The warehouse password (dlt's DESTINATION__POSTGRES__CREDENTIALS) used for a full sync, a
    no-change sync, the models, `sql`, a push with its ledger on Postgres, and a refused login is in
    no output, file, dlt trace or warehouse table."""
    import psycopg2

    started = time.time() - 1
    password = "pw-" + secrets.token_hex(16)
    user = "canary_" + secrets.token_hex(4)
    admin = psycopg2.connect(pg_cluster.url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {user} LOGIN PASSWORD %s", [password])
        cur.execute(f"CREATE DATABASE {user} OWNER {user}")
    admin.close()
    host_port = pg_cluster.url.split("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://{user}:{password}@{host_port}/{user}"
    env = {**os.environ, **api_env, "RETURNING_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": url,
           "RUNTIME__LOG_LEVEL": "INFO"}
    outputs: list[str] = []
    sim.knobs(bulk_delay_ms=50)
    for args in (["sync"], ["sync"], ["models"], ["sql", "select count(*) from analytics.dim_users"],
                 ["push", "weekly_tier_bonus"]):
        done = cli(args, env)
        outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stderr[-2000:]
    wrong = {**env, "DESTINATION__POSTGRES__CREDENTIALS": url.replace(password, password[::-1])}
    refused = cli(["sync", "--resources", "tiers"], wrong)
    outputs += [refused.stdout, refused.stderr]
    assert refused.returncode == 2 and "refused the connection" in refused.stderr and host_port in refused.stderr
    assert not [i for i, text in enumerate(outputs) if password in text or password[::-1] in text]
    assert password not in dump_postgres(url)
    needle = password.encode()
    leaked = [str(p) for p in files_under(tmp_path) if needle in readable(p)]
    leaked += [str(p) for p in files_under(REPO, newer_than=started)
               if p.suffix not in (".duckdb", ".wal") and needle in p.read_bytes()]
    assert leaked == []
    written = {p.name for p in files_under(tmp_path)}
    assert {"state.json", "trace.pickle", "returning_ai.schema.json"} <= written


def privacy_runs(env: dict[str, str], email: str) -> list[str]:
    """A hashed sync, the models, a push, the share, a forget (dry run, then real) and a query, through
    the command line; returns everything they printed."""
    outputs: list[str] = []
    for args in (["sync"], ["models"], ["push", "weekly_tier_bonus"], ["share"],
                 ["forget", "--email", email, "--dry-run"], ["forget", "--email", email], ["sync"],
                 ["sql", "select count(*) from returning_private.member_keys"]):
        done = cli(args, env)
        outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, (args, done.stderr[-2000:])
    short = cli(["sync", "--resources", "tiers"], {**env, "SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY": "tooshort-xyz"})
    outputs += [short.stdout, short.stderr]
    assert short.returncode == 2 and "at least 16 characters" in short.stderr and "tooshort-xyz" not in short.stderr
    return outputs


@pytest.mark.parametrize("destination_name", ["duckdb", "postgres"])
def test_canary_hmac_key_and_passwords_appear_nowhere(sim: SimAdmin, api_env: dict[str, str], tmp_path: Path,
                                                      request: pytest.FixtureRequest, destination_name: str) -> None:
    """The PII policy's HMAC key (and on Postgres the warehouse password and the analysts' role
    password) used for every privacy command is in no output, file, dlt trace or warehouse table."""
    started = time.time() - 1
    key = "hmac-" + secrets.token_hex(16)
    analyst = "an-" + secrets.token_hex(12)
    env = {**os.environ, **api_env, "RUNTIME__LOG_LEVEL": "INFO", "SOURCES__RETURNING_AI__PRIVACY__PII": "hash",
           "SOURCES__RETURNING_AI__PRIVACY__HMAC_KEY": key,
           "SOURCES__RETURNING_AI__PRIVACY__ANALYST_PASSWORD": analyst}
    canaries = [key, analyst]
    if destination_name == "postgres":
        import psycopg2

        cluster = request.getfixturevalue("pg_cluster")
        password = "pw-" + secrets.token_hex(16)
        user = "canary_" + secrets.token_hex(4)
        admin = psycopg2.connect(cluster.url)
        admin.autocommit = True
        with admin.cursor() as cur:  # CREATEROLE: `share` creates the analysts' role
            cur.execute(f"CREATE ROLE {user} LOGIN CREATEROLE PASSWORD %s", [password])
            cur.execute(f"CREATE DATABASE {user} OWNER {user}")
        admin.close()
        host_port = cluster.url.split("@", 1)[1].split("/", 1)[0]
        url = f"postgresql://{user}:{password}@{host_port}/{user}"
        env.update({"RETURNING_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": url})
        canaries.append(password)
    sim.knobs(bulk_delay_ms=50)
    email = sim.truth_rows("users")[3]["email"]
    outputs = privacy_runs(env, email)
    assert not [text for text in outputs if email in text], "a member's address in command output"
    for canary in canaries:
        assert not [i for i, text in enumerate(outputs) if canary in text], "canary in command output"
        if destination_name == "postgres":
            assert canary not in dump_postgres(env["DESTINATION__POSTGRES__CREDENTIALS"])
        needle = canary.encode()
        leaked = [str(p) for p in files_under(tmp_path) if needle in readable(p)]
        leaked += [str(p) for p in files_under(REPO, newer_than=started)
                   if p.suffix not in (".duckdb", ".wal") and needle in p.read_bytes()]
        assert leaked == [], canary
    written = {p.name for p in files_under(tmp_path)}
    assert {"state.json", "trace.pickle", "returning_ai.schema.json"} <= written
    if destination_name == "duckdb":
        assert "returning_share.duckdb" in written  # dumped above, with the warehouse
