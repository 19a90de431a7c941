"""Names, money, units and dates for templates: `{% load portal_format %}`.

Thin wrappers around accounts/presentation/, so a page and an export write a thing the same
way. Filters that return HTML build it with format_html (everything in it escaped).
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html

from accounts.presentation import dates, names, numbers
from accounts.presentation.audit import audit_sentence

register = template.Library()

# --- money and units ---------------------------------------------------------------------------

register.filter("usd", numbers.usd)
register.filter("diem", numbers.diem)
register.filter("exact", numbers.exact)
register.filter("count", numbers.count)


@register.filter
def money(value, currency) -> str:
    return numbers.money(value, currency)


@register.filter
def units(value, unit_type) -> str:
    """Venice's unit count at its real scale: `135.7 M tokens`."""
    return numbers.units(value, unit_type)


@register.filter
def real_units(value, unit_type) -> str:
    """One entry's count, already in real units (the usage rows convert once), every unit
    counted: `38,225 tokens`."""
    return numbers.units(value, unit_type, ledger_scale=False, compact=False)


@register.filter
def limits_text(limits) -> str:
    """A key's consumption limits in one line: "$50.00 · 10.00 DIEM", or "" when none."""
    parts = []
    if limits.usd is not None:
        parts.append(numbers.usd(limits.usd))
    if limits.diem is not None:
        parts.append(numbers.diem(limits.diem))
    return " · ".join(parts)


@register.filter
def usage_text(amounts) -> str:
    """Usage amounts in one line: "$5.12 · 2.50 DIEM"; "" when unknown."""
    if amounts is None:
        return ""
    return f"{numbers.usd(amounts.usd)} · {numbers.diem(amounts.diem)}"


@register.filter
def percent_of(used, limit) -> int:
    """How much of `limit` `used` is, in whole percent (0 for no or a zero limit)."""
    if used is None or not limit:
        return 0
    return int(min(Decimal(used) / Decimal(limit) * 100, Decimal(999)))


# --- names -------------------------------------------------------------------------------------

register.filter("model_name", names.model_name)
register.filter("limit_period", names.limit_period_label)
register.filter("period_phrase", names.limit_period_phrase)
register.filter("model_privacy", names.model_privacy_label)
register.filter("currency", names.currency_label)
register.filter("rate_limit_type", names.rate_limit_type_label)


@register.filter
def key_label(key) -> str:
    """`Production backend …F80ymm` for anything with a description and last6."""
    return names.key_label(getattr(key, "description", ""), getattr(key, "last6", ""))


@register.filter
def sentence(event) -> str:
    """An audit record as a sentence (accounts/presentation/audit.py)."""
    return audit_sentence(event)


# --- dates -------------------------------------------------------------------------------------


@register.filter
def when(value, seconds=False):
    """A time in a table, in the viewer's zone, the UTC time on hover: `<time
    datetime="2026-12-02T04:43:05+00:00" title="2026-12-02 04:43:05 UTC">2026-12-02 04:43</time>`.
    `seconds` (any true value) shows the seconds too."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        dates.utc_exact(value),
        dates.table(value, seconds=bool(seconds)),
    )


@register.filter
def when_prose(value):
    """A time inside a sentence: `Dec 2, 2026, 04:43 UTC`, the UTC time on hover."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        dates.utc_exact(value),
        dates.prose(value),
    )


register.filter("table_date", dates.table_date)
register.filter("day_prose", dates.day_prose)
register.filter("duration", dates.span)  # a timedelta: '3 min', '2 h 10 min', '4 days'


@register.simple_tag
def zone_name() -> str:
    """The viewer's time zone, for column headers: `Time (Europe/Berlin)`."""
    return dates.zone_name()


@register.filter
def scaled(value, factor) -> str:
    """`value` × `factor`, plainly written (a budget meter's low and high marks)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value) * Decimal(str(factor)):f}"
