"""Fields every form shares: dates bounded to a range the portal and Venice can handle."""

from __future__ import annotations

from datetime import date, datetime

from django import forms

# A browser date picker; Django copies a widget into each field that uses it.
_DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# Every date a form accepts lies in this range: Venice and the portal have nothing before it,
# and a date near year 9999 overflows the day arithmetic of ranges ("to" is inclusive).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
DATE_OUT_OF_RANGE = f"Enter a date between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}."


def _check_date_in_range(value: date | datetime | None) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
        raise forms.ValidationError(DATE_OUT_OF_RANGE, code="date_out_of_range")


class BoundedDateField(forms.DateField):
    """A date within EARLIEST_DATE..LATEST_DATE, picked with the browser's date input."""

    default_validators = [_check_date_in_range]

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", _DATE_INPUT)
        super().__init__(**kwargs)


class BoundedDateTimeField(forms.DateTimeField):
    """A date and time (UTC) within EARLIEST_DATE..LATEST_DATE."""

    default_validators = [_check_date_in_range]


def in_viewers_zone(field: forms.Field, label: str) -> None:
    """Name the viewer's time zone in a date-time field's label: Django reads and shows such a
    field's value in the active zone (the viewer's preference), so the label must say which."""
    from accounts.presentation.dates import zone_name

    field.label = f"{label} ({zone_name()})"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")
