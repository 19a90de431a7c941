"""Balance and spend rules: the USD balance or the DIEM left this epoch below an amount; the
account's or one key's spend today or this calendar month (UTC) above one; a team's spend this
calendar month against its monthly budget."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from accounts.models import KeyOwnership, Team
from accounts.services.alerts.evaluate_common import (
    CRITICAL,
    WARNING,
    Observation,
    decimal_or_none,
    key_url,
)
from accounts.services.alerts.inputs import AlertInputs
from accounts.services.alerts.kinds import money
from accounts.services.billing_periods import project_month


def balance_below(params, inputs: AlertInputs, states):
    currency = params.get("currency", "USD")
    threshold = decimal_or_none(params.get("amount"))
    balance = inputs.balance
    subject = f"balance:{currency}"
    value = None
    if balance is not None:
        value = balance.usd if currency == "USD" else balance.diem
    if value is None or threshold is None:
        # No USD balance reported, or no DIEM (not staking): nothing to compare.
        yield Observation(subject, 0)
        return
    what = "The USD balance" if currency == "USD" else "The DIEM left this epoch"
    below = value < threshold
    # DIEM refills at every epoch (UTC midnight): each epoch is a period of its own.
    period = inputs.now.date().isoformat() if currency == "DIEM" else ""
    yield Observation(
        subject,
        1 if below else 0,
        period=period,
        severity=CRITICAL if value <= 0 else WARNING,
        title=f"{what} is {money(value, currency)}, below {money(threshold, currency)}",
        body=(
            "Requests stop when the balance runs out."
            if currency == "USD"
            else "When the DIEM of this epoch is used up, requests are paid in USD until the "
            "next epoch (00:00 UTC)."
        ),
        facts={
            "currency": currency,
            "balance": str(value),
            "threshold": str(threshold),
            "can_consume": balance.can_consume,
        },
        link=reverse("billing:overview"),
    )


def spend_above(params, inputs: AlertInputs, states):
    period = "day" if params.get("period") == "day" else "month"
    label = inputs.now.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")
    key_id = params.get("key_id") or ""
    if key_id:
        usd, diem = inputs.key_spend(key_id, period)
        whose = f"Key “{params.get('key_label') or key_id}”"
        link = key_url(key_id)
    else:
        usd, diem = inputs.account_spend(period)
        whose = "The account"
        link = reverse("billing:usage")
    when = "today (UTC)" if period == "day" else f"in {inputs.now:%B %Y}"
    for currency, spent in (("USD", usd), ("DIEM", diem)):
        threshold = decimal_or_none(params.get(currency.lower()))
        if threshold is None:
            continue
        yield Observation(
            f"spend:{currency}",
            1 if spent > threshold else 0,
            period=label,
            severity=WARNING,
            title=(
                f"{whose} spent {money(spent, currency)} {when}, above {money(threshold, currency)}"
            ),
            body="Told once per period; the next one starts from zero.",
            facts={
                "currency": currency,
                "spent": str(spent),
                "threshold": str(threshold),
                "period": period,
                "period_label": label,
                "key_id": key_id or None,
            },
            link=link,
        )


def team_budget(params, inputs: AlertInputs, states):
    """Per team and currency it has a budget in: the highest threshold this month's spend has
    reached (each told once per calendar month), summed over the keys the team owns as the
    team's page sums them (a deleted key's spend this month still counts)."""
    thresholds = sorted({int(t) for t in params.get("thresholds") or []})
    teams = Team.objects.all()
    if params.get("team_id"):
        teams = teams.filter(pk=params["team_id"])
    teams = [team for team in teams if team.budget_usd is not None or team.budget_diem is not None]
    keys_of: dict[int, list[str]] = {team.pk: [] for team in teams}
    for team_id, key_id in KeyOwnership.objects.filter(team__in=teams).values_list(
        "team_id", "key_id"
    ):
        keys_of[team_id].append(key_id)
    month = inputs.now.strftime("%Y-%m")
    for team in teams:
        spent = {"USD": Decimal(0), "DIEM": Decimal(0)}
        for key_id in keys_of[team.pk]:
            usd, diem = inputs.key_spend(key_id, "month")
            spent["USD"] += usd
            spent["DIEM"] += diem
        projection = project_month(now=inputs.now, spent_usd=spent["USD"], spent_diem=spent["DIEM"])
        for currency, budget in (("USD", team.budget_usd), ("DIEM", team.budget_diem)):
            if budget is None:
                continue
            if budget:
                percent = spent[currency] * 100 / budget
            else:
                percent = Decimal(100 if spent[currency] else 0)
            level = max((t for t in thresholds if percent >= t), default=0)
            subject = f"team:{team.pk}:{currency}"
            if not level:
                yield Observation(subject, 0, period=month)
                continue
            heading = ""
            if projection is not None:
                projected = projection.usd if currency == "USD" else projection.diem
                heading = (
                    f" At this month's pace it reaches {money(projected, currency)} by "
                    f"{projection.month_end:%B} {projection.month_end.day}."
                )
            yield Observation(
                subject,
                level,
                period=month,
                severity=CRITICAL if level >= 100 else WARNING,
                title=(
                    f"Team “{team.name}” has spent {int(percent)} % of its {currency} budget in "
                    f"{inputs.now:%B %Y} ({money(spent[currency], currency)} of "
                    f"{money(budget, currency)})"
                ),
                body=(
                    "Venice does not stop a team at its budget: the portal only tells. Its keys' "
                    "own consumption limits are what stop requests." + heading
                ),
                facts={
                    "team": team.name,
                    "team_slug": team.slug,
                    "currency": currency,
                    "spent": str(spent[currency]),
                    "budget": str(budget),
                    "percent": int(percent),
                    "threshold": level,
                    "period_label": month,
                },
                link=reverse("teams:detail", args=[team.slug]),
            )
