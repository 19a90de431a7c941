"""The billing pages' GET forms over the query string: the analytics period, the usage filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from accounts.forms.fields import BoundedDateField
from accounts.services.billing import MAX_RANGE_DAYS, PERIOD_CHOICES, UsageFilters, UsagePeriod
from accounts.venice import (
    Currency,
)

START_AFTER_END = "The start date must be on or before the end date."
END_IN_FUTURE = "The end date cannot be in the future."
RANGE_TOO_LONG = f"A custom range can cover at most {MAX_RANGE_DAYS} days."
START_REQUIRED = "Enter a start date for a custom range."
END_REQUIRED = "Enter an end date for a custom range."


class UsagePeriodForm(forms.Form):
    """`?period=7d|30d|90d`, or a custom range `?start=YYYY-MM-DD&end=YYYY-MM-DD`."""

    # Only ever set by the period links; anything else falls back to the default period.
    period = forms.CharField(required=False, max_length=8)
    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To")

    def clean_period(self) -> str:
        value = self.cleaned_data["period"]
        return value if value in dict(PERIOD_CHOICES) else ""

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        # A field that failed to parse already carries its error; do not pile on.
        if "start" in self.errors or "end" in self.errors:
            return data
        if start is None and end is None:
            return data
        if start is None:
            self.add_error("start", START_REQUIRED)
        if end is None:
            self.add_error("end", END_REQUIRED)
        if start is None or end is None:
            return data
        today = timezone.now().date()
        if end > today:
            self.add_error("end", END_IN_FUTURE)
        if start > end:
            self.add_error("start", START_AFTER_END)
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("start", RANGE_TOO_LONG)
        return data

    def to_period(self) -> UsagePeriod:
        """The period asked for; call after is_valid(). Falls back to the default period."""
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            return UsagePeriod(start=data["start"], end=data["end"])
        return UsagePeriod(lookback=data.get("period") or UsagePeriod().lookback)


CURRENCY_CHOICES = [("", "All currencies")] + [
    (c.value, c.value) for c in (Currency.USD, Currency.DIEM, Currency.BUNDLED_CREDITS)
]


class UsageHistoryFilterForm(forms.Form):
    """Filters of the usage history (and its CSV export). Dates are whole UTC days: `end` is
    included, so the upstream's exclusive `endTimestamp` is the next midnight."""

    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To (inclusive)")

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("start", START_AFTER_END)
        return data

    def to_filters(self) -> UsageFilters:
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        return UsageFilters(
            currency=Currency(data["currency"]) if data.get("currency") else None,
            start=_midnight(start) if start else None,
            end=_midnight(end + timedelta(days=1)) if end else None,
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
