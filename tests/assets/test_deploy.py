"""deploy/: the production dagster.yaml loads through Dagster's instance schema into a real instance on
the test Postgres; compose, Helm values, the Dockerfile and the workspace agree on image, port,
module and variable names. No container runtime is available here: the images are never built or
started by these tests, only their files checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.instance.config import dagster_instance_config

from assets.resources import WAREHOUSE_POOL
from tests.assets.conftest import DEPLOY, postgres_instance_env, production_home

LOCATION = "returning_sync"
GRPC_PORT = 4000


def _yaml(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def _env_refs(node: Any) -> set[str]:
    """Every `{env: NAME}` in a Dagster config tree."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return {ref for value in node.values() for ref in _env_refs(value)}
    if isinstance(node, list):
        return {ref for value in node for ref in _env_refs(value)}
    return set()


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def _cmd(dockerfile: str) -> list[str]:
    found = re.search(r"^CMD\s+(\[.*?\])\s*$", dockerfile.replace("\\\n", " "), re.M | re.S)
    assert found, "the Dockerfile has no exec-form CMD"
    return yaml.safe_load(found.group(1))


def test_dagster_yaml_validates_and_opens_an_instance_on_postgres(pg_cluster: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    config = _yaml("dagster.yaml")
    assert _env_refs(config["storage"]) == {"DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD",
                                            "DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_DB", "DAGSTER_POSTGRES_PORT"}
    for name, value in postgres_instance_env(pg_cluster.create_database()).items():
        monkeypatch.setenv(name, value)
    home = production_home(tmp_path / "home")
    validated, custom_class = dagster_instance_config(str(home))  # raises on anything the schema refuses
    assert custom_class is None
    assert validated["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}

    instance = DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 4
        assert [(t["key"], t.get("value"), t["limit"]) for t in queue.tag_concurrency_limits] == [
            ("dagster/backfill", None, 2), ("returning/community", {"applyLimitPerUniqueValue": True}, 1),
            ("dagster/partition/community", {"applyLimitPerUniqueValue": True}, 1),
            ("dagster/partition", {"applyLimitPerUniqueValue": True}, 1)]
        # every pool, `duckdb_warehouse` included, has one slot without any `dagster instance concurrency set`
        assert instance.global_op_concurrency_default_limit == 1
        pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert (pool.limit, pool.using_default_limit) == (1, True)
        assert instance.get_runs() == []  # the storage answers
    finally:
        instance.dispose()


def test_compose_runs_one_image_with_the_instance_variables_and_no_literal_secret() -> None:
    compose = _yaml("docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "code-location", "webserver", "daemon"}
    dagster_services = [services[s] for s in ("code-location", "webserver", "daemon")]
    assert len({s["image"] for s in dagster_services}) == 1
    assert "returning-sync" in services["code-location"]["image"]
    assert services["code-location"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    wanted = _env_refs(_yaml("dagster.yaml"))
    for service in dagster_services:  # every variable the instance config reads is set
        assert wanted <= set(service["environment"]), service
    location = services["code-location"]["environment"]
    assert {"RETURNING_DESTINATION", "RETURNING_WAREHOUSE", "DESTINATION__POSTGRES__CREDENTIALS",
            "RETURNING_AI_API_KEY", "RETURNING_AI_COMMUNITY_ID"} <= set(location)
    assert str(GRPC_PORT) in [str(p) for p in services["code-location"]["expose"]]
    for service in services.values():  # secrets only by interpolation from deploy/.env
        for name, value in (service.get("environment") or {}).items():
            if "PASSWORD" in name or "KEY" in name or "CREDENTIALS" in name:
                assert "${" in str(value), name
    # the warehouse credentials reach the code location only: the webserver and daemon never run a step
    for service in ("webserver", "daemon"):
        assert not any("DESTINATION__" in n or n.startswith("RETURNING_AI") for n in services[service]["environment"])
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text(encoding="utf-8"))
    grpc = workspace["load_from"][0]["grpc_server"]
    assert (grpc["host"], grpc["port"], grpc["location_name"]) == ("code-location", GRPC_PORT, LOCATION)
    for service in ("webserver", "daemon"):
        assert "/opt/dagster/dagster_home/workspace.yaml" in services[service]["command"]


def test_helm_values_match_the_image_the_code_location_and_the_instance_limits() -> None:
    values = _yaml("helm/values.yaml")
    compose = _yaml("docker-compose.yaml")
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"].rsplit("/", 1)[-1] == "returning-sync"
    assert deployment["port"] == GRPC_PORT
    args = deployment["codeServerArgs"]
    cmd = _cmd(_dockerfile())
    for flag in ("-m", "-a", "-d", "--location-name"):  # the same code location as the image's CMD
        assert args[args.index(flag) + 1] == cmd[cmd.index(flag) + 1], flag
    assert args[args.index("--location-name") + 1] == LOCATION
    env = {e["name"]: e["value"] for e in deployment["env"]}
    location_env = compose["services"]["code-location"]["environment"]
    assert env["RETURNING_WAREHOUSE"] == location_env["RETURNING_WAREHOUSE"]
    assert env["RETURNING_DESTINATION"] == "postgres" and "postgres" in location_env["RETURNING_DESTINATION"]
    assert deployment["envSecrets"] == [{"name": "returning-sync-secrets"}]
    assert values["postgresql"]["postgresqlPassword"] == ""  # the password lives in a Secret
    assert values["postgresql"]["postgresqlScheme"] == _yaml("dagster.yaml")["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    # the chart writes the instance config itself: the same limits as deploy/dagster.yaml
    instance = _yaml("dagster.yaml")["concurrency"]
    chart = values["concurrency"]
    assert chart["enabled"] is True
    assert chart["pools"] == {"defaultLimit": instance["pools"]["default_limit"],
                              "granularity": instance["pools"]["granularity"]}
    assert chart["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]
    assert chart["runs"]["tagConcurrencyLimits"] == instance["runs"]["tag_concurrency_limits"]


def test_dockerfile_builds_the_code_location_on_python_311() -> None:
    text = _dockerfile()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["python:3.11-slim"]
    # the project, pinned by the tested environment's constraints (./dev.sh lock)
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", text)
    assert re.findall(r"^EXPOSE\s+(\d+)", text, re.M) == [str(GRPC_PORT)]
    cmd = _cmd(text)
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-p") + 1] == str(GRPC_PORT) and cmd[cmd.index("-m") + 1] == "assets.definitions"
    assert re.search(r"^COPY deploy/dagster\.yaml .*/opt/dagster/dagster_home/", text, re.M)
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in text
    assert re.search(r"^USER\s+(?!root)\S+", text, re.M)  # not root
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".dlt/secrets.toml", "*.duckdb", ".git", ".venv", ".dagster_home"} <= set(ignored)
