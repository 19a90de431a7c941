"""Number formats of the billing, limits and dashboard pages: `{% load billing_format %}`."""

from decimal import Decimal, InvalidOperation

from django import template

from accounts.charts import format_amount

register = template.Library()


@register.filter
def amount(value, places=2):
    """`1234.5` → `1,234.50`; None → `—`. Tiny amounts keep the digits that make them non-zero."""
    if value is None or value == "":
        return "—"
    try:
        return format_amount(Decimal(str(value)), int(places))
    except (InvalidOperation, ValueError):
        return str(value)


@register.filter
def precise(value):
    """A ledger amount as Venice sent it (no rounding), without trailing zeros."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{number:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@register.filter
def count(value):
    """An integer with thousands separators; None → `—`."""
    if value is None or value == "":
        return "—"
    try:
        return f"{int(Decimal(str(value))):,}"
    except (InvalidOperation, ValueError):
        return str(value)
