"""Communities as configuration (pipelines/communities.py): the top level is the community
`default`, unchanged; each `[sources.returning_ai.communities.<slug>]` block (or its environment form)
is one more community that inherits the top-level settings it does not set, except its key and id."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.communities import Community, communities, community
from pipelines.config import Settings
from pipelines.errors import ConfigError
from returning_errors import scrub
from tests.dltproject import write

TOP_KEY, ACME_KEY, BETA_KEY, GAMMA_KEY = "a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32
TOP_ID, ACME_ID, BETA_ID, GAMMA_ID = "6502c9e514a3e564c5c09c0a", "aa" * 12, "bb" * 12, "cc" * 12

CONFIG = f"""
[sources.returning_ai]
base_url = "http://top.example"
community_id = "{TOP_ID}"
concurrency = 3
warehouse = "data/w.duckdb"

[sources.returning_ai.communities.acme]
community_id = "{ACME_ID}"
partner_url = "http://acme-partner.example"
concurrency = 7
disabled = ["user_field_histories"]

[sources.returning_ai.communities.acme.registry_overrides.tiers]
page_size = 9

[sources.returning_ai.communities.beta]
community_id = "{BETA_ID}"
base_url = "http://beta.example"
warehouse = "data/beta.duckdb"
"""
SECRETS = f"""
[sources.returning_ai]
api_key = "{TOP_KEY}"

[sources.returning_ai.communities.acme]
api_key = "{ACME_KEY}"

