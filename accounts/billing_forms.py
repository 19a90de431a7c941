"""Forms of the billing and rate-limit pages: the periods, filters and sort orders they accept.

Kept apart from accounts/forms.py (the key forms) so the two areas grow without colliding. All
of them are GET forms: they parse the query string and report errors per field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from accounts.services.billing import MAX_RANGE_DAYS, PERIOD_CHOICES, UsageFilters, UsagePeriod
from accounts.services.limits import LIMIT_SORTS
from accounts.venice import Currency, RateLimitType

START_AFTER_END = "The start date must be on or before the end date."
END_IN_FUTURE = "The end date cannot be in the future."
RANGE_TOO_LONG = f"A custom range can cover at most {MAX_RANGE_DAYS} days."
START_REQUIRED = "Enter a start date for a custom range."
END_REQUIRED = "Enter an end date for a custom range."

_DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class UsagePeriodForm(forms.Form):
    """`?period=7d|30d|90d`, or a custom range `?start=YYYY-MM-DD&end=YYYY-MM-DD`."""

    # Only ever set by the period links; anything else falls back to the default period.
    period = forms.CharField(required=False, max_length=8)
    start = forms.DateField(required=False, widget=_DATE_INPUT, label="From")
    end = forms.DateField(required=False, widget=_DATE_INPUT, label="To")

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
    start = forms.DateField(required=False, widget=_DATE_INPUT, label="From")
    end = forms.DateField(required=False, widget=_DATE_INPUT, label="To (inclusive)")

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


class LimitsForm(forms.Form):
    """Sort order of the per-model limits, and filters of the rate-limit log (exact matches;
    the page offers the values the log holds)."""

    sort = forms.ChoiceField(choices=[(s, s) for s in LIMIT_SORTS], required=False)
    key = forms.CharField(required=False, max_length=200, label="Key")
    model = forms.CharField(required=False, max_length=200, label="Model")
    type = forms.ChoiceField(
        choices=[("", "All types")] + [(t.value, t.value) for t in RateLimitType],
        required=False,
        label="Type",
    )
