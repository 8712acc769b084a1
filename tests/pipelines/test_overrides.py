"""Overrides a user can find and trust: keyed by the contract's names (docs/endpoints.md, generated
from the registry), renaming the input and not the warehouse, carried into the parameters built from
a field, with errors that list the valid keys and say where the bad value was set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines import endpoints_doc
from pipelines.config import Settings
from pipelines.errors import ConfigError, ContractError
from pipelines.overrides import CursorNeverAdvances, suggest
from pipelines.registry import DEFAULT_REGISTRY, build_registry, valid_keys
from pipelines.sync import run_sync
from tests.dltproject import empty_project
from tests.pipelines.renaming_proxy import Renaming, renaming_proxy
from tests.simadmin import COMMUNITY_ID, FULL_KEY, SimAdmin

DOC = Path(__file__).resolve().parents[2] / "docs" / "endpoints.md"


def test_the_endpoints_doc_is_what_the_registry_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == endpoints_doc.markdown()


def test_every_name_of_the_doc_is_a_key_an_override_takes() -> None:
    """Each override key docs/endpoints.md shows is accepted, and renames what it says."""
    for name, ep in DEFAULT_REGISTRY.items():
        keys = valid_keys(ep)
        for field in ep.record_fields:
            assert f"record_fields.{field}" in keys
            got = build_registry({name: {"record_fields": {field: "other"}}})[name]
            assert got.served(field) == "other" and got.record_names == {field: "other"}
        for param in ep.params:
            got = build_registry({name: {"params": {param: "other"}}})[name]
            assert got.param_names == {param: "other"}


def test_a_field_override_carries_into_the_parameters_built_from_it() -> None:
    by_contract = build_registry({"user_field_histories": {"fields": {"createdAt": "changedAt"}}})
    by_role = build_registry({"user_field_histories": {"fields": {"cursor": "changedAt"}}})  # the old key
    by_table = build_registry({"user_field_histories": {"record_fields": {"createdAt": "changedAt"}}})
    for registry in (by_contract, by_role, by_table):
        ep = registry["user_field_histories"]
        assert (ep.name_for("sort"), ep.name_for("cursor"), ep.name_for("from")) == ("changedAt:asc", "createdAt", "from")
    orders = build_registry({"redemption_orders": {"params": {"updatedFrom": "since"}}})["redemption_transactions"]
    assert (orders.name_for("from"), orders.name_for("to")) == ("since", "updatedTo")
    users = build_registry({"users": {"record_fields": {"join_date": "joinedOn"}}})["users_filter"]
    assert users.served(users.name_for("shard_field")) == "joinedOn"


def test_records_arrive_under_the_contract_names() -> None:
    ep = build_registry({"messages": {"record_fields": {"user.email": "author.mail", "parentId": "replyTo"}}})["messages"]
    records = [{"id": "1", "author": {"mail": "a@x"}, "replyTo": "0", "parentId": "not it"}, {"id": "2"}]
    assert ep.arrived(records) == [{"id": "1", "author": {}, "user": {"email": "a@x"}, "parentId": "0"}, {"id": "2"}]


@pytest.mark.parametrize("overrides, says", [
    ({"user_field_histories": {"createdAt": "changedAt"}},
     "registry override user_field_histories.createdAt: unknown option ('createdAt' is the contract's name: "
     "record_fields.createdAt renames it)"),
    ({"user_field_histories": {"fields": {"zzz": "x"}}},
     "registry override user_field_histories.fields.zzz: unknown field; valid: from, to, cursor, sort, _id, "
     "communityId, userId, fieldId, field, previousValue, value, source, createdAt"),
    ({"user_field_histories": {"record_fields": {"created": "x"}}},
     "registry override user_field_histories.record_fields.created: not a record field of user_field_histories in "
     "the contract (did you mean 'createdAt'?)"),
    ({"tiers": {"params": {"zzz": "x"}}},
     "registry override tiers.params.zzz: not a param of tiers in the contract"),
    ({"nothing": {}}, "registry override names unknown endpoint 'nothing'; valid: " + ", ".join(DEFAULT_REGISTRY)),
    ({"activity_daily": {"fields": {"date": 5}}}, "registry override activity_daily.fields.date: expected a name, got 5"),
])
def test_an_unknown_key_names_the_right_key_or_lists_the_valid_ones(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_registry(overrides)
    assert str(err.value) == says


def test_an_unknown_option_lists_every_valid_key() -> None:
    with pytest.raises(ConfigError) as err:
        build_registry({"streak_logs": {"qqq": 1}})
    assert str(err.value) == ("registry override streak_logs.qqq: unknown option; valid: "
                              + ", ".join(valid_keys(DEFAULT_REGISTRY["streak_logs"])))
    assert "record_fields.createdAt" in str(err.value) and "params.from" in str(err.value)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with an empty `.dlt` folder and no setting in the environment."""
    yield from empty_project(tmp_path, monkeypatch)


