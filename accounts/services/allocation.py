"""Cost allocation: a range of days' spend by team, then by key, in USD and in DIEM apart.

Built from usage-analytics' per-key totals, one call per day of the range (every key counts,
not only the top 8 of `byKeyDaily`). Each key's spend goes to the team its ownership names
(models/teams.py; a key deleted during the range keeps its ownership row, so its spend stays
with its team), keys with none to "Unassigned", and the web app's usage (no key) to a group of
its own, so that the groups add up to the account's total for the same range, read from one
more analytics call over the whole range: the page shows that check. Venice rounds each
figure to six decimals, so a range of N days may differ by up to N × 0.0000005 — far below a
cent or a DIEM unit; the check line shows any difference rather than hide it.

Ownership is read as it is now: a key moved between teams during the range counts wholly
for its current team (docs/teams.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from accounts import charts
from accounts.charts import Chart, Series
from accounts.presentation import names
from accounts.services.billing import (
    DIEM,
    FORMATS,
    USD,
    analytics_by_day,
    billing_analytics_get,
)
from accounts.services.billing_periods import Period, Projection, month_end, month_start
from accounts.services.key_ownership import ownerships_by_key

ZERO = Decimal(0)
UNASSIGNED = "Unassigned"
UNASSIGNED_SLUG = "unassigned"
WEB_APP_GROUP = "Web app (no key)"
WEB_APP_SLUG = "web-app"
HALF_CENT = Decimal("0.005")
HALF_DIEM_UNIT = Decimal("0.00005")
# What the files say in place of a per-model split Venice does not give.
NO_MODEL_SPLIT = "all models (Venice gives no per-key model breakdown)"


@dataclass
class AllocatedKey:
    key_id: str  # "" for the web app
    description: str
    owner: str
    usd: Decimal = ZERO
    diem: Decimal = ZERO


@dataclass
class AllocatedTeam:
    name: str
    slug: str
    team: object | None  # the Team, or None for Unassigned and the web app
    keys: dict[str, AllocatedKey] = field(default_factory=dict)
    usd: Decimal = ZERO
    diem: Decimal = ZERO
    projection: Projection | None = None  # this month only: where the team's spend is heading

    @property
    def budget_usd(self) -> Decimal | None:
        return self.team.budget_usd if self.team is not None else None

    @property
    def budget_diem(self) -> Decimal | None:
        return self.team.budget_diem if self.team is not None else None

    @property
    def key_rows(self) -> list[AllocatedKey]:
        return sorted(self.keys.values(), key=lambda k: (-k.usd, -k.diem, k.description.lower()))


@dataclass(frozen=True)
class AllocationDay:
    day: date
    team: str  # the group's name
    team_slug: str
    key_id: str
    description: str
    owner: str
    usd: Decimal
    diem: Decimal


@dataclass
class Allocation:
    period: Period
    teams: list[AllocatedTeam]
    days: list[AllocationDay]
    account_usd: Decimal  # the analytics' own total for the range
    account_diem: Decimal
    usd_chart: Chart | None = None
    diem_chart: Chart | None = None
    projection: Projection | None = None

    @property
    def total_usd(self) -> Decimal:
        return sum((team.usd for team in self.teams), ZERO)

    @property
    def total_diem(self) -> Decimal:
        return sum((team.diem for team in self.teams), ZERO)

    @property
    def difference_usd(self) -> Decimal:
        return self.total_usd - self.account_usd

    @property
    def difference_diem(self) -> Decimal:
        return self.total_diem - self.account_diem

    @property
    def adds_up(self) -> bool:
        """Apart by less than half a cent, and half a ten-thousandth of a DIEM. Comparing the
        two rounded figures instead would call millionths of Venice's rounding "does not add
        up" whenever they fall either side of a cent (and did, for November 2026)."""
        return abs(self.difference_usd) < HALF_CENT and abs(self.difference_diem) < HALF_DIEM_UNIT

    @property
    def is_one_month(self) -> bool:
        """Budgets are monthly: they compare with a range that is one calendar month (so far)."""
        start, end = self.period.start, self.period.end
        return start == month_start(start) and (
            end == month_end(start) or (self.period.includes_today and end.month == start.month)
        )


