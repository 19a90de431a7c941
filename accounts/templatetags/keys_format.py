"""Small formatters for the key pages: money, DIEM, limit periods, usage meters."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()

_PERIODS = {"EPOCH": "day", "MONTH": "month", "LIFETIME": "lifetime"}
_CENT = Decimal("0.01")


@register.filter
def usd(value) -> str:
    """$1,234.57; empty for None."""
    if value is None:
        return ""
    return f"${Decimal(value).quantize(_CENT, ROUND_HALF_UP):,}"


@register.filter
def diem(value) -> str:
    """12.5 DIEM (up to 4 decimals, trailing zeros dropped); empty for None."""
    if value is None:
        return ""
    amount = Decimal(value).quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()
    return f"{amount:,f} DIEM"


@register.filter
def period(value) -> str:
    """The limit period as words: per day, per month, lifetime."""
    name = _PERIODS.get(str(value), str(value).lower())
    return name if name == "lifetime" else f"per {name}"


@register.filter
def limits_text(limits) -> str:
    """A key's consumption limits in one line: "$50.00 · 10 DIEM", or "" when none."""
    parts = []
    if limits.usd is not None:
        parts.append(usd(limits.usd))
    if limits.diem is not None:
        parts.append(diem(limits.diem))
    return " · ".join(parts)


@register.filter
def usage_text(amounts) -> str:
    """Usage amounts in one line: "$5.12 · 2.5 DIEM"; "" when unknown."""
    if amounts is None:
        return ""
    return f"{usd(amounts.usd)} · {diem(amounts.diem)}"


@register.filter
def percent_of(used, limit) -> int:
    """How much of `limit` `used` is, in whole percent (0 for no or a zero limit)."""
    if used is None or not limit:
        return 0
    return int(min(Decimal(used) / Decimal(limit) * 100, Decimal(999)))


@register.filter
def duration(value) -> str:
    """A timedelta as '3 min', '2 h 10 min', '4 days'."""
    from accounts.services.rotation_watch import span

    return span(value)
