"""The project's Dagster instance: DAGSTER_HOME under the project, warehouse pool limited to 1, one
run per community at a time (`dagster dev` queues runs: the tag limits of deploy/dagster.yaml)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

from assets.partitions import COMMUNITY_PARTITION_TAG, COMMUNITY_TAG, PARTITION_TAG
from assets.resources import WAREHOUSE_POOL

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAGSTER_YAML = f"""# written by returning-sync: every warehouse writer shares pool `{WAREHOUSE_POOL}`, one at a time;
# one run per community at a time (its tags), as deploy/dagster.yaml
concurrency:
  pools:
    default_limit: 1
    granularity: op
  runs:
    tag_concurrency_limits:
      - key: {COMMUNITY_TAG}
        value: {{applyLimitPerUniqueValue: true}}
        limit: 1
      - key: {COMMUNITY_PARTITION_TAG}
        value: {{applyLimitPerUniqueValue: true}}
        limit: 1
      - key: {PARTITION_TAG}
        value: {{applyLimitPerUniqueValue: true}}
        limit: 1
telemetry:
  enabled: false
"""


def ensure_dagster_home(home: Path | None = None) -> Path:
    """Create DAGSTER_HOME (default `.dagster_home/` in the project) with its dagster.yaml."""
    path = (home or Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    ours = not config.exists() or config.read_text(encoding="utf-8").startswith("# written by returning-sync")
    if ours:  # a dagster.yaml the user wrote is left alone
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return path


def project_instance(home: Path | None = None) -> DagsterInstance:
    """A persistent instance at `home` (the UI shows its runs) with the warehouse pool set to 1 slot."""
    path = ensure_dagster_home(home)
    instance = DagsterInstance.from_config(str(path))
    limit_warehouse_pool(instance)
    return instance


def limit_warehouse_pool(instance: DagsterInstance, slots: int = 1) -> None:
    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, slots)