def _group(teams: dict, ownership, key_id: str | None) -> AllocatedTeam:
    if key_id is None:
        slug, name, team = WEB_APP_SLUG, WEB_APP_GROUP, None
    elif ownership is None or ownership.team is None:
        slug, name, team = UNASSIGNED_SLUG, UNASSIGNED, None
    else:
        team = ownership.team
        slug, name = team.slug, team.name
    if slug not in teams:
        teams[slug] = AllocatedTeam(name=name, slug=slug, team=team)
    return teams[slug]


def allocation_build(
    *, period: Period, daily: list, account, ownerships: dict, teams_known=()
) -> Allocation:
    """No I/O: `daily` is [(day, UsageAnalytics)], `account` the range's UsageAnalytics."""
    teams: dict[str, AllocatedTeam] = {}
    for team in teams_known:
        teams[team.slug] = AllocatedTeam(name=team.name, slug=team.slug, team=team)
    days: list[AllocationDay] = []
    for day, analytics in daily:
        for usage in analytics.by_key:
            ownership = ownerships.get(usage.api_key_id) if usage.api_key_id else None
            group = _group(teams, ownership, usage.api_key_id)
            key_id = usage.api_key_id or ""
            description = usage.description or (
                names.WEB_APP if usage.api_key_id is None else names.UNNAMED_KEY
            )
            owner = ownership.owner_label if ownership is not None else ""
            row = group.keys.get(key_id)
            if row is None:
                row = group.keys[key_id] = AllocatedKey(key_id, description, owner)
            row.usd += usage.total_usd
            row.diem += usage.total_diem
            group.usd += usage.total_usd
            group.diem += usage.total_diem
            days.append(
                AllocationDay(
                    day,
                    group.name,
                    group.slug,
                    key_id,
                    description,
                    owner,
                    usage.total_usd,
                    usage.total_diem,
                )
            )
    ordered = sorted(
        teams.values(),
        key=lambda t: (t.team is None, t.slug == WEB_APP_SLUG, t.name.lower()),
    )
    allocation = Allocation(
        period=period,
        teams=ordered,
        days=days,
        account_usd=account.total_usd,
        account_diem=account.total_diem,
    )
    allocation.usd_chart = _team_chart(allocation, [d for d, _ in daily], USD)
    allocation.diem_chart = _team_chart(allocation, [d for d, _ in daily], DIEM)
    return allocation


def _team_chart(allocation: Allocation, day_list: list[date], currency: str) -> Chart:
    """Spend per team per day in one currency, stacked: each day's stack is its total."""
    per_team: dict[str, dict[date, Decimal]] = {}
    for row in allocation.days:
        amount = row.usd if currency == USD else row.diem
        by_day = per_team.setdefault(row.team, {})
        by_day[row.day] = by_day.get(row.day, ZERO) + amount
    series = [
        Series(team.name, tuple(per_team.get(team.name, {}).get(d, ZERO) for d in day_list))
        for team in allocation.teams
        if any(per_team.get(team.name, {}).values())
    ]
    return charts.bar_chart(
        title=f"Spend per team per day in {currency}",
        labels=[charts.date_label(d) for d in day_list],
        series=series or [Series(currency, tuple(ZERO for _ in day_list))],
        stacked=True,
        unit=currency,
        value_format=FORMATS[currency],
    )


def allocation_get(*, period: Period, now: datetime | None = None) -> Allocation:
    """The allocation of a period: one analytics call per day and one for the whole range.
    Raises VeniceError."""
    from accounts.models import Team
    from accounts.services.billing_periods import THIS_MONTH, project_month

    daily = analytics_by_day(period.days())
    account = billing_analytics_get(period)
    allocation = allocation_build(
        period=period,
        daily=daily,
        account=account,
        ownerships=ownerships_by_key(),
        teams_known=list(Team.objects.all()),
    )
    if now is not None and period.preset == THIS_MONTH:
        allocation.projection = project_month(
            now=now, spent_usd=allocation.total_usd, spent_diem=allocation.total_diem
        )
        for team in allocation.teams:
            team.projection = project_month(now=now, spent_usd=team.usd, spent_diem=team.diem)
    return allocation
