"""Balance and spend rules: the USD balance or the DIEM left this epoch below an amount; the
account's or one key's spend today or this calendar month (UTC) above one."""

from __future__ import annotations

from django.urls import reverse

from accounts.services.alerts.evaluate_common import (
    CRITICAL,
    WARNING,
    Observation,
    decimal_or_none,
    key_url,
)
from accounts.services.alerts.inputs import AlertInputs
from accounts.services.alerts.kinds import money


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
