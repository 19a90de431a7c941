"""Billing periods: calendar presets (yesterday, this month, last month...) and custom ranges.

Every period is a range of whole UTC days, both ends included: Venice's billing days are UTC
days, whatever the viewer's own time zone. "Today" is Venice's (`VeniceClient.now()`), so the
sandbox's clock moves the presets in tests. Only "Today" and "This month" include the day in
progress; the rolling presets end yesterday, so two people asking on the same day see the same
figures ("Last 7 days" is the last seven full days).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from accounts.presentation import dates
from accounts.venice import get_client

# The longest custom range: a year (and a day, for a leap year's). Venice's analytics cap a
# *lookback* at 90 days but state no cap for startDate/endDate; the per-day exports make one
# call per day, so a year is 366 calls, within Venice's request budget.
MAX_RANGE_DAYS = 366

TODAY, YESTERDAY, THIS_MONTH, LAST_MONTH = "today", "yesterday", "this-month", "last-month"
LAST_7, LAST_30, LAST_90 = "last-7-days", "last-30-days", "last-90-days"
CUSTOM = "custom"
PRESETS: tuple[tuple[str, str], ...] = (
    (TODAY, "Today so far"),
    (YESTERDAY, "Yesterday"),
    (THIS_MONTH, "This month"),
    (LAST_MONTH, "Last month"),
    (LAST_7, "Last 7 days"),
    (LAST_30, "Last 30 days"),
    (LAST_90, "Last 90 days"),
)
PRESET_LABELS = dict(PRESETS)
DEFAULT_PRESET = THIS_MONTH


def venice_today() -> date:
    """Venice's current UTC day."""
    return get_client().now().astimezone(UTC).date()


@dataclass(frozen=True)
class Period:
    """A range of whole UTC days, `start` to `end`, both included."""

    start: date
    end: date
    preset: str = CUSTOM  # which preset made it, or CUSTOM
    today: date | None = None  # Venice's day when the period was chosen

    @property
    def is_custom(self) -> bool:
        return self.preset == CUSTOM

    @property
    def label(self) -> str:
        """`This month (Dec 1 – Dec 15, 2026)`; `Nov 1 – Nov 30, 2026` for a custom range."""
        span = dates.range_prose(self.start, self.end)
        if self.is_custom:
            return span
        return f"{PRESET_LABELS[self.preset]} ({span})"

    @property
    def includes_today(self) -> bool:
        return self.today is not None and self.start <= self.today <= self.end

    @property
    def day_count(self) -> int:
        return (self.end - self.start).days + 1

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.day_count)]

    def as_query(self) -> dict[str, str]:
        """The same days as query parameters (how Billing hands them to Usage history)."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def period_for_preset(preset: str, *, today: date) -> Period:
    """The UTC days a preset means on `today`. Raises KeyError for an unknown preset."""
    yesterday = today - timedelta(days=1)
    if preset == TODAY:
        start, end = today, today
    elif preset == YESTERDAY:
        start, end = yesterday, yesterday
    elif preset == THIS_MONTH:
        start, end = month_start(today), today
    elif preset == LAST_MONTH:
        last = month_start(today) - timedelta(days=1)
        start, end = month_start(last), last
    elif preset in (LAST_7, LAST_30, LAST_90):
        count = {LAST_7: 7, LAST_30: 30, LAST_90: 90}[preset]
        start, end = yesterday - timedelta(days=count - 1), yesterday
    else:
        raise KeyError(preset)
    return Period(start=start, end=end, preset=preset, today=today)


def period_custom(start: date, end: date, *, today: date) -> Period:
    return Period(start=start, end=end, preset=CUSTOM, today=today)


@dataclass(frozen=True)
class Projection:
    """Where this month's spend is heading, at its average so far."""

    month_end: date
    usd: Decimal
    diem: Decimal
    elapsed_days: Decimal  # days of the month gone, today's part included

    @property
    def basis(self) -> str:
        return f"at this month's average so far ({self.elapsed_days} days)"


TOO_EARLY_TO_PROJECT = "Too early in the month to project: less than a day of spend so far."


def project_month(*, now: datetime, spent_usd: Decimal, spent_diem: Decimal) -> Projection | None:
    """This month's spend at its daily average so far, extended to the month's last day.
    None in the month's first day, when one morning's spend would be multiplied by 30."""
    now = now.astimezone(UTC)
    first = datetime.combine(month_start(now.date()), datetime.min.time(), tzinfo=UTC)
    elapsed = Decimal((now - first).total_seconds()) / Decimal(86_400)
    if elapsed < 1:
        return None
    days_in_month = calendar.monthrange(now.year, now.month)[1]
    factor = Decimal(days_in_month) / elapsed
    return Projection(
        month_end=month_end(now.date()),
        usd=spent_usd * factor,
        diem=spent_diem * factor,
        elapsed_days=elapsed.quantize(Decimal("0.1"), ROUND_HALF_UP),
    )
