"""Settings resolve in one order, the dlt way (warehouse/configuration.py): an explicit argument,
then the documented RETURNING_* variable, then dlt's providers under `sources.returning_ai`
(SOURCES__RETURNING_AI__* in the environment, .dlt/secrets.toml, .dlt/config.toml), then the
default. Bad values are one line naming the setting and where it was; the key never shows."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import Settings
from pipelines.errors import ConfigError
from tests.dltproject import empty_project, write
from tests.simadmin import SimAdmin
from warehouse.location import WarehouseLocation

KEY = "ab" * 32
OTHER_KEY = "cd" * 32
FROM_DLT, FROM_FIELD = "d1" * 12, "f0" * 12  # community ids: 24 hex


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with an empty `.dlt` folder and no setting in the environment."""
    yield from empty_project(tmp_path, monkeypatch)


def test_dlt_files_configure_every_setting(project: Path) -> None:
    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\n')
    write(project, "config.toml", """
[sources.returning_ai]
base_url = "http://all.example"
partner_url = "http://partner.example"
community_id = "6502c9e514a3e564c5c09c0a"
destination = "Postgres"
warehouse = "data/w.duckdb"
concurrency = 3
timeout = 5
max_attempts = 2
backoff_base = 0.5
backoff_max = 4
rate_limit = 12.5
lookback_seconds = 60
lookback_days = 2
daily_lookback_days = 1
history_days = 30
lock_wait = 1.5
duckdb_memory_limit = "off"

[sources.returning_ai.registry_overrides.tiers]
page_size = 7
""")
    s = Settings.from_env()
    assert s.api_key == KEY
    assert (s.integration_url, s.partner_url, s.application_url) == (
        "http://all.example", "http://partner.example", "http://all.example")
    assert (s.community_id, s.destination, s.warehouse) == ("6502c9e514a3e564c5c09c0a", "postgres", Path("data/w.duckdb"))
    assert (s.concurrency, s.timeout, s.max_attempts, s.backoff_base, s.backoff_max, s.rate_limit) == (
        3, 5.0, 2, 0.5, 4.0, 12.5)
    assert (s.lookback_seconds, s.lookback_days, s.daily_lookback_days, s.history_days, s.lock_wait) == (
        60.0, 2, 1, 30, 1.5)
    assert s.duckdb_memory_limit is None and s.registry_overrides == {"tiers": {"page_size": 7}}
    assert s.origins["concurrency"] == f"sources.returning_ai.concurrency in {project / '.dlt' / 'config.toml'}"
    assert WarehouseLocation.from_env() == WarehouseLocation("postgres", Path("data/w.duckdb"))


def test_precedence_argument_then_returning_env_then_dlt_env_then_secrets_then_config(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "config.toml", "[sources.returning_ai]\nconcurrency = 2\ntimeout = 2\nmax_attempts = 2\n"
                                  "backoff_base = 2\nhistory_days = 2\n")
    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\nconcurrency = 3\ntimeout = 3\n'
                                   "max_attempts = 3\nbackoff_base = 3\n")
    monkeypatch.setenv("SOURCES__RETURNING_AI__CONCURRENCY", "4")
    monkeypatch.setenv("SOURCES__RETURNING_AI__TIMEOUT", "4")
    monkeypatch.setenv("SOURCES__RETURNING_AI__MAX_ATTEMPTS", "4")
    monkeypatch.setenv("RETURNING_SYNC_CONCURRENCY", "5")
    monkeypatch.setenv("RETURNING_SYNC_TIMEOUT", "5")
    s = Settings.from_env(concurrency=6)
    assert (s.concurrency, s.timeout, s.max_attempts, s.backoff_base, s.history_days, s.lock_wait) == (
        6, 5.0, 4, 3.0, 2, 0.0)
    assert s.origins["timeout"] == "RETURNING_SYNC_TIMEOUT in the environment"
    assert s.origins["max_attempts"] == "SOURCES__RETURNING_AI__MAX_ATTEMPTS in the environment"
    # a surface's own URL beats the base URL of the same layer; a higher layer's base URL beats both
    monkeypatch.setenv("SOURCES__RETURNING_AI__PARTNER_URL", "http://dlt-partner")
    monkeypatch.setenv("RETURNING_AI_BASE_URL", "http://env-base")
    assert Settings.from_env().partner_url == "http://env-base"
    assert Settings.from_env(partner_url="http://arg").partner_url == "http://arg"


