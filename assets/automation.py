"""Automation settings: crons and on/off for schedules and sensors, from `automation.toml` + env."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TOML = Path(__file__).with_name("automation.toml")
ON = {"1", "on", "true", "yes", "running"}
OFF = {"0", "off", "false", "no", "stopped"}


@dataclass(frozen=True)
class Switch:
    name: str
    enabled: bool
    cron: str | None = None


@dataclass(frozen=True)
class AutomationConfig:
    timezone: str
    partitions_start: str
    freshness_grace: dt.timedelta
    schedules: dict[str, Switch]
    sensors: dict[str, Switch]

    def schedule(self, name: str) -> Switch:
        return self.schedules[name]

    def sensor(self, name: str) -> Switch:
        return self.sensors.get(name, Switch(name, False))


def _flag(value: str, name: str) -> bool:
    if value.strip().lower() in ON:
        return True
    if value.strip().lower() in OFF:
        return False
    raise ValueError(f"RETURNING_SCHEDULE_{name.upper()}={value!r}: use on or off")


def _switch(name: str, raw: dict[str, Any], env: dict[str, str]) -> Switch:
    var = f"RETURNING_SCHEDULE_{name.upper()}"
    enabled = bool(raw.get("enabled", False))
    if env.get(var):
        enabled = _flag(env[var], name)
    cron = env.get(f"{var}_CRON") or raw.get("cron")
    return Switch(name, enabled, cron)


def load_automation(path: Path | None = None, env: dict[str, str] | None = None) -> AutomationConfig:
    env = dict(os.environ if env is None else env)
    toml_path = Path(path or env.get("RETURNING_AUTOMATION_TOML") or DEFAULT_TOML)
    raw = tomllib.loads(toml_path.read_text(encoding="utf-8")) if toml_path.exists() else {}
    start = env.get("RETURNING_PARTITIONS_START") or str(raw.get("partitions_start", "2025-01-01"))
    dt.date.fromisoformat(start)  # fail early on a bad date
    return AutomationConfig(
        timezone=str(raw.get("timezone", "UTC")),
        partitions_start=start,
        freshness_grace=dt.timedelta(minutes=float(raw.get("freshness_grace_minutes", 30))),
        schedules={n: _switch(n, s, env) for n, s in raw.get("schedules", {}).items()},
        sensors={n: _switch(n, s, env) for n, s in raw.get("sensors", {}).items()},
    )
