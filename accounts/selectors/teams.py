"""Reads about teams: each team's members, keys, and this month's spend against its budget.

This month's spend per team is one analytics call for the month so far (its `byKey` lists
every key's totals), summed over the keys each team owns, with the projection to the month's
end that Billing uses. Keys come from Venice's list; a team's key Venice no longer has (deleted)
still counts for this month's spend, and is listed as deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from accounts.models import KeyOwnership, Team
from accounts.services.billing_periods import (
    THIS_MONTH,
    Projection,
    period_for_preset,
    project_month,
    venice_today,
)
from accounts.venice import get_client

ZERO = Decimal(0)


@dataclass
class TeamKey:
    key_id: str
    description: str
    last6: str
    owner: str
    deleted: bool  # Venice no longer lists it
    usd: Decimal = ZERO  # this month
    diem: Decimal = ZERO


@dataclass
class TeamSpend:
    team: Team
    members: list = field(default_factory=list)
    keys: list[TeamKey] = field(default_factory=list)
    usd: Decimal = ZERO
    diem: Decimal = ZERO
    projection: Projection | None = None

    def _percent(self, spent: Decimal, budget: Decimal | None) -> int | None:
        if budget is None:
            return None
        if not budget:
            return 100 if spent else 0
        return int(spent * 100 / budget)

    @property
    def usd_percent(self) -> int | None:
        return self._percent(self.usd, self.team.budget_usd)

    @property
    def diem_percent(self) -> int | None:
        return self._percent(self.diem, self.team.budget_diem)

    @property
    def live_keys(self) -> list[TeamKey]:
        return [key for key in self.keys if not key.deleted]

    @property
    def projected_over_usd(self) -> bool:
        budget = self.team.budget_usd
        return bool(self.projection and budget is not None and self.projection.usd > budget)

    @property
    def projected_over_diem(self) -> bool:
        budget = self.team.budget_diem
        return bool(self.projection and budget is not None and self.projection.diem > budget)


def _month_totals() -> tuple[dict, object]:
    """({key id: (usd, diem)} this month, now) — one analytics call. Raises VeniceError."""
    client = get_client()
    period = period_for_preset(THIS_MONTH, today=venice_today())
    analytics = client.billing.get_usage_analytics(start=period.start, end=period.end)
    totals = {
        usage.api_key_id: (usage.total_usd, usage.total_diem)
        for usage in analytics.by_key
        if usage.api_key_id
    }
    return totals, client.now()


def teams_with_spend(teams=None) -> list[TeamSpend]:
    """Every team (or those given), with members, keys and this month's spend. Raises
    VeniceError when Venice cannot be read."""
    teams = list(teams if teams is not None else Team.objects.all())
    live = {key.id: key for key in get_client().api_keys.list()}
    totals, now = _month_totals()
    by_team: dict[int, TeamSpend] = {
        team.pk: TeamSpend(
            team=team,
            members=[
                m.user for m in team.memberships.select_related("user").order_by("user__username")
            ],
        )
        for team in teams
    }
    ownerships = KeyOwnership.objects.filter(team__in=teams).select_related("owner")
    for ownership in ownerships:
        spend = by_team[ownership.team_id]
        key = live.get(ownership.key_id)
        usd, diem = totals.get(ownership.key_id, (ZERO, ZERO))
        spend.keys.append(
            TeamKey(
                key_id=ownership.key_id,
                description=key.description if key else ownership.key_description,
                last6=key.last6 if key else ownership.key_last6,
                owner=ownership.owner_label,
                deleted=key is None,
                usd=usd,
                diem=diem,
            )
        )
        spend.usd += usd
        spend.diem += diem
    for spend in by_team.values():
        spend.keys.sort(key=lambda k: (k.deleted, k.description.lower()))
        spend.projection = project_month(now=now, spent_usd=spend.usd, spent_diem=spend.diem)
    return list(by_team.values())
