"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, `initdb` in a
temporary folder, a free loopback port, run as the `postgres` user when the tests run as root.

`RETURNING_TEST_POSTGRES_URL` (a superuser URL) points the tests at a server of your own instead;
`RETURNING_TEST_POSTGRES=off` skips the Postgres cases. Otherwise a server that cannot be had is a
test failure that says why, never a silent skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SUPERUSER = "postgres"
PASSWORD = "rs-test-" + uuid.uuid4().hex[:12]  # a password login, so refused logins can be tested


def binaries() -> Path | None:
    """The folder of `initdb`/`pg_ctl` (Debian keeps them under /usr/lib/postgresql/<v>/bin)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    url: str  # superuser URL (with the password)
    data_dir: Path | None = None
    bin_dir: Path | None = None
    run_as: str | None = None

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + name))

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its URL."""
        name = name or "rs_" + uuid.uuid4().hex[:10]
        self._admin(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, db_url: str) -> None:
        """Drop the database `db_url` names, closing its sessions."""
        self._admin(f'DROP DATABASE IF EXISTS "{urlsplit(db_url).path.lstrip("/")}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        """One statement outside a transaction, as the superuser."""
        import psycopg2

        con = psycopg2.connect(self.url)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(statement)
        finally:
            con.close()

    def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
             self.run_as, check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _run(cmd: list[str], user: str | None, check: bool = True) -> subprocess.CompletedProcess[str]:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)


def start() -> Cluster:
    """Start a new server; raises RuntimeError saying what is missing."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (install Debian's `postgresql` package, "
                           "which ./dev.sh test does, or set RETURNING_TEST_POSTGRES_URL / RETURNING_TEST_POSTGRES=off)")
    run_as = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise RuntimeError("running as root and no `postgres` system user exists to run the test server") from None
        run_as = SUPERUSER
    base = Path(tempfile.mkdtemp(prefix="rs-pg-"))
    data = base / "data"
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD)
    if run_as:
        info = pwd.getpwnam(run_as)
        for p in (base, pwfile):
            os.chown(p, info.pw_uid, info.pw_gid)
    _run([str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=scram-sha-256",
          f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C"], run_as)
    port = free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=128MB")
    started = _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w",
                    "-t", "60", "start"], run_as, check=False)
    if started.returncode != 0:
        log = (base / "log").read_text(errors="replace")[-2000:] if (base / "log").exists() else ""
        raise RuntimeError(f"the test PostgreSQL server did not start: {started.stderr.strip()} {log}")
    url = f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{port}/postgres"
    _wait_ready(url)
    return Cluster(url=url, data_dir=data, bin_dir=bin_dir, run_as=run_as)


def _has_c_utf8() -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.lower()
    return "c.utf8" in out or "c.utf-8" in out


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(url, connect_timeout=2).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def from_environment() -> Cluster | None:
    """The cluster the environment names, or None when Postgres tests are switched off."""
    if os.environ.get("RETURNING_TEST_POSTGRES", "").lower() in ("off", "0", "no", "false"):
        return None
    url = os.environ.get("RETURNING_TEST_POSTGRES_URL")
    if url:
        return Cluster(url=url)
    return start()
