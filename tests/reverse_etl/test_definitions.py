from __future__ import annotations

from pathlib import Path

import pytest

from reverse_etl import list_definitions
from reverse_etl.definitions import DefinitionError, load_definition


def test_shipped_definitions_load() -> None:
    defs = {d.name: d for d in list_definitions()}
    assert set(defs) == {"weekly_tier_bonus", "loyalty_points", "monthly_top_xp_premium",
                         "weekly_gold_welcome", "orders_shipped", "voucher_codes"}
    bonus = defs["weekly_tier_bonus"]
    assert (bonus.target, bonus.columns, bonus.period, bonus.schedule) == (
        "users", {"coins": "add"}, "week_start", "0 6 * * 1")
    assert "analytics.fct_gamification_events" in bonus.tables
    assert defs["monthly_top_xp_premium"].target == "premium_currency"
    assert defs["loyalty_points"].columns == {"loyalty_points": "overwrite"}


def _write(tmp_path: Path, header: str, sql: str = "SELECT 'a@b.io' AS email, 1 AS coins, 'p' AS p") -> Path:
    path = tmp_path / "d.sql"
    path.write_text(header + "\n" + sql + "\n")
    return path


def test_header_and_sidecar(tmp_path: Path) -> None:
    path = _write(tmp_path, "-- columns: coins=add, city\n-- period: p\n-- retries: 4")
    d = load_definition(path)
    assert d.columns == {"coins": "add", "city": "overwrite"} and d.retries == 4 and d.name == "d"
    path.with_suffix(".toml").write_text('retries = 1\nschedule = "0 1 * * *"\n')
    d = load_definition(path)
    assert (d.retries, d.schedule) == (1, "0 1 * * *")


@pytest.mark.parametrize("header, problem", [
    ("-- columns: coins=plus\n-- period: p", "operator"),
    ("-- columns: coins=add", "period"),
    ("-- columns: coins=add\n-- period: p\n-- target: orders", "target"),
    ("-- columns: coins\n-- key: user_id", "key column"),
    ("-- target: premium_currency\n-- columns: coins=add\n-- period: p", "premium_currency"),
    ("-- columns: coins\n-- schedule: daily", "cron"),
])
def test_bad_headers_are_configuration_errors(tmp_path: Path, header: str, problem: str) -> None:
    with pytest.raises(DefinitionError, match=problem) as info:
        load_definition(_write(tmp_path, header))
    assert info.value.exit_code == 2
