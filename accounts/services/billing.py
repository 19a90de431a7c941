"""The billing overview: one period's usage analytics as totals, rankings and charts.

USD and DIEM are two measures, never added: each has its own total and its own per-day chart,
and the per-model and per-key rankings are ordered, charted and totalled in the one currency
the viewer picks (`currency`), which the page names. Units are per model only (a model counts
one unit type); a key's units would add tokens to seconds, so none are shown.

Venice's own daily series (`byModelDaily`, `byKeyDaily`) hold one number per model and day
with USD and DIEM added together, and only for the top 8: the per-day breakdowns here come
instead from one analytics call per day (`analytics_by_day`), shared with the daily exports.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from accounts import charts
from accounts.charts import Chart, Series
from accounts.presentation import names, numbers
from accounts.services.billing_periods import (
    TOO_EARLY_TO_PROJECT,
    Period,
    Projection,
    project_month,
)
from accounts.venice import KeyUsage, ModelUsage, UsageAnalytics, get_client

USD, DIEM = "USD", "DIEM"
CURRENCIES = (USD, DIEM)
TOP_COUNT = 8  # models or keys drawn in a chart; the tables list them all
BREAKDOWN_MODEL, BREAKDOWN_KEY = "model", "key"
BREAKDOWNS = (BREAKDOWN_MODEL, BREAKDOWN_KEY)
# The per-day breakdown makes one call per day: on screen, up to a quarter.
BREAKDOWN_MAX_DAYS = 92
BREAKDOWN_TOO_LONG = (
    f"The per-day breakdown covers at most {BREAKDOWN_MAX_DAYS} days on screen; choose a shorter "
    "period, or download it as a file (one row per day)."
)
# How many per-day analytics calls run at once: enough to hide latency, few enough to stay
# well inside Venice's request budget.
DAILY_CALLS_IN_FLIGHT = 4
OTHER = "Other"
ZERO = Decimal(0)

FORMATS: dict[str, Callable] = {USD: numbers.usd, DIEM: numbers.diem}


def amount_in(row, currency: str) -> Decimal:
    """A row's spend in one currency: `usd`/`diem` (days, this module's rows) or
    `total_usd`/`total_diem` (the analytics' models and keys)."""
    name = "usd" if currency == USD else "diem"
    return getattr(row, name) if hasattr(row, name) else getattr(row, f"total_{name}")


@dataclass(frozen=True)
class ModelRow:
    name: str
    model_id: str | None  # None when the analytics' name is not a model the portal knows
    model_type: str | None
    unit_type: str
    units: Decimal  # in Venice's units (millions of tokens): show with numbers.units
    usd: Decimal
    diem: Decimal

    @property
    def units_shown(self) -> str:
        return numbers.units(self.units, self.unit_type)


@dataclass(frozen=True)
class KeyRow:
    key_id: str | None  # None: the web app (usage without a key)
    name: str
    usd: Decimal
    diem: Decimal

    @property
    def is_web_app(self) -> bool:
        return self.key_id is None


def model_rows(models: tuple[ModelUsage, ...], currency: str) -> list[ModelRow]:
    """Every model, highest spend in `currency` first (ties by name)."""
    rows = [
        ModelRow(
            name=m.model_name,
            model_id=names.model_id_for_name(m.model_name),
            model_type=m.model_type,
            unit_type=m.unit_type,
            units=m.total_units,
            usd=m.total_usd,
            diem=m.total_diem,
        )
        for m in models
    ]
    return sorted(rows, key=lambda r: (-amount_in(r, currency), r.name.lower()))


def key_rows(keys: tuple[KeyUsage, ...], currency: str) -> list[KeyRow]:
    """Every key (and the web app), highest spend in `currency` first."""
    rows = [
        KeyRow(
            key_id=k.api_key_id,
            name=k.description or (names.WEB_APP if k.api_key_id is None else names.UNNAMED_KEY),
            usd=k.total_usd,
            diem=k.total_diem,
        )
        for k in keys
    ]
    return sorted(rows, key=lambda r: (-amount_in(r, currency), r.name.lower()))


@dataclass(frozen=True)
class BillingOverview:
    period: Period
    currency: str  # what the rankings are ordered and charted by
    analytics: UsageAnalytics
    total_usd: Decimal
    total_diem: Decimal
    spend_usd_chart: Chart
    spend_diem_chart: Chart
    models: list[ModelRow]
    keys: list[KeyRow]
    models_chart: Chart
    keys_chart: Chart
    projection: Projection | None = None
    projection_note: str = ""
    breakdown: str | None = None  # "model", "key" or None
    breakdown_chart: Chart | None = None
    breakdown_note: str = ""

    @property
    def charts(self) -> list[Chart]:
        shown = [self.spend_usd_chart, self.spend_diem_chart, self.models_chart, self.keys_chart]
        return shown + ([self.breakdown_chart] if self.breakdown_chart else [])


def billing_analytics_get(period: Period) -> UsageAnalytics:
    """The analytics of a period's days (always as startDate/endDate: a lookback would count
    from Venice's today, and the period was fixed when it was chosen). Raises VeniceError."""
    return get_client().billing.get_usage_analytics(start=period.start, end=period.end)


def analytics_by_day(days: list[date]) -> list[tuple[date, UsageAnalytics]]:
    """One analytics call per day, a few at a time, in day order: the only way to get every
    key's and every model's spend per day in each currency. Raises the first VeniceError."""
    billing = get_client().billing

    def one(day: date) -> UsageAnalytics:
        return billing.get_usage_analytics(start=day, end=day)

    if len(days) <= 1:
        return [(day, one(day)) for day in days]
    with ThreadPoolExecutor(max_workers=DAILY_CALLS_IN_FLIGHT) as pool:
        return list(zip(days, pool.map(one, days), strict=True))


def billing_overview_get(
    *,
    period: Period,
    currency: str = USD,
    breakdown: str | None = None,
    now: datetime | None = None,
) -> BillingOverview:
    """The analytics of one period with its charts (and, when asked, the per-day breakdown by
    model or key). Raises VeniceError."""
    analytics = billing_analytics_get(period)
    daily = None
    if breakdown in BREAKDOWNS and period.day_count <= BREAKDOWN_MAX_DAYS:
        daily = analytics_by_day(period.days())
    return billing_overview_build(
        analytics=analytics,
        period=period,
        currency=currency,
        breakdown=breakdown,
        daily=daily,
        now=now or get_client().now(),
    )


def billing_overview_build(
    *,
    analytics: UsageAnalytics,
    period: Period,
    currency: str = USD,
    breakdown: str | None = None,
    daily: list[tuple[date, UsageAnalytics]] | None = None,
    now: datetime | None = None,
) -> BillingOverview:
    currency = currency if currency in CURRENCIES else USD
    total_usd = sum((d.usd for d in analytics.by_date), ZERO)
    total_diem = sum((d.diem for d in analytics.by_date), ZERO)
    models = model_rows(analytics.by_model, currency)
    keys = key_rows(analytics.by_key, currency)
    projection, projection_note = None, ""
    if now is not None and period.preset == "this-month":
        projection = project_month(now=now, spent_usd=total_usd, spent_diem=total_diem)
        projection_note = "" if projection else TOO_EARLY_TO_PROJECT
    breakdown_chart, breakdown_note = None, ""
    if breakdown in BREAKDOWNS:
        if daily is None:
            breakdown_note = BREAKDOWN_TOO_LONG
        else:
            breakdown_chart = breakdown_chart_build(
                daily=daily, by=breakdown, currency=currency, period=period
            )
    return BillingOverview(
        period=period,
        currency=currency,
        analytics=analytics,
        total_usd=total_usd,
        total_diem=total_diem,
        spend_usd_chart=spend_per_day_chart(analytics=analytics, period=period, currency=USD),
        spend_diem_chart=spend_per_day_chart(analytics=analytics, period=period, currency=DIEM),
        models=models,
        keys=keys,
        models_chart=_ranking_chart("model", [(m.name, m) for m in models], currency),
        keys_chart=_ranking_chart("key", [(k.name, k) for k in keys], currency),
        projection=projection,
        projection_note=projection_note,
        breakdown=breakdown if breakdown in BREAKDOWNS else None,
        breakdown_chart=breakdown_chart,
        breakdown_note=breakdown_note,
    )


def _series(name: str, values, color: str = "") -> Series:
    return Series(name, tuple(values), color)


def _ranking_chart(what: str, rows: list[tuple[str, object]], currency: str) -> Chart:
    """The top spenders in one currency, as ranked (rows arrive sorted by it)."""
    top = rows[:TOP_COUNT]
    color = charts.PALETTE[0] if currency == USD else charts.PALETTE[1]
    return charts.hbar_chart(
        title=f"Spend per {what} in {currency}, highest first",
        labels=[name for name, _ in top],
        series=[_series(currency, (amount_in(row, currency) for _, row in top), color)],
        label_header=what.capitalize(),
        unit=currency,
        value_format=FORMATS[currency],
    )


def spend_per_day_chart(*, analytics: UsageAnalytics, period: Period, currency: str) -> Chart:
    """Every day of the period (a quiet day is a gap, not a missing bar), one currency."""
    by_day = {d.date: d for d in analytics.by_date}
    days = _days_with(period, by_day)
    color = charts.PALETTE[0] if currency == USD else charts.PALETTE[1]
    values = [amount_in(by_day[d], currency) if d in by_day else ZERO for d in days]
    return charts.bar_chart(
        title=f"Spend per day in {currency}",
        labels=[charts.date_label(d) for d in days],
        series=[_series(currency, values, color)],
        unit=currency,
        value_format=FORMATS[currency],
    )


def _days_with(period: Period, reported) -> list[date]:
    """The period's days, widened to any day the analytics reported outside them (a day
    outside would be spend the chart silently dropped)."""
    days = set(period.days()) | set(reported)
    first, last = min(days), max(days)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def breakdown_chart_build(
    *, daily: list[tuple[date, UsageAnalytics]], by: str, currency: str, period: Period
) -> Chart:
    """Per day, each of the period's top models (or keys) in one currency, stacked; the rest
    as "Other", so each day's stack is that day's whole spend in the currency."""
    per_day: list[dict[str, Decimal]] = []
    totals: dict[str, Decimal] = {}
    for _, day in daily:
        values: dict[str, Decimal] = {}
        rows = (
            [(m.model_name, m) for m in day.by_model]
            if by == BREAKDOWN_MODEL
            else [(k.description or names.WEB_APP, k) for k in day.by_key]
        )
        for name, row in rows:
            spent = amount_in(row, currency)
            values[name] = values.get(name, ZERO) + spent
            totals[name] = totals.get(name, ZERO) + spent
        per_day.append(values)
    ranked = sorted((n for n, v in totals.items() if v), key=lambda n: (-totals[n], n.lower()))
    top, rest = ranked[:TOP_COUNT], ranked[TOP_COUNT:]
    series = [_series(name, (values.get(name, ZERO) for values in per_day)) for name in top]
    if rest:
        series.append(
            _series(
                OTHER,
                (sum((values.get(n, ZERO) for n in rest), ZERO) for values in per_day),
                charts.PALETTE[9],
            )
        )
    what = "model" if by == BREAKDOWN_MODEL else "key"
    return charts.bar_chart(
        title=f"Spend per day by {what} in {currency}",
        labels=[charts.date_label(day) for day, _ in daily],
        series=series,
        stacked=True,
        unit=currency,
        value_format=FORMATS[currency],
    )


@dataclass(frozen=True)
class KeyDay:
    day: date
    usd: Decimal
    diem: Decimal


def key_spend_by_day(*, key_id: str, days: list[date]) -> list[KeyDay]:
    """One key's spend (`key_id` "" for the web app) on each day, from one analytics call per
    day: the ledger names no key, and Venice's daily series hold only the top 8 keys, with
    their currencies added together. Raises VeniceError."""
    wanted = key_id or None
    spent = []
    for day, analytics in analytics_by_day(days):
        usd = diem = ZERO
        for key in analytics.by_key:
            if key.api_key_id == wanted:
                usd += key.total_usd
                diem += key.total_diem
        spent.append(KeyDay(day, usd, diem))
    return spent


KEY_SPEND_DAYS = 30


@dataclass(frozen=True)
class KeySpend:
    """One key's spend over its last KEY_SPEND_DAYS full days, per currency."""

    days: list[KeyDay]
    usd: Decimal
    diem: Decimal
    usd_chart: Chart
    diem_chart: Chart
    first: date
    last: date


def key_spend_recent(*, key_id: str, today: date) -> KeySpend:
    """The key page's spend panel: the last 30 full UTC days (ending yesterday, as Billing's
    "Last 30 days"), one analytics call per day. Raises VeniceError."""
    last = today - timedelta(days=1)
    first = last - timedelta(days=KEY_SPEND_DAYS - 1)
    days = key_spend_by_day(key_id=key_id, days=[first + timedelta(days=i) for i in range(30)])
    labels = [charts.date_label(d.day) for d in days]

    def chart(currency: str) -> Chart:
        color = charts.PALETTE[0] if currency == USD else charts.PALETTE[1]
        return charts.bar_chart(
            title=f"This key's spend per day in {currency}",
            labels=labels,
            series=[_series(currency, (amount_in(d, currency) for d in days), color)],
            unit=currency,
            value_format=FORMATS[currency],
        )

    return KeySpend(
        days=days,
        usd=sum((d.usd for d in days), ZERO),
        diem=sum((d.diem for d in days), ZERO),
        usd_chart=chart(USD),
        diem_chart=chart(DIEM),
        first=first,
        last=last,
    )