[sources.returning_ai.communities.beta]
api_key = "{BETA_KEY}"
"""


def test_the_single_community_configuration_is_the_default_community_unchanged(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", TOP_KEY)
    monkeypatch.setenv("RETURNING_AI_COMMUNITY_ID", TOP_ID)
    monkeypatch.setenv("RETURNING_AI_BASE_URL", "http://sim.example")
    found = communities()
    assert [c.slug for c in found] == ["default"]
    default = found[0]
    assert default == community("default")
    assert default.settings == Settings.from_env()
    assert (default.pipeline_name, default.raw_schema, default.models_schema, default.push_schema,
            default.staging_dataset, default.lock_name) == (
        "returning_ai", "returning_raw", "analytics", "reverse_etl", "returning_raw_staging", "sync")
    assert default.location == Settings.from_env().location  # the same location, community `default`
    assert default.location.schema_map == {}
    assert default.lock_file == Settings.from_env().location.workdir / "sync.lock"


def test_nothing_configured_is_no_community(project: Path) -> None:
    assert communities() == []


def test_toml_blocks_overlay_the_top_level_settings(project: Path) -> None:
    config = write(project, "config.toml", CONFIG)
    write(project, "secrets.toml", SECRETS)
    default, acme, beta = communities()
    assert [default.slug, acme.slug, beta.slug] == ["default", "acme", "beta"]
    assert (default.settings.api_key, default.settings.community_id, default.settings.concurrency) == (TOP_KEY, TOP_ID, 3)

    s = acme.settings
    assert (s.api_key, s.community_id, s.concurrency, s.disabled) == (ACME_KEY, ACME_ID, 7, ("user_field_histories",))
    assert (s.integration_url, s.partner_url, s.application_url) == (
        "http://top.example", "http://acme-partner.example", "http://top.example")  # base_url inherited
    assert s.registry_overrides == {"tiers": {"page_size": 9}} and s.endpoint("tiers").page_size == 9
    assert s.warehouse == Path("data/w.duckdb")  # the top level's warehouse, its own schemas
    assert s.origins["concurrency"] == f"sources.returning_ai.communities.acme.concurrency in {config}"
    assert s.origins["partner_url"] == f"sources.returning_ai.communities.acme.partner_url in {config}"
    assert s.origins["integration_url"] == f"sources.returning_ai.base_url in {config}"
    assert (acme.pipeline_name, acme.raw_schema, acme.models_schema, acme.push_schema, acme.staging_dataset,
            acme.lock_name) == ("returning_ai__acme", "returning_raw__acme", "analytics__acme",
                                "reverse_etl__acme", "returning_raw__acme_staging", "sync__acme")
    assert acme.location.community == acme.settings.community == "acme" and acme.settings.location == acme.location
    assert acme.location.schema_map == {
        "returning_raw": "returning_raw__acme", "analytics": "analytics__acme", "reverse_etl": "reverse_etl__acme",
        "returning_private": "returning_private__acme", "analytics_share": "analytics_share__acme"}
    assert acme.lock_file == (project / "data" / ".dlt" / "sync__acme.lock")

    b = beta.settings
    assert (b.api_key, b.community_id, b.concurrency, b.disabled, b.registry_overrides) == (BETA_KEY, BETA_ID, 3, (), {})
    assert (b.integration_url, b.partner_url) == ("http://beta.example", "http://beta.example")
    assert b.warehouse == Path("data/beta.duckdb")  # its own DuckDB file
    assert beta.location.file == (project / "data" / "beta.duckdb")
    assert community("beta") == beta


def test_the_environment_form_configures_a_community(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", TOP_KEY)
    monkeypatch.setenv("RETURNING_SYNC_CONCURRENCY", "5")
    monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__GAMMA__API_KEY", GAMMA_KEY)
    monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__GAMMA__COMMUNITY_ID", GAMMA_ID)
    monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__GAMMA__BASE_URL", "http://gamma.example")
    monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__EU_WEST__API_KEY", BETA_KEY)
    write(project, "secrets.toml", SECRETS.split("[sources.returning_ai.communities.beta]")[0])
    found = communities()
    assert [c.slug for c in found] == ["default", "acme", "eu_west", "gamma"]  # the environment and the files
    assert (found[2].settings.api_key, found[2].raw_schema) == (BETA_KEY, "returning_raw__eu_west")
    gamma = found[3]
    assert (gamma.settings.api_key, gamma.settings.community_id, gamma.settings.concurrency) == (GAMMA_KEY, GAMMA_ID, 5)
    assert gamma.settings.partner_url == "http://gamma.example"
    assert gamma.settings.origins["community_id"] == \
        "SOURCES__RETURNING_AI__COMMUNITIES__GAMMA__COMMUNITY_ID in the environment"
    assert gamma.settings.origins["concurrency"] == "RETURNING_SYNC_CONCURRENCY in the environment"
    assert found[1].settings.api_key == ACME_KEY and found[1].settings.community_id is None  # not inherited


def test_a_community_without_its_own_key_names_it_and_where_to_set_it(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETURNING_AI_API_KEY", TOP_KEY)  # the top level's key is never lent
    write(project, "config.toml", CONFIG)
    write(project, "secrets.toml", f'[sources.returning_ai.communities.acme]\napi_key = "{ACME_KEY}"\n')
    expected = ("community 'beta' has no API key: set SOURCES__RETURNING_AI__COMMUNITIES__BETA__API_KEY, "
                "or api_key under [sources.returning_ai.communities.beta] in .dlt/secrets.toml")
    with pytest.raises(ConfigError) as caught:
        communities()
    assert str(caught.value) == expected
    with pytest.raises(ConfigError) as caught:
        community("beta")
    assert str(caught.value) == expected
    assert community("acme").settings.api_key == ACME_KEY  # the others stand
    assert community("beta", key_required=False).settings.api_key == ""  # work without API calls


def test_a_bad_value_in_a_block_names_the_community_and_the_place(project: Path) -> None:
    config = write(project, "config.toml", "[sources.returning_ai.communities.acme]\nconcurrency = 0\n")
    write(project, "secrets.toml", f'[sources.returning_ai.communities.acme]\napi_key = "{ACME_KEY}"\n')
    with pytest.raises(ConfigError) as caught:
        community("acme")
    assert str(caught.value) == ("community 'acme': concurrency must be between 1 and 64, got 0 "
                                 f"(from sources.returning_ai.communities.acme.concurrency in {config})")
    assert ACME_KEY not in str(caught.value)


@pytest.mark.parametrize(("block", "message"), [
    ("Acme-1", "community name 'Acme-1' must be 1 to 32 lowercase letters, digits or single "
               "underscores (it names schemas such as analytics__<name>)"),
    ("eu__west", "community name 'eu__west' must be 1 to 32 lowercase letters, digits or single "
                 "underscores (it names schemas such as analytics__<name>)"),
    ("all", "a community cannot be named 'all': it means every community (--all-communities)"),
    ("default", "a community cannot be named 'default': it is the top-level configuration under "
                "[sources.returning_ai]"),
    ("x" * 33, f"community name '{'x' * 33}' must be 1 to 32 lowercase letters, digits or single "
               "underscores (it names schemas such as analytics__<name>)"),
])
def test_bad_community_names_are_refused(project: Path, block: str, message: str) -> None:
    write(project, "config.toml", f'[sources.returning_ai.communities.{block}]\ncommunity_id = "{ACME_ID}"\n')
    with pytest.raises(ConfigError) as caught:
        communities(key_required=False)
    where = f"[sources.returning_ai.communities.{block}] in {project / '.dlt' / 'config.toml'}"
    assert str(caught.value) == f"{message} ({where})"


def test_a_bad_name_in_the_environment_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__RETURNING_AI__COMMUNITIES__ALL__API_KEY", ACME_KEY)
    with pytest.raises(ConfigError) as caught:
        communities()
    assert str(caught.value) == ("a community cannot be named 'all': it means every community (--all-communities) "
                                 "(SOURCES__RETURNING_AI__COMMUNITIES__ALL__API_KEY in the environment)")
    assert ACME_KEY not in str(caught.value)


def test_an_unknown_community_lists_the_known_ones(project: Path) -> None:
    write(project, "config.toml", CONFIG)
    write(project, "secrets.toml", SECRETS)
    with pytest.raises(ConfigError) as caught:
        community("zeta")
    assert str(caught.value) == (
        "no community 'zeta' is configured (known: default, acme, beta); add a table "
        "[sources.returning_ai.communities.zeta] to .dlt/config.toml and its api_key to .dlt/secrets.toml")
    with pytest.raises(ConfigError, match="^community name 'Zeta' must be"):
        community("Zeta")


def test_no_key_shows_in_repr_str_or_messages(project: Path) -> None:
    write(project, "config.toml", CONFIG)
    write(project, "secrets.toml", SECRETS)
    found = communities()
    for item in found:
        assert isinstance(item, Community)
        for text in (repr(item), str(item), repr(item.settings), str(item.settings), repr(found)):
            assert item.settings.api_key not in text
            assert item.slug in repr(item)
    # every community's key is registered as a secret: any message carrying one is scrubbed
    assert scrub(f"failed with {ACME_KEY} and {BETA_KEY}") == "failed with *** and ***"


def test_a_community_with_its_own_database(project: Path, monkeypatch: pytest.MonkeyPatch, pg_cluster) -> None:
    """Credentials under dlt's named destination `returning_ai__<slug>` make the community's own
    database; a community without them shares the destination's database, in its own schemas."""
    from warehouse.connection import connect

    shared, own = pg_cluster.create_database(), pg_cluster.create_database()
    monkeypatch.setenv("RETURNING_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", shared)
    monkeypatch.setenv("DESTINATION__RETURNING_AI__ACME__CREDENTIALS", own)
    write(project, "secrets.toml", SECRETS)
    acme, beta = community("acme"), community("beta")
    assert (acme.own_database, beta.own_database) == (True, False)
    assert (acme.location.destination_name, beta.location.destination_name) == ("returning_ai__acme", None)
    assert own.rsplit("/", 1)[1] in acme.location.describe() and shared.rsplit("/", 1)[1] in beta.location.describe()
    for item in (acme, beta):
        with connect(item.location) as con:
            con.execute("CREATE SCHEMA returning_raw")
            con.execute("CREATE TABLE returning_raw.users AS SELECT ? AS who", [item.slug])
    for url, expected in ((own, [("returning_raw__acme", "acme")]), (shared, [("returning_raw__beta", "beta")])):
        import psycopg2

        with psycopg2.connect(url) as native, native.cursor() as cursor:
            found = []
            for schema in ("returning_raw__acme", "returning_raw__beta"):
                cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [schema])
                if cursor.fetchone()[0]:
                    cursor.execute(f"SELECT who FROM {schema}.users")
                    found += [(schema, row[0]) for row in cursor.fetchall()]
        assert found == expected
    assert "password" not in repr(acme) and own.split("@")[0].rsplit(":", 1)[1] not in acme.location.describe()
