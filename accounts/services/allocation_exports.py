"""The allocation files: `/billing/allocation.csv` (a chargeback file) and its FOCUS form.

Both stream one day at a time (one analytics call per day, every key), and are audited by
services/exports.py like the usage files.

**The plain CSV**: one row per key per day it spent, with its team (or Unassigned, or the web
app's group) and owner, USD and DIEM in columns of their own. Venice gives no key × model
breakdown, so the `models` column says so on every row instead of inventing one.

**FOCUS** (FinOps Open Cost and Usage Specification): the columns of FOCUS 1.2, which also
cover every column FOCUS 1.0 requires (the FinOps Foundation's `focus-validator` 1.0.0, the
release the registry serves, validates 1.0; extra columns are allowed). One row per key per
day *per currency*:

- USD spend: `BillingCurrency` USD, `BilledCost` = `EffectiveCost` = `ListCost` =
  `ContractedCost` = the day's USD (Venice publishes no discounts per key).
- DIEM spend is not billed in money: DIEM is Venice's staked compute allowance. Its rows have
  `BilledCost` 0 USD and carry the DIEM amount in FOCUS 1.2's virtual-currency columns,
  `PricingCurrency` DIEM and `PricingCurrencyEffectiveCost` (so a FinOps tool sums the money
  and can still see the allowance); nothing converts DIEM to USD or adds them.
- `SubAccountId`/`SubAccountName` are the team (FOCUS's sub-account: a project or workspace),
  `ResourceId` the key's id (and `ResourceID` too: validator 1.0.0 checks that spelling),
  `ResourceName` its description, `Tags` {"team", "owner"}. The web app's usage has no
  resource.
- `ChargeType` repeats `ChargeCategory` under its FOCUS 1.0-preview name: validator 1.0.0's
  SkuPriceId rule still reads that column. `SkuId` and `SkuPriceId` name the currency's usage
  (`venice-api-usage-usd`): Venice prices per model, and a key's spend is not split by model.
- `ConsumedQuantity`/`ConsumedUnit` are empty: a key's units add tokens to images to seconds,
  which no unit describes (docs/billing.md, Units).
"""

from __future__ import annotations

import calendar
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta

from accounts.presentation import names
from accounts.services.allocation import (
    NO_MODEL_SPLIT,
    UNASSIGNED,
    UNASSIGNED_SLUG,
    WEB_APP_GROUP,
    WEB_APP_SLUG,
)
from accounts.services.billing import DAILY_CALLS_IN_FLIGHT, analytics_by_day
from accounts.services.csv_cells import spreadsheet_safe
from accounts.services.key_ownership import ownerships_by_key
from accounts.services.usage_csv import _line, _plain, _writer

ALLOCATION_COLUMNS = (
    "day (UTC)",
    "team",
    "team_slug",
    "key_id",
    "key_description",
    "owner",
    "usd",
    "diem",
    "models",
)

FOCUS_COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ChargeType",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "InvoiceIssuer",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "Provider",
    "PublisherName",
    "Publisher",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceID",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)

VENICE = "Venice.ai"
BILLING_ACCOUNT_ID = "venice-account"
BILLING_ACCOUNT_NAME = "Venice account"
SERVICE_NAME = "Venice API"


def _group(ownership, key_id: str | None) -> tuple[str, str, str]:
    """(team name, team slug, owner) of a key's spend."""
    if key_id is None:
        return WEB_APP_GROUP, WEB_APP_SLUG, ""
    if ownership is None:
        return UNASSIGNED, UNASSIGNED_SLUG, ""
    team = ownership.team
    name, slug = (team.name, team.slug) if team is not None else (UNASSIGNED, UNASSIGNED_SLUG)
    return name, slug, ownership.owner_label


