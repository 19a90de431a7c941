"""One money format per currency, and unit counts at their real scale.

USD is `$1,234.56`, DIEM is `1,234.56 DIEM`, both to the cent; an amount that rounds to zero
but is not zero reads `<$0.01` / `<0.01 DIEM`, so a small charge never looks free. The exact
value (`exact`) goes where people check or copy: a `title` on hover, and the exports.
Amounts are never added across currencies, and units never across unit types: each function
here takes one currency or one unit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from accounts.presentation.names import Unit, unit_of

NONE = "—"
_CENT = Decimal("0.01")


def to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _cents(value: Decimal) -> str:
    return f"{abs(value).quantize(_CENT, ROUND_HALF_UP):,}"


def usd(value) -> str:
    """`$1,234.56`; `<$0.01` for a non-zero amount below half a cent; `−$2.00` when negative."""
    number = to_decimal(value)
    if number is None:
        return NONE
    if number != 0 and abs(number) < Decimal("0.005"):
        return "<$0.01" if number > 0 else "−<$0.01"
    sign = "−" if number < 0 and _cents(number) != "0.00" else ""
    return f"{sign}${_cents(number)}"


def diem(value) -> str:
    """`1,234.56 DIEM`, to the hundredth like USD; `<0.01 DIEM` for a tiny non-zero amount."""
    number = to_decimal(value)
    if number is None:
        return NONE
    if number != 0 and abs(number) < Decimal("0.005"):
        return "<0.01 DIEM" if number > 0 else "−<0.01 DIEM"
    sign = "−" if number < 0 and _cents(number) != "0.00" else ""
    return f"{sign}{_cents(number)} DIEM"


def money(value, currency) -> str:
    """An amount in its currency's one format. Bundled credits are USD-valued credits."""
    code = str(getattr(currency, "value", currency) or "").upper()
    if code == "DIEM":
        return diem(value)
    if code == "BUNDLED_CREDITS":
        shown = usd(value)
        return shown if shown == NONE else f"{shown} credits"
    return usd(value)


def exact(value) -> str:
    """The value exactly as Venice sent it, without trailing zeros: `0.04326525`."""
    number = to_decimal(value)
    if number is None:
        return NONE if value in (None, "") else str(value)
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def count(value) -> str:
    """An integer with thousands separators; None → `—`."""
    number = to_decimal(value)
    if number is None:
        return NONE if value in (None, "") else str(value)
    return f"{int(number):,}"


def real_units(value, unit: Unit | str) -> Decimal | None:
    """Venice's unit count as people count it: 0.000227 "tokens" in the ledger are 227."""
    number = to_decimal(value)
    if number is None:
        return None
    unit = unit if isinstance(unit, Unit) else unit_of(unit)
    return number * unit.per_ledger_unit


def units(value, unit: Unit | str, *, ledger_scale: bool = True, compact: bool = True) -> str:
    """`135.7 M tokens`, `812.3 k chars`, `41,899 seconds`, `3 images` (totals); with
    `compact` False every unit is counted: `38,225 tokens` (one ledger entry).

    `value` is in Venice's units (millions of tokens) unless `ledger_scale` is False."""
    unit = unit if isinstance(unit, Unit) else unit_of(unit)
    number = real_units(value, unit) if ledger_scale else to_decimal(value)
    if number is None:
        return NONE
    size = abs(number)
    if compact and size >= 1_000_000:
        return f"{number / 1_000_000:,.1f} M {unit.name}"
    if compact and size >= 10_000 and unit.per_ledger_unit > 1:
        return f"{number / 1_000:,.1f} k {unit.name}"
    if number == number.to_integral_value():
        return f"{int(number):,} {unit.name}"
    return f"{number:,.1f} {unit.name}"


def percent(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return NONE
    return f"{(part / whole * 100).quantize(Decimal(1), ROUND_HALF_UP)}%"
