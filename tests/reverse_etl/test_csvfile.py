from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reverse_etl.csvfile import CsvColumn, CsvRow, format_value, header, parse, render, write_files

COLUMNS = [CsvColumn("coins", "add"), CsvColumn("xp", "overwrite"), CsvColumn("city", None)]


def test_operator_column_precedes_its_field() -> None:
    assert header(COLUMNS) == ["email", "coins_op", "coins", "xp_op", "xp", "city"]


def test_contract_example_renders_exactly() -> None:
    rows = [CsvRow("ada@example.com", {"coins": 50, "xp": 1200, "city": "Gold"}, {"coins": "add", "xp": "overwrite"})]
    assert render(rows, COLUMNS) == "email,coins_op,coins,xp_op,xp,city\r\nada@example.com,add,50,overwrite,1200,Gold\r\n"


def test_quotes_commas_and_newlines_are_quoted() -> None:
    rows = [CsvRow("a@b.io", {"coins": 1, "xp": 2, "city": 'He said "hi",\nthen left'}, {})]
    text = render(rows, COLUMNS)
    assert text.endswith('a@b.io,add,1,overwrite,2,"He said ""hi"",\nthen left"\r\n')
    assert parse(text.encode())[0]["city"] == 'He said "hi",\nthen left'


def test_values_are_written_as_computed() -> None:
    assert format_value(500) == "500"
    assert format_value(500.0) == "500"
    assert format_value(0.1) == "0.1"
    assert format_value(Decimal("12.500")) == "12.5"
    assert format_value(True) == "true"
    assert format_value(dt.date(2026, 5, 25)) == "2026-05-25"
    assert format_value(" keep spaces ") == " keep spaces "


def test_preview_neutralises_formula_cells_and_upload_keeps_them(tmp_path) -> None:
    rows = [CsvRow("a@b.io", {"coins": 1, "xp": 2, "city": "=HYPERLINK(\"x\")"}, {}),
            CsvRow("c@d.io", {"coins": 1, "xp": 2, "city": "@SUM(A1)"}, {}),
            CsvRow("e@f.io", {"coins": 1, "xp": 2, "city": "Oslo"}, {})]
    content, preview = write_files(rows, COLUMNS, tmp_path / "p.csv")
    sent = parse(content)
    shown = parse(preview.read_bytes())
    assert [r["city"] for r in sent] == ['=HYPERLINK("x")', "@SUM(A1)", "Oslo"]
    assert [r["city"] for r in shown] == ['\'=HYPERLINK("x")', "'@SUM(A1)", "Oslo"]
    assert (tmp_path / "p.csv").read_bytes() == content
