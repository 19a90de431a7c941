"""Cells for CSV files people open in spreadsheets."""

import re

# A signed number is data, not a formula: Venice's ledger amounts are negative.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """The value as text, defused when a spreadsheet would run it as a formula (CSV injection):
    such a cell gets a leading apostrophe, which spreadsheets show as plain text."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text
