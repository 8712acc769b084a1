"""The production Dagster shape as real processes on this machine, no containers: the code location's
gRPC server (the command of deploy/Dockerfile), `dagster-daemon` and `dagster-webserver`, each with
the environment deploy/docker-compose.yaml gives it, on the instance of deploy/dagster.yaml (linked,
not copied, into DAGSTER_HOME) with its storage in a database of the test Postgres. Test code only."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import yaml

from tests.assets.conftest import DEPLOY, postgres_instance_env
from tests.pgcluster import free_port

PROJECT_ROOT = DEPLOY.parent
BIN = Path(sys.executable).parent
LOCATION = "returning_sync"
REPOSITORY = "__repository__"
# what a Dagster service may inherit from the test's environment: nothing of ours or of Dagster's
PRIVATE_PREFIXES = ("RETURNING_", "DAGSTER_", "DESTINATION__", "SOURCES__")

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], seconds: float, every: float = 0.5) -> T:
    """Poll `probe` until it returns something other than None (or False); TimeoutError naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {seconds:.0f}s")
        time.sleep(every)


def dockerfile_cmd() -> list[str]:
    """The code location command of deploy/Dockerfile (its exec-form CMD)."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"^CMD\s+(\[.*?\])\s*$", text, re.M | re.S)
    assert found, "deploy/Dockerfile has no exec-form CMD"
    return list(yaml.safe_load(found.group(1)))


def with_option(cmd: list[str], flag: str, value: str) -> list[str]:
    out = list(cmd)
    out[out.index(flag) + 1] = value
    return out


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> set[int]:
        """The service's process and everything it started that is still alive."""
        try:
            root = psutil.Process(self.proc.pid)
            return {root.pid, *(p.pid for p in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    home: Path
    workspace: Path
    grpc_port: int
    web_port: int
    storage_env: dict[str, str]
    location_env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    warehouse_url: str = ""  # where the code location's runs load (dlt's credentials variable)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _start(self, name: str, cmd: list[str], env: Mapping[str, str]) -> Service:
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            # a session (and process group) of its own: stopped as a whole, and only it
            proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        service = Service(name, proc, log)
        self.services[name] = service
        return service

    def start(self) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_PREFIXES)}
        dagster_env = {**base, **self.storage_env, "DAGSTER_HOME": str(self.home)}
        cmd = with_option(with_option(with_option(dockerfile_cmd(), "-h", "127.0.0.1"), "-p", str(self.grpc_port)),
                          "-d", str(PROJECT_ROOT))
        cmd[0] = str(BIN / cmd[0])
        self._start("code-location", cmd, {**dagster_env, **self.location_env})
        wait_for("the code location's gRPC server", self._grpc_serving, 240, every=0.5)
        # once serving, docker-compose.yaml's healthcheck command says so too (one process: each costs
        # an import of Dagster, so the polling above asks the same query from this process)
        assert self._grpc_healthy(), "`dagster api grpc-health-check` fails on a serving code location"
        self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)], dagster_env)
        self._start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.web_port),
                                  "-w", str(self.workspace)], dagster_env)
        wait_for("the webserver", self._web_up, 240, every=1.0)
        wait_for("the code location loaded in the webserver", self._location_loaded, 240, every=1.0)

    def _check_alive(self) -> None:
        for service in self.services.values():
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{service.tail()}")

    def _grpc_serving(self) -> bool:
        from dagster._grpc.client import DagsterGrpcClient

        self._check_alive()
        return DagsterGrpcClient(port=self.grpc_port, host="127.0.0.1").health_check_query() == "SERVING"

    def _grpc_healthy(self) -> bool:
        self._check_alive()
        done = subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(self.grpc_port),
                               "--host", "127.0.0.1"], capture_output=True, timeout=60, check=False)
        return done.returncode == 0

    def _web_up(self) -> bool:
        self._check_alive()
        try:
            return httpx.get(f"{self.url}/server_info", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def _location_loaded(self) -> bool:
        data = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
        entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
        entry = entries.get(LOCATION)
        if entry is None or entry["loadStatus"] != "LOADED":
            return False
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return True

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        self._check_alive()
        r = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        r.raise_for_status()
        body = r.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def service_pids(self) -> set[int]:
        """Every process of the three services now."""
        return {pid for service in self.services.values() for pid in service.pids()}

    def stop(self) -> None:
        """SIGTERM each service's process group, SIGKILL what is left after 30 s, then any process a
        service started outside its group (run workers). Only processes this deployment started."""
        started: list[psutil.Process] = []
        for service in self.services.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                started += psutil.Process(service.pid).children(recursive=True)
        for service in reversed(list(self.services.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGTERM)
        for service in self.services.values():
            try:
                service.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGKILL)
                service.proc.wait(timeout=30)
        for proc in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def make_deployment(root: Path, dagster_db_url: str, location_env: Mapping[str, str],
                    warehouse_url: str = "") -> Deployment:
    """Folders and files of a deployment under `root`: DAGSTER_HOME holding a link to the shipped
    deploy/dagster.yaml, and deploy/workspace.yaml with the gRPC server's host and port of this machine."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").symlink_to(DEPLOY / "dagster.yaml")
    grpc_port, web_port = free_port(), free_port()
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text(encoding="utf-8"))
    [entry] = workspace["load_from"]
    entry["grpc_server"].update({"host": "127.0.0.1", "port": grpc_port})
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace), encoding="utf-8")
    return Deployment(home=home, workspace=home / "workspace.yaml", grpc_port=grpc_port, web_port=web_port,
                      storage_env=postgres_instance_env(dagster_db_url), location_env=dict(location_env),
                      warehouse_url=warehouse_url)


@contextlib.contextmanager
def running(deployment: Deployment) -> Iterator[Deployment]:
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
