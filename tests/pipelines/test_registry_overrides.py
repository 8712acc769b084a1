"""Registry overrides by configuration: the documented forms apply with their types; a wrong one
ends in one line naming the endpoint and the option."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.errors import ConfigError
from pipelines.pagination import SkipLimitPaginator
from pipelines.registry import DEFAULT_REGISTRY, build_registry
from tests.pipelines.fakeapi import KEY


def test_documented_forms_apply_with_their_types() -> None:
    registry = build_registry({
        "redemption_transactions": {"path": "/apis/v1/redemptions", "fields": {"from": "since"}},
        "streak_logs": {"fields": {"lookback_seconds": "86400", "reconcile": "false"}},  # options as text
        "messages": {"max_count": 500, "member_fallback": False},
        "users_filter": {"shards": "off", "platform_fields": "email,xp"},
    })
    orders = registry["redemption_transactions"]
    assert (orders.path, orders.name_for("from"), orders.name_for("to")) == ("/apis/v1/redemptions", "since", "updatedTo")
    assert (registry["streak_logs"].lookback_seconds, registry["streak_logs"].reconcile) == (86400.0, False)
    assert (registry["messages"].max_count, registry["messages"].member_fallback) == (500, False)
    assert (registry["users_filter"].shards, registry["users_filter"].platform_fields) == (False, ("email", "xp"))
    assert registry["activity_logs"] == DEFAULT_REGISTRY["activity_logs"]


def test_pagination_takes_a_scheme_name_or_its_options() -> None:
    registry = build_registry({"products": {"pagination": {"limit_param": "size"}},
                               "streaks": {"pagination": "skip-limit"}})
    assert registry["products"].pagination == SkipLimitPaginator(limit_param="size")
    assert registry["streaks"].pagination == SkipLimitPaginator()


def test_the_environment_form_is_validated_too() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"RETURNING_AI_API_KEY": KEY,
                           "RETURNING_SYNC_REGISTRY_OVERRIDES": '{"messages": {"max_count": "lots"}}'})
    assert str(err.value) == ("registry override messages.max_count: expected an integer, got 'lots' "
                              "(from RETURNING_SYNC_REGISTRY_OVERRIDES in the environment)")


@pytest.mark.parametrize("overrides, says", [
    ({"user_filter": {}}, "registry override names unknown endpoint 'user_filter' (did you mean 'users_filter'?)"),
    ({"products": "big"}, "registry override products: expected a table of options, got 'big'"),
    ({"messages": {"max_cont": 5}}, "registry override messages.max_cont: unknown option (did you mean 'max_count'?)"),
    ({"messages": {"fields": {"max_count": "2.5"}}},
     "registry override messages.fields.max_count: expected an integer, got '2.5'"),
    ({"messages": {"member_fallback": "maybe"}},
     "registry override messages.member_fallback: expected true or false, got 'maybe'"),
    ({"redemption_transactions": {"fields": {"form": "since"}}},
     "registry override redemption_transactions.fields.form: unknown field (did you mean 'from'?)"),
    ({"products": {"page_size": True}}, "registry override products.page_size: expected an integer, got True"),
    ({"products": {"surface": "public"}},
     "registry override products.surface: must be one of integration, partner, application, got 'public'"),
    ({"users_filter": {"platform_fields": 3}},
     "registry override users_filter.platform_fields: expected a list of names, got 3"),
    ({"products": {"pagination": "pages"}},
     "registry override products.pagination: scheme must be one of none, cursor, page-total-pages, "
     "page-meta-total, skip-limit, has-next, got 'pages'"),
    ({"products": {"pagination": {"page_param": "p"}}},
     "registry override products.pagination.page_param: unknown option of scheme 'skip-limit' "
     "(did you mean 'skip_param'?)"),
    ({"products": {"pagination": {"limit_param": 5}}},
     "registry override products.pagination.limit_param: expected text, got 5"),
])
def test_a_wrong_override_is_one_line_naming_the_endpoint_and_option(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"RETURNING_AI_API_KEY": KEY}, registry_overrides=overrides)
    assert str(err.value) == says