def test_returning_names_stay_aliases_in_the_dlt_files(project: Path) -> None:
    write(project, "secrets.toml", f'RETURNING_AI_API_KEY = "{KEY}"\n')
    write(project, "config.toml", "RETURNING_SYNC_CONCURRENCY = 9\nRETURNING_WAREHOUSE = \"x.duckdb\"\n")
    s = Settings.from_env()
    assert (s.api_key, s.concurrency, s.warehouse) == (KEY, 9, Path("x.duckdb"))


def test_the_key_comes_only_from_where_dlt_keeps_secrets(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "config.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\n')
    monkeypatch.setenv("API_KEY", OTHER_KEY)  # another service's key: dlt's bare-name fallback is not used
    write(project, "secrets.toml", f'[sources]\napi_key = "{OTHER_KEY}"\n')
    with pytest.raises(ConfigError, match="RETURNING_AI_API_KEY is not set"):
        Settings.from_env()
    monkeypatch.setenv("SOURCES__RETURNING_AI__API_KEY", OTHER_KEY)
    assert Settings.from_env().api_key == OTHER_KEY


def test_bad_values_name_the_setting_and_where_it_was(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(project, "config.toml", '[sources.returning_ai]\nconcurrency = "many"\n')
    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\n')
    monkeypatch.setenv("RETURNING_SYNC_CONCURRENCY", "")  # empty: unset
    with pytest.raises(ConfigError) as bad:
        Settings.from_env()
    assert str(bad.value) == f"sources.returning_ai.concurrency must be a whole number, got 'many' (in {config})"
    write(project, "config.toml", "[sources.returning_ai]\nconcurrency = 100\nhistory_days = 2.5\n")
    with pytest.raises(ConfigError, match=r"^sources.returning_ai.history_days must be a whole number, got 2.5"):
        Settings.from_env()
    write(project, "config.toml", "[sources.returning_ai]\nconcurrency = 100\n")
    with pytest.raises(ConfigError) as bad:
        Settings.from_env()
    assert str(bad.value) == ("concurrency must be between 1 and 64, got 100 "
                              f"(from sources.returning_ai.concurrency in {config})")
    write(project, "config.toml", "[sources.returning_ai]\nwarehouse = 7\n")
    with pytest.raises(ConfigError, match="sources.returning_ai.warehouse in .*config.toml must be text, got a int"):
        Settings.from_env()
    write(project, "config.toml", "")
    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY[:10]} {KEY[10:]}"\n')
    with pytest.raises(ConfigError) as bad:
        Settings.from_env()  # the key from the file holds a space
    message = str(bad.value)
    assert message.startswith("the API key contains whitespace (from sources.returning_ai.api_key in ")
    assert KEY[:10] not in message and KEY[10:] not in message
    write(project, "config.toml", "[sources.returning_ai\n")
    with pytest.raises(ConfigError, match=r"^config.toml is not valid TOML \("):
        Settings.from_env({}, providers=True)


def test_a_given_environment_or_providers_off_leave_dlt_out(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "config.toml", "[sources.returning_ai]\nconcurrency = 3\n")
    monkeypatch.setenv("SOURCES__RETURNING_AI__TIMEOUT", "7")
    monkeypatch.setenv("RETURNING_AI_API_KEY", KEY)
    assert Settings.from_env({"RETURNING_AI_API_KEY": KEY}).concurrency == 4
    quick = Settings.from_env(providers=False)
    assert (quick.concurrency, quick.timeout) == (4, 30.0)
    full = Settings.from_env()
    assert (full.concurrency, full.timeout) == (3, 7.0) and full != quick


def test_warehouse_location_resolves_in_the_same_order(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "config.toml", '[sources.returning_ai]\ndestination = "postgres"\nwarehouse = "a.duckdb"\n')
    assert WarehouseLocation.from_env() == WarehouseLocation("postgres", Path("a.duckdb"))
    monkeypatch.setenv("RETURNING_WAREHOUSE", "b.duckdb")
    assert WarehouseLocation.from_env() == WarehouseLocation("postgres", Path("b.duckdb"))
    assert WarehouseLocation.from_env(destination="DuckDB", path="c.duckdb") == WarehouseLocation("duckdb", Path("c.duckdb"))
    assert WarehouseLocation.from_env({}) == WarehouseLocation()


def test_push_thresholds_are_read_when_a_check_runs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets import reverse_etl

    importlib.reload(reverse_etl)  # importing reads nothing: what counts is the value when asked
    assert reverse_etl.threshold("push_max_rejection_rate") == 0.05
    assert reverse_etl.threshold("push_stale_job_minutes") == 60.0
    write(project, "config.toml", "[sources.returning_ai]\npush_max_rejection_rate = 0.2\n")
    assert reverse_etl.threshold("push_max_rejection_rate") == 0.2
    monkeypatch.setenv("RETURNING_PUSH_MAX_REJECTION_RATE", "0.3")
    assert reverse_etl.threshold("push_max_rejection_rate") == 0.3
    monkeypatch.setenv("RETURNING_PUSH_MAX_REJECTION_RATE", "lots")
    with pytest.raises(ConfigError, match="RETURNING_PUSH_MAX_REJECTION_RATE must be a number, got 'lots' "
                                          r"\(in the environment\)"):
        reverse_etl.threshold("push_max_rejection_rate")


@pytest.mark.parametrize(("where", "says"), [
    ("environment", "RETURNING_AI_COMMUNITY_ID must be the community's id, 24 hex characters "
                    "(e.g. 6502c9e514a3e564c5c09c0a), got '123' (from RETURNING_AI_COMMUNITY_ID in the environment)"),
    ("config.toml", "sources.returning_ai.community_id must be the community's id, 24 hex characters "
                    "(e.g. 6502c9e514a3e564c5c09c0a), got '6502c9e514a3e564c5c09c0g' "
                    "(from sources.returning_ai.community_id in {config})"),
])
def test_a_community_id_that_is_not_24_hex_is_refused_naming_where_it_was(
        project: Path, monkeypatch: pytest.MonkeyPatch, where: str, says: str) -> None:
    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\n')
    config = write(project, "config.toml", '[sources.returning_ai]\ncommunity_id = "6502c9e514a3e564c5c09c0g"\n')
    if where == "environment":
        monkeypatch.setenv("RETURNING_AI_COMMUNITY_ID", "123")
    with pytest.raises(ConfigError) as bad:
        Settings.from_env()
    assert str(bad.value) == says.format(config=config)
    monkeypatch.setenv("RETURNING_AI_COMMUNITY_ID", "6502C9E514A3E564C5C09C0A")  # hex in either case
    assert Settings.from_env().community_id == "6502C9E514A3E564C5C09C0A"


def test_dagster_resource_fields_are_arguments_and_the_rest_resolves(project: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.resources import ReturningApiSettings, Warehouse

    write(project, "secrets.toml", f'[sources.returning_ai]\napi_key = "{KEY}"\n')
    write(project, "config.toml", '[sources.returning_ai]\nconcurrency = 3\nbase_url = "http://dlt"\n'
                                  f'community_id = "{FROM_DLT}"\n')
    monkeypatch.setenv("RETURNING_AI_BASE_URL", "http://env")
    s = ReturningApiSettings(community_id=FROM_FIELD).settings(Warehouse(path="w.duckdb"))
    assert (s.api_key, s.integration_url, s.community_id, s.concurrency) == (KEY, "http://env", FROM_FIELD, 3)
    assert (s.destination, s.warehouse) == ("duckdb", Path("w.duckdb"))
    s = ReturningApiSettings(api_key=OTHER_KEY, base_url="http://field").settings(Warehouse())
    assert (s.api_key, s.partner_url, s.community_id) == (OTHER_KEY, "http://field", FROM_DLT)


def test_the_first_read_is_taken_when_dlt_files_add_settings(sim: SimAdmin, api_env: dict[str, str],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The early read goes out before dlt reads `.dlt/config.toml`; the run, configured by it too,
    takes that answer since it is the very request it would send: one request, not two."""
    from returning_sync.cli import main

    (tmp_path / "p" / ".dlt").mkdir(parents=True)
    (tmp_path / "p" / ".dlt" / "config.toml").write_text("[sources.returning_ai]\nrate_limit = 50\ntimeout = 9\n")
    monkeypatch.chdir(tmp_path / "p")
    sim.reset_counters()
    try:
        assert main(["sync", "--resources", "tiers"]) == 0
    finally:
        monkeypatch.undo()
        from dlt.common.configuration.container import Container
        from dlt.common.configuration.specs import PluggableRunContext

        Container()[PluggableRunContext].reload_providers()
    assert sim.counters()["by_endpoint"] == {"GET /apis/v1/tiers": 1}
    assert "total: 1 request (0 retried)" in capsys.readouterr().out


def test_webhook_receiver_settings_resolve_the_same_way(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from returning_errors import ConfigError as WebhookConfigError
    from webhooks.config import WebhookSettings, landing_dir

    for var in ("RETURNING_WEBHOOK_KEY", "RETURNING_WEBHOOK_AES_KEY", "RETURNING_WEBHOOK_DIR"):
        monkeypatch.delenv(var, raising=False)
    aes = "k" * 32
    secrets_toml = write(project, "secrets.toml",
                         f'[sources.returning_ai]\nwebhook_key = "hook-key"\nwebhook_aes_key = "{aes}"\n')
    write(project, "config.toml", '[sources.returning_ai]\nwebhook_dir = "landed"\n')
    s = WebhookSettings.from_env()
    assert (s.api_key, s.aes_key, s.directory, landing_dir()) == ("hook-key", aes.encode(), Path("landed"), Path("landed"))
    monkeypatch.setenv("RETURNING_WEBHOOK_DIR", "env-landed")
    assert WebhookSettings.from_env().directory == Path("env-landed")
    write(project, "secrets.toml", '[sources.returning_ai]\nwebhook_key = "hook-key"\nwebhook_aes_key = "short"\n')
    with pytest.raises(WebhookConfigError) as bad:
        WebhookSettings.from_env()
    assert str(bad.value) == "sources.returning_ai.webhook_aes_key must be 32 ASCII characters (got 5 characters)"
    assert secrets_toml.exists() and WebhookSettings.from_env({}, allow_no_key=True).api_key is None


def test_the_readme_example_config_resolves(project: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("An example, set for the simulator of the quick start", 1)[1]
    config, secrets = (block.split("```", 1)[0] for block in section.split("```toml\n")[1:3])
    write(project, "config.toml", config)
    write(project, "secrets.toml", secrets)
    s = Settings.from_env()
    assert (s.api_key, s.community_id, s.partner_url, s.concurrency, s.rate_limit, s.history_days) == (
        "0123456789abcdef" * 4, "6502c9e514a3e564c5c09c0a", "http://127.0.0.1:8765", 8, 20.0, 30)
    assert s.duckdb_memory_limit == "1GB"
    assert s.registry_overrides == {"store_config": {"path": "/v1/stores"}}