def test_a_bad_override_names_the_file_it_came_from(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = project / ".dlt" / "config.toml"
    config.write_text('[sources.returning_ai.registry_overrides.user_field_histories]\ncreatedAt = "changedAt"\n')
    with pytest.raises(ConfigError) as err:
        Settings.from_env(api_key=FULL_KEY)
    assert str(err.value).endswith(f"(from sources.returning_ai.registry_overrides in {config})")
    spec = project / "overrides.toml"
    spec.write_text('[messages]\nmax_count = "lots"\n')
    monkeypatch.setenv("RETURNING_SYNC_REGISTRY_OVERRIDES", "overrides.toml")
    with pytest.raises(ConfigError) as err:
        Settings.from_env(api_key=FULL_KEY)
    assert str(err.value) == ("registry override messages.max_count: expected an integer, got 'lots' "
                              f"(from {spec}, named by RETURNING_SYNC_REGISTRY_OVERRIDES in the environment)")


def test_suggestions_give_the_exact_key_and_toml() -> None:
    path = suggest("user_field_histories", path_status=404)
    assert path.config_key == "sources.returning_ai.registry_overrides.user_field_histories.path"
    assert path.toml == ('[sources.returning_ai.registry_overrides.user_field_histories]\n'
                         'path = "<as the API names it>"  # [assumed] now '
                         "'/apis/v1/communities/{communityId}/user-field-histories': the path answered HTTP 404")
    field = suggest("users", missing_field="username")
    assert (field.endpoint, field.key, field.status) == ("users_filter", "record_fields.username", "assumed")
    assert field.toml.startswith('[sources.returning_ai.registry_overrides.users_filter.record_fields]\nusername = ')
    nested = suggest("messages", missing_field="user__email")  # as dlt names the column
    assert (nested.key, nested.status) == ("record_fields.user.email", "doc")
    assert nested.toml.split("\n")[1].startswith('"user.email" = ')
    param = suggest("redemption_orders", ignored_param="updatedFrom")
    assert (param.config_key, param.status) == (
        "sources.returning_ai.registry_overrides.redemption_transactions.params.updatedFrom", "assumed")
    records = suggest("tiers", missing_records=True)
    assert (records.key, records.current, records.status) == ("records", "data.tiers", "assumed")
    # a suggestion is a valid override
    build_registry({"messages": {"record_fields": {"user.email": "x"}}, "users_filter": {"record_fields": {"username": "x"}}})


def _settings(base_url: str, path: Path, **overrides: Any) -> Settings:
    return Settings.from_env({"RETURNING_AI_API_KEY": FULL_KEY, "RETURNING_AI_BASE_URL": base_url,
                              "RETURNING_AI_COMMUNITY_ID": COMMUNITY_ID, "RETURNING_WAREHOUSE": str(path)},
                             registry_overrides=overrides or None)


def test_a_renamed_field_lands_in_the_declared_column_and_the_cursor_advances(sim: SimAdmin, tmp_path: Path) -> None:
    renaming = Renaming("user-field-histories", "createdAt", "changedAt")
    warehouse = tmp_path / "w.duckdb"
    with renaming_proxy(sim.base_url, renaming) as url:
        settings = _settings(url, warehouse, user_field_histories={"record_fields": {"createdAt": "changedAt"}})
        first = run_sync(settings, resources=["user_field_histories"])
        sim.advance(hours=24)
        second = run_sync(settings, resources=["user_field_histories"])
    truth = sim.truth_rows("user_field_histories")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        held = con.execute("select count(*), count(created_at), max(created_at) from returning_raw.user_field_histories"
                           ).fetchone()
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                             "where table_name = 'user_field_histories'").fetchall()}
    finally:
        con.close()
    assert held[0] == held[1] == len(truth) > 0
    assert "changed_at" not in columns and "created_at" in columns
    assert {q["sort"] for q in renaming.queries} == {"changedAt:asc"}
    first_run = renaming.queries[:first.resources["user_field_histories"].requests]
    assert first_run and all(not q.get("from") for q in first_run)  # a first run reads from the start
    # the second run asks from the mark (less the lookback), not from the start
    later = renaming.queries[len(first_run):]
    assert later and all(q.get("from") for q in later)
    assert first.stalled == second.stalled == [] and first.notes == second.notes == []


def test_a_cursor_no_record_carries_is_reported(sim: SimAdmin, tmp_path: Path) -> None:
    renaming = Renaming("user-field-histories", "createdAt", "changedAt")
    with renaming_proxy(sim.base_url, renaming) as url:
        result = run_sync(_settings(url, tmp_path / "w.duckdb"), resources=["user_field_histories"])
    rows = result.resources["user_field_histories"].rows
    assert rows == len(sim.truth_rows("user_field_histories")) > 0
    assert [type(s) for s in result.stalled] == [CursorNeverAdvances]
    assert result.notes == [
        f"warning: user_field_histories: none of the {rows:,} records has the cursor field 'createdAt', so its "
        "cursor never advances and every run re-reads everything; set "
        "sources.returning_ai.registry_overrides.user_field_histories.record_fields.createdAt to the name the API uses"]


