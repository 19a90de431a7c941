"""The billing pages' GET forms over the query string: the analytics period, the usage filters,
and the daily exports' range. Dates are whole UTC days, both ends included; "today" is Venice's
(the view passes it in), so a range cannot end in Venice's future."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from accounts.forms.fields import BoundedDateField
from accounts.presentation.names import MODEL_NAMES, WEB_APP
from accounts.services.billing import BREAKDOWNS, CURRENCIES, USD
from accounts.services.billing_periods import (
    DEFAULT_PRESET,
    MAX_RANGE_DAYS,
    PRESET_LABELS,
    Period,
    period_custom,
    period_for_preset,
)
from accounts.services.usage_history import UsageFilters, day_start
from accounts.venice import Currency

START_AFTER_END = "The start date must be on or before the end date."
END_IN_FUTURE = "The end date cannot be in the future."
RANGE_TOO_LONG = f"A range can cover at most {MAX_RANGE_DAYS} days."
START_REQUIRED = "Enter a start date for a custom range."
END_REQUIRED = "Enter an end date for a custom range."
# A key's spend comes from one analytics call per day of the range (the ledger names no key).
KEY_RANGE_MAX_DAYS = 92
KEY_RANGE_TOO_LONG = (
    f"A key's spend is read one day at a time: choose at most {KEY_RANGE_MAX_DAYS} days, or "
    "download spend by key for longer ranges."
)
KEY_AND_MODEL = (
    "Venice does not break one key's spend down by model: choose a key or a model, not both."
)
WEB_APP_CHOICE = "web-app"  # the key filter's value for usage without a key


def _check_range(form: forms.Form, start: date | None, end: date | None, today: date) -> None:
    """Both ends or neither; in order; not past Venice's today; at most MAX_RANGE_DAYS."""
    if "start" in form.errors or "end" in form.errors:
        return  # a date that failed to parse already says so
    if start is None and end is None:
        return
    if start is None:
        form.add_error("start", START_REQUIRED)
    if end is None:
        form.add_error("end", END_REQUIRED)
    if start is None or end is None:
        return
    if end > today:
        form.add_error("end", END_IN_FUTURE)
    if start > end:
        form.add_error("start", START_AFTER_END)
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        form.add_error("start", RANGE_TOO_LONG)


class BillingPeriodForm(forms.Form):
    """`?period=this-month|last-month|...`, or a custom range `?start=…&end=…`; `currency`
    orders the rankings; `breakdown=model|key` adds the per-day breakdown."""

    # Only ever set by the preset links; anything else falls back to the default preset.
    period = forms.CharField(required=False, max_length=16)
    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To")
    currency = forms.CharField(required=False, max_length=8)
    breakdown = forms.CharField(required=False, max_length=8)

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_period(self) -> str:
        value = self.cleaned_data["period"]
        return value if value in PRESET_LABELS else ""

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].upper()
        return value if value in CURRENCIES else USD

    def clean_breakdown(self) -> str:
        value = self.cleaned_data["breakdown"]
        return value if value in BREAKDOWNS else ""

    def clean(self):
        data = super().clean()
        _check_range(self, data.get("start"), data.get("end"), self.today)
        return data

    def to_period(self) -> Period:
        """The period asked for; call after is_valid(). Falls back to the default preset."""
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            return period_custom(data["start"], data["end"], today=self.today)
        return period_for_preset(data.get("period") or DEFAULT_PRESET, today=self.today)


CURRENCY_CHOICES = [("", "All currencies")] + [
    (c.value, label)
    for c, label in (
        (Currency.USD, "USD"),
        (Currency.DIEM, "DIEM"),
        (Currency.BUNDLED_CREDITS, "Bundled credits"),
    )
]
MODEL_CHOICES = [("", "All models")] + sorted(
    ((model_id, name) for model_id, name in MODEL_NAMES.items()), key=lambda pair: pair[1].lower()
)


class UsageHistoryFilterForm(forms.Form):
    """Filters of the usage history (and of its exports, which take exactly what the form
    holds). `end` is included, so Venice's exclusive `endTimestamp` is the next midnight."""

    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To (inclusive)")
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, required=False, label="Currency")
    model = forms.ChoiceField(choices=MODEL_CHOICES, required=False, label="Model")
    key = forms.ChoiceField(choices=[("", "All keys")], required=False, label="Key")

    def __init__(self, *args, today: date, keys: list[tuple[str, str]] = (), **kwargs):
        """`keys`: (key id, label) of the keys a person may pick."""
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["key"].choices = [
            ("", "All keys"),
            *keys,
            (WEB_APP_CHOICE, f"{WEB_APP} (no key)"),
        ]

    @staticmethod
    def defaults(today: date) -> dict[str, str]:
        """What the page opens with: Venice's current day (the newest usage), not the ledger's
        first entry months ago."""
        return {"start": today.isoformat(), "end": today.isoformat()}

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("start", START_AFTER_END)
        if data.get("key"):
            if data.get("model"):
                self.add_error("key", KEY_AND_MODEL)
            if not start and "start" not in self.errors:
                self.add_error("start", START_REQUIRED)
            if not end and "end" not in self.errors:
                self.add_error("end", END_REQUIRED)
            if start and end and (end - start).days + 1 > KEY_RANGE_MAX_DAYS:
                self.add_error("start", KEY_RANGE_TOO_LONG)
        return data

    def to_filters(self) -> UsageFilters:
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        return UsageFilters(
            currency=Currency(data["currency"]) if data.get("currency") else None,
            start=day_start(start) if start else None,
            end=day_start(end + timedelta(days=1)) if end else None,
            model=data.get("model") or "",
        )

    @property
    def key_id(self) -> str | None:
        """The chosen key's id; "" for the web app; None for no key filter."""
        value = self.cleaned_data.get("key") or None
        if value == WEB_APP_CHOICE:
            return ""
        return value


class SpendExportForm(forms.Form):
    """The days of a spend-by-key or spend-by-model file (this month when none are given)."""

    start = BoundedDateField(required=False, label="From")
    end = BoundedDateField(required=False, label="To")

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self):
        data = super().clean()
        _check_range(self, data.get("start"), data.get("end"), self.today)
        return data

    def days(self) -> tuple[date, date]:
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            return data["start"], data["end"]
        period = period_for_preset(DEFAULT_PRESET, today=self.today)
        return period.start, period.end


MONTH_INVALID = "Choose a month as YYYY-MM, no later than this one."


class MonthForm(forms.Form):
    """`?month=2026-11`: one calendar month (this month: to today), for the allocation."""

    month = forms.RegexField(
        label="Month",
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": MONTH_INVALID},
        widget=forms.TextInput(attrs={"type": "month"}),
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_month(self):
        value = self.cleaned_data["month"]
        if value and value > self.today.strftime("%Y-%m"):
            raise forms.ValidationError(MONTH_INVALID)
        return value

    def as_range(self) -> dict[str, str] | None:
        """The month as the period form's start and end, or None when none was chosen."""
        value = self.cleaned_data.get("month") if self.is_valid() else None
        if not value:
            return None
        first = date(int(value[:4]), int(value[5:]), 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return {"start": first.isoformat(), "end": min(last, self.today).isoformat()}