def _days(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


def _spend(days: list[date]):
    """(day, key usage, team name, slug, owner) for every key of every day, in day order."""
    ownerships = ownerships_by_key()
    for start in range(0, len(days), DAILY_CALLS_IN_FLIGHT):
        for day, analytics in analytics_by_day(days[start : start + DAILY_CALLS_IN_FLIGHT]):
            yield (
                day,
                [
                    (usage, *_group(ownerships.get(usage.api_key_id), usage.api_key_id))
                    for usage in analytics.by_key
                ],
            )


def _description(usage) -> str:
    if usage.description:
        return usage.description
    return names.WEB_APP if usage.api_key_id is None else names.UNNAMED_KEY


def _chunk(rows: list[list[str]]) -> tuple[str, int]:
    buffer = io.StringIO()
    _writer(buffer).writerows(rows)
    return buffer.getvalue(), len(rows)


def allocation_csv_chunks(*, first: date, last: date) -> Iterator[tuple[str, int]]:
    yield _line(ALLOCATION_COLUMNS), 0
    for day, entries in _spend(_days(first, last)):
        rows = [
            [
                day.isoformat(),
                spreadsheet_safe(team),
                slug,
                usage.api_key_id or "",
                spreadsheet_safe(_description(usage)),
                spreadsheet_safe(owner),
                _plain(usage.total_usd),
                _plain(usage.total_diem),
                NO_MODEL_SPLIT,
            ]
            for usage, team, slug, owner in entries
        ]
        if rows:
            yield _chunk(rows)


def _moment(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _focus_row(day: date, usage, team: str, slug: str, owner: str, currency: str) -> list[str]:
    usd = _plain(usage.total_usd) if currency == "USD" else "0"
    amount = _plain(usage.total_usd if currency == "USD" else usage.total_diem)
    month_first = day.replace(day=1)
    month_next = month_first + timedelta(days=calendar.monthrange(day.year, day.month)[1])
    key_id = usage.api_key_id or ""
    description = _description(usage)
    tags = {"team": slug, "owner": owner} if owner else {"team": slug}
    sku = f"venice-api-usage-{currency.lower()}"
    what = "the web app" if not key_id else f"API key “{description}”"
    values = {
        "BilledCost": usd,
        "BillingAccountId": BILLING_ACCOUNT_ID,
        "BillingAccountName": BILLING_ACCOUNT_NAME,
        "BillingAccountType": "Billing Account",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _moment(month_next),
        "BillingPeriodStart": _moment(month_first),
        "ChargeCategory": "Usage",
        "ChargeDescription": f"Venice API usage in {currency} by {what}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _moment(day + timedelta(days=1)),
        "ChargePeriodStart": _moment(day),
        "ChargeType": "Usage",
        "ContractedCost": usd,
        "EffectiveCost": usd,
        "InvoiceIssuerName": VENICE,
        "InvoiceIssuer": VENICE,
        "ListCost": usd,
        "PricingCategory": "Standard",
        "PricingCurrency": currency,
        "PricingCurrencyEffectiveCost": amount,
        "ProviderName": VENICE,
        "Provider": VENICE,
        "PublisherName": VENICE,
        "Publisher": VENICE,
        "ResourceId": key_id,
        "ResourceID": key_id,
        "ResourceName": spreadsheet_safe(description) if key_id else "",
        "ResourceType": "API key" if key_id else "",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": SERVICE_NAME,
        "ServiceSubcategory": "Generative AI",
        "SkuId": sku,
        "SkuMeter": f"Usage in {currency}",
        "SkuPriceId": sku,
        "SubAccountId": slug,
        "SubAccountName": spreadsheet_safe(team),
        "SubAccountType": "Team",
        "Tags": json.dumps(tags, sort_keys=True, ensure_ascii=False),
    }
    return [values.get(column, "") for column in FOCUS_COLUMNS]


def allocation_focus_chunks(*, first: date, last: date) -> Iterator[tuple[str, int]]:
    yield _line(FOCUS_COLUMNS), 0
    for day, entries in _spend(_days(first, last)):
        rows = []
        for usage, team, slug, owner in entries:
            if usage.total_usd:
                rows.append(_focus_row(day, usage, team, slug, owner, "USD"))
            if usage.total_diem:
                rows.append(_focus_row(day, usage, team, slug, owner, "DIEM"))
        if rows:
            yield _chunk(rows)
