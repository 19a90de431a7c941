"""Cells of the portal's CSV exports: formulas defused, numbers left alone."""

import csv
import io

import pytest

from accounts.services.csv_cells import spreadsheet_safe
from accounts.services.usage_csv import venice_rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tleading tab", "'\tleading tab"),
        ("-0.06356", "-0.06356"),
        ("+12", "+12"),
        ("-1.5e-05", "-1.5e-05"),
        ("API Inference", "API Inference"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_spreadsheet_safe_defuses_formulas_but_not_numbers(value, expected):
    assert spreadsheet_safe(value) == expected


def test_usage_rows_from_venice_are_defused_and_counted():
    # Two rows as Venice's CSV carries them; the second note holds a quoted line break.
    body = (
        "2026-11-01T10:00:00.000Z,zai-org-glm-5-1-llm-output-mtoken,API Inference,0.000227,"
        "2.8,-0.06356,DIEM,339,227,2964,chatcmpl-1\n"
        '2026-11-01T11:00:00.000Z,sku-x,"=HYPERLINK(""http://evil"")\nsecond line",1,0.1,'
        "-0.1,USD,,,,\n"
    )

    header = ["timestamp", "sku", "notes", "units", "pricePerUnitUsd", "amount", "currency"]
    header += ["promptTokens", "completionTokens", "inferenceExecutionTime", "requestId"]
    entries = [dict(zip(header, row, strict=True)) for row in csv.reader(io.StringIO(body))]

    text, count = venice_rows(header, entries)

    rows = list(csv.reader(io.StringIO(text)))
    assert count == 2
    assert rows[0][5] == "-0.06356"
    assert rows[0][2] == "API Inference"
    assert rows[1][2] == '\'=HYPERLINK("http://evil")\nsecond line'
    assert rows[1][5] == "-0.1"
