from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from reverse_etl.definitions import load_definition
from reverse_etl.validate import field_types, validate_rows

FIELDS = [{"field": "loyalty_points", "type": "numerical"}, {"field": "city", "type": "text"}]


def _definition(tmp_path: Path, columns: str, period: str | None = "p"):
    path = tmp_path / "v.sql"
    head = f"-- columns: {columns}\n" + (f"-- period: {period}\n" if period else "")
    path.write_text(head + "SELECT 1 AS x\n")
    return load_definition(path)


def test_each_invalid_row_gets_its_reason(tmp_path: Path) -> None:
    d = _definition(tmp_path, "coins=add, city")
    types = field_types(d, FIELDS)
    rows = [
        {"email": "ok@example.com", "coins": 5, "city": "Oslo", "p": "w1"},
        {"email": "not-an-email", "coins": 5, "city": "Oslo", "p": "w1"},
        {"email": "dup@example.com", "coins": 5, "city": "Oslo", "p": "w1"},
        {"email": "DUP@example.com", "coins": 5, "city": "Oslo", "p": "w1"},
        {"email": "n@example.com", "coins": "five", "city": "Oslo", "p": "w1"},
        {"email": "neg@example.com", "coins": -5, "city": "Oslo", "p": "w1"},
        {"email": "np@example.com", "coins": 5, "city": "Oslo", "p": None},
        {"email": "nul@example.com", "coins": 5, "city": "a\x00b", "p": "w1"},
        {"email": "dec@example.com", "coins": Decimal("2"), "city": None, "p": "w1"},
        {"email": "s@example.com", "coins": "7", "city": "=1+1", "p": "w1"},
    ]
    reasons = [c.reason for c in validate_rows(d, rows, types)]
    assert reasons[0] is None
    assert "not an email" in reasons[1]
    assert "duplicate" in reasons[2] and "duplicate" in reasons[3]
    assert "not a number" in reasons[4]
    assert "negative" in reasons[5]
    assert "period" in reasons[6]
    assert "NUL" in reasons[7]
    assert "no value for 'city'" in reasons[8]
    assert reasons[9] is None  # numeric text is a number; formula-like text is only a warning


def test_unknown_columns_and_text_deltas_are_rejected(tmp_path: Path) -> None:
    d = _definition(tmp_path, "shoe_size, city=add")
    types = field_types(d, FIELDS)
    [row] = validate_rows(d, [{"email": "a@b.io", "shoe_size": 3, "city": "x", "p": 1}], types)
    assert "not a user field" in row.reason
    d = _definition(tmp_path, "city=add")
    [row] = validate_rows(d, [{"email": "a@b.io", "city": "x", "p": 1}], field_types(d, FIELDS))
    assert "non-numeric field" in row.reason


def test_custom_numeric_types_take_operators(tmp_path: Path) -> None:
    d = _definition(tmp_path, "loyalty_points=subtract")
    [row] = validate_rows(d, [{"email": "a@b.io", "loyalty_points": 3, "p": "x"}], field_types(d, FIELDS))
    assert row.valid and row.period == "x"


def test_typed_custom_fields_are_checked(tmp_path: Path) -> None:
    fields = [{"field": "game", "type": "select", "options": ["Chess", "Go"]},
              {"field": "opt_in", "type": "boolean"}, {"field": "born", "type": "date"}]
    d = _definition(tmp_path, "game, opt_in, born, coins=add")
    types = field_types(d, fields)
    ok = {"email": "a@b.io", "game": "Go", "opt_in": True, "born": "2001-02-03", "coins": 1, "p": 1}
    bad = [{**ok, "game": "Poker"}, {**ok, "opt_in": "maybe"}, {**ok, "born": "03/02/2001"},
           {**ok, "coins": 1.5}]
    reasons = [validate_rows(d, [r], types)[0].reason for r in [ok, *bad]]
    assert reasons[0] is None
    assert ["options" in reasons[1], "boolean" in reasons[2], "date" in reasons[3], "whole" in reasons[4]] == [
        True] * 4
