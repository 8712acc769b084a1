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
        {"email": "dec@example.com", "coins": Decimal("2.5"), "city": None, "p": "w1"},
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
    assert "text field" in row.reason


def test_custom_numeric_types_take_operators(tmp_path: Path) -> None:
    d = _definition(tmp_path, "loyalty_points=subtract")
    [row] = validate_rows(d, [{"email": "a@b.io", "loyalty_points": 3, "p": "x"}], field_types(d, FIELDS))
    assert row.valid and row.period == "x"