def test_a_bad_records_path_is_a_contract_error_naming_it(sim: SimAdmin, tmp_path: Path) -> None:
    for dataset, records in (("tiers", "data.levels"), ("tiers", "data.xpSetting.enabled"), ("streak_logs", "data")):
        settings = _settings(sim.base_url, tmp_path / "w.duckdb", **{dataset: {"records": records}})
        with pytest.raises(ContractError) as err:
            run_sync(settings, resources=[dataset], strict=True)
        assert f"'{records}' (its records path)" in str(err.value), str(err.value)
        skipped = run_sync(settings, resources=[dataset]).skipped  # without --strict: skipped, named
        assert [(s.dataset, records in s.result) for s in skipped] == [(dataset, True)], skipped


def test_every_declared_column_is_a_record_field_of_the_registry() -> None:
    """The one map of what is assumed covers every column a dataset is created with."""
    from pipelines.declared import DECLARED
    from pipelines.tables import TABLES

    # set by the sync, not read from the API; read beside the records (`tiers` fields.xp_setting)
    ours = {("users", "deleted_at"), ("tiers_xp_settings", "enabled")}
    for t in TABLES:
        fields = {f for name in t.endpoints for f in DEFAULT_REGISTRY[name].record_fields}
        if t.endpoints:
            missing = [c for c in DECLARED[t.name] if c.replace("__", ".") not in fields and (t.name, c) not in ours]
            assert missing == [], t.name


def test_the_readme_examples_of_each_kind_apply(project: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "pipelines" / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Registry overrides", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    (project / ".dlt" / "config.toml").write_text(example, encoding="utf-8")
    registry = Settings.from_env(api_key=FULL_KEY).registry
    histories, orders = registry["user_field_histories"], registry["redemption_transactions"]
    assert histories.path == "/apis/v1/communities/{communityId}/field-histories"
    assert (histories.record_names, histories.name_for("sort")) == ({"createdAt": "changedAt"}, "changedAt:asc")
    assert (orders.name_for("from"), orders.name_for("to")) == ("since", "until")
    assert registry["tiers"].records == "data.items"


def test_check_pairs_a_missing_field_with_the_one_extra_of_its_kind() -> None:
    from pipelines.overrides import pair_fields, record_suggestions, records_suggestion
    from pipelines.registry import DEFAULT_REGISTRY

    # a timestamp is the one timestamp; two texts cannot be told apart; a null-only extra counts only
    # when nothing of a known kind fits
    paired = pair_fields({"createdAt": "timestamp", "isPrivate": "bool", "type": "text", "description": "text"},
                         {"changedAt": "timestamp", "private": "bool", "kind": "text", "summary": "text",
                          "old": None})
    assert paired == {"createdAt": ("changedAt", ("changedAt",)), "isPrivate": ("private", ("private",)),
                      "type": (None, ("kind", "summary")), "description": (None, ("kind", "summary"))}
    assert pair_fields({"createdAt": "timestamp", "updatedAt": "timestamp"}, {"createdOn": "timestamp",
                                                                              "modifiedAt": "timestamp"}) == {
        "createdAt": (None, ("createdOn", "modifiedAt")), "updatedAt": (None, ("createdOn", "modifiedAt"))}
    rows = [{"objectId": "a1", "changedAt": "2026-01-02T03:04:05.000Z", "oldValue": None, "newValue": "x"}]
    made = record_suggestions("user_field_histories", "user_field_histories", rows,
                              {"_id": "text", "createdAt": "timestamp", "value": "text"}, DEFAULT_REGISTRY)
    assert [(s.key, s.value, s.candidates) for s in made] == [
        ("record_fields._id", None, ("objectId", "newValue")), ("record_fields.createdAt", "changedAt", ()),
        ("record_fields.value", None, ("objectId", "newValue"))]
    assert made[1].inline == ('[sources.returning_ai.registry_overrides.user_field_histories] '
                              'record_fields.createdAt = "changedAt"')
    moved = records_suggestion("users", "users_filter", "data.users",
                               {"data": "object", "data.members": "list"}, DEFAULT_REGISTRY)
    assert moved is not None and (moved.config_key, moved.value) == (
        "sources.returning_ai.registry_overrides.users_filter.records", "data.members")
    two = records_suggestion("users", "users_filter", "data.users",
                             {"data": "object", "data.a": "list", "data.b": "list"}, DEFAULT_REGISTRY)
    assert two is not None and (two.value, two.candidates) == (None, ("data.a", "data.b"))
    part = records_suggestion("tiers_xp_settings", "tiers", "data.xpSetting",
                              {"data": "object", "data.tierList": "list", "data.xpSettings": "object"},
                              DEFAULT_REGISTRY)
    assert part is not None and (part.key, part.value) == ("fields.xp_setting", "data.xpSettings")


def test_a_400_naming_an_assumed_parameter_names_its_override() -> None:
    from pipelines.registry import DEFAULT_REGISTRY
    from pipelines.skips import refused_param

    games = DEFAULT_REGISTRY["minigame_logs"]
    assert refused_param(games, "Invalid email; email must be an email address") == "email"
    assert refused_param(games, "Invalid request") is None
    assert refused_param(DEFAULT_REGISTRY["activity_daily"], "identifier is required") is None  # [doc]: not ours to rename
