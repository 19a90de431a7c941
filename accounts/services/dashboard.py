"""The dashboard: one account summary, cut into panels, each shown only to roles that may see it.

`client.account.get_account_summary()` runs its upstream calls concurrently and reports a
failed part in `summary.errors` (by part name) with that part left None. A failed part blanks
its own panel with the error's `user_message`; the rest of the page renders.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from accounts.models import Rotation, RotationState
from accounts.presentation import dates
from accounts.roles import Ability
from accounts.selectors.audit import AuditFilters, audit_page
from accounts.selectors.keys import EXPIRING_WITHIN, UNUSED_FOR
from accounts.selectors.rotation import rotations_open_by_key
from accounts.services.billing_periods import (
    THIS_MONTH,
    TOO_EARLY_TO_PROJECT,
    Period,
    Projection,
    period_for_preset,
    project_month,
)
from accounts.services.rotation_watch import rotation_traffic
from accounts.venice import (
    AccountSummary,
    APIKey,
    APIKeyType,
    Balance,
    RateLimitStatus,
    UsageAnalytics,
    VeniceError,
    get_client,
)

BURN_WINDOW_DAYS = 7  # the summary's analytics cover the last 7 days
LATEST_AUDIT_RECORDS = 5

SUMMARY_FAILED = "The account summary could not be loaded."
RUNWAY_NO_BALANCE = "Venice reports no USD balance for this account."
RUNWAY_NO_SPEND = "No USD was spent in the last 7 days, so there is no burn rate to project."
RUNWAY_BALANCE_FAILED = "The balance could not be loaded."
RUNWAY_USAGE_FAILED = "The last 7 days of usage could not be loaded."
RUNWAY_EMPTY = "The USD balance is used up."


@dataclass(frozen=True)
class BalancePanel:
    balance: Balance | None = None
    error: str = ""


@dataclass(frozen=True)
class DiemPanel:
    allocation: Decimal | None = None
    remaining: Decimal | None = None
    used: Decimal | None = None
    percent_used: int | None = None  # 0..100, for the meter
    average_daily_use: Decimal | None = None
    error: str = ""

    @property
    def level(self) -> str:
        """The meter's colour: ok below 75 %, warn below 90 %, danger above."""
        if self.percent_used is None or self.percent_used < 75:
            return "ok"
        return "warn" if self.percent_used < 90 else "danger"


@dataclass(frozen=True)
class RunwayPanel:
    """Days of USD balance left at the last 7 days' average spend."""

    days: Decimal | None = None
    until: datetime | None = None
    daily_burn: Decimal | None = None
    reason: str = ""  # why days is "—"
    error: str = ""


@dataclass(frozen=True)
class SpendPanel:
    """This month's spend so far, per currency, and where it is heading."""

    period: Period | None = None
    usd: Decimal | None = None
    diem: Decimal | None = None
    projection: Projection | None = None
    projection_note: str = ""
    error: str = ""


@dataclass(frozen=True)
class KeyCountsPanel:
    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class AttentionReason:
    text: str
    level: str  # badge: danger, warn or info


@dataclass(frozen=True)
class AttentionItem:
    key: APIKey
    reasons: tuple[AttentionReason, ...]


@dataclass(frozen=True)
class AttentionPanel:
    items: tuple[AttentionItem, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class LimitsPanel:
    status: RateLimitStatus | None = None
    error: str = ""


@dataclass(frozen=True)
class AuditPanel:
    records: tuple = ()
    error: str = ""


@dataclass(frozen=True)
class Dashboard:
    """Each panel is None when the viewer's role may not see it."""

    balance: BalancePanel | None
    diem: DiemPanel | None
    runway: RunwayPanel | None
    spend: SpendPanel | None
    key_counts: KeyCountsPanel
    attention: AttentionPanel
    limits: LimitsPanel | None
    audit: AuditPanel | None


def dashboard_build(*, user, now: datetime | None = None) -> Dashboard:
    """Fetch the account summary and cut it into the panels `user` may see. For billing
    roles, this month's analytics are read alongside the summary (in parallel: the page waits
    for the slower of the two, not their sum)."""
    now = now or timezone.now()
    spend = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        if user.has_perm(Ability.VIEW_BILLING.permission):
            spend = pool.submit(_spend_panel)
        summary = _summary()
        board = dashboard_from_summary(summary=summary, user=user, now=now)
        if spend is not None:
            board = replace(board, spend=spend.result())
    return board


def _summary() -> AccountSummary:
    try:
        return get_client().account.get_account_summary()
    except VeniceError as error:
        # The summary reports per-part failures itself; this is the whole call failing.
        return AccountSummary(
            balance=None,
            rate_limits=None,
            api_keys=None,
            usage=None,
            rate_limit_status=None,
            errors={
                part: error
                for part in ("balance", "rate_limits", "api_keys", "usage", "rate_limit_status")
            },
        )


def _spend_panel() -> SpendPanel:
    """Month to date in Venice's days, with the month-end projection Billing shows."""
    client = get_client()
    now = client.now()
    period = period_for_preset(THIS_MONTH, today=now.date())
    try:
        analytics = client.billing.get_usage_analytics(start=period.start, end=period.end)
    except VeniceError as error:
        return SpendPanel(period=period, error=error.user_message)
    usd = sum((day.usd for day in analytics.by_date), Decimal(0))
    diem = sum((day.diem for day in analytics.by_date), Decimal(0))
    projection = project_month(now=now, spent_usd=usd, spent_diem=diem)
    return SpendPanel(
        period=period,
        usd=usd,
        diem=diem,
        projection=projection,
        projection_note="" if projection else TOO_EARLY_TO_PROJECT,
    )


def dashboard_from_summary(*, summary: AccountSummary, user, now: datetime) -> Dashboard:
    may = user.has_perm
    billing = may(Ability.VIEW_BILLING.permission)
    return Dashboard(
        balance=_balance_panel(summary) if billing else None,
        diem=_diem_panel(summary) if billing else None,
        runway=_runway_panel(summary, now) if billing else None,
        spend=None,  # dashboard_build adds it (its own upstream call)
        key_counts=_key_counts_panel(summary),
        attention=_attention_panel(summary, now, rotations_open_by_key()),
        limits=_limits_panel(summary) if may(Ability.VIEW_LIMITS.permission) else None,
        audit=_audit_panel() if may(Ability.VIEW_AUDIT.permission) else None,
    )


def _error(summary: AccountSummary, part: str) -> str:
    error = summary.errors.get(part)
    if error is not None:
        return error.user_message
    return SUMMARY_FAILED


def _balance_panel(summary: AccountSummary) -> BalancePanel:
    if summary.balance is None:
        return BalancePanel(error=_error(summary, "balance"))
    return BalancePanel(balance=summary.balance)


def _diem_panel(summary: AccountSummary) -> DiemPanel:
    balance = summary.balance
    if balance is None:
        return DiemPanel(error=_error(summary, "balance"))
    allocation = balance.diem_epoch_allocation
    average = None
    if summary.usage is not None:
        average = _spent(summary.usage, "diem") / BURN_WINDOW_DAYS
    if balance.diem is None or not allocation:
        # Not staking: there is no allocation to meter.
        return DiemPanel(allocation=allocation or None, average_daily_use=average)
    used = max(allocation - balance.diem, Decimal(0))
    percent = int((used / allocation * 100).to_integral_value(ROUND_HALF_UP))
    return DiemPanel(
        allocation=allocation,
        remaining=balance.diem,
        used=used,
        percent_used=min(max(percent, 0), 100),
        average_daily_use=average,
    )


def _spent(usage: UsageAnalytics, currency: str) -> Decimal:
    # Analytics report spend as positive amounts; abs() keeps a ledger-style sign harmless.
    return sum((abs(getattr(day, currency)) for day in usage.by_date), Decimal(0))


def _runway_panel(summary: AccountSummary, now: datetime) -> RunwayPanel:
    balance = summary.balance
    if balance is None:
        return RunwayPanel(reason=RUNWAY_BALANCE_FAILED, error=_error(summary, "balance"))
    if balance.usd is None:
        return RunwayPanel(reason=RUNWAY_NO_BALANCE)
    if summary.usage is None:
        return RunwayPanel(reason=RUNWAY_USAGE_FAILED, error=_error(summary, "usage"))
    burn = _spent(summary.usage, "usd") / BURN_WINDOW_DAYS
    if burn <= 0:
        return RunwayPanel(reason=RUNWAY_NO_SPEND)
    if balance.usd <= 0:
        return RunwayPanel(days=Decimal(0), daily_burn=burn, until=now, reason=RUNWAY_EMPTY)
    days = balance.usd / burn
    shown = days.quantize(Decimal("1") if days >= 10 else Decimal("0.1"), ROUND_HALF_UP)
    return RunwayPanel(days=shown, daily_burn=burn, until=now + timedelta(days=float(days)))


def _key_counts_panel(summary: AccountSummary) -> KeyCountsPanel:
    if summary.api_keys is None:
        return KeyCountsPanel(error=_error(summary, "api_keys"))
    counts = Counter(key.api_key_type.value for key in summary.api_keys)
    return KeyCountsPanel(
        total=len(summary.api_keys),
        by_type={kind.value: counts.get(kind.value, 0) for kind in APIKeyType},
    )


def key_attention_reasons(
    key: APIKey, now: datetime, rotation: Rotation | None = None, traffic=None
) -> tuple[AttentionReason, ...]:
    """Why a key needs someone's attention: a rotation of it failed or is unfinished (with
    what its keys' traffic says, in grace), it expires soon (or has), it has gone unused, or
    nothing limits what it can spend."""
    reasons = []
    if rotation is not None:
        reasons.append(_rotation_reason(rotation, traffic))
    if key.expires_at is not None:
        left = key.expires_at - now
        if left <= timedelta(0):
            reasons.append(
                AttentionReason(f"Expired on {dates.day_prose(key.expires_at)}", "danger")
            )
        elif left <= EXPIRING_WITHIN:
            reasons.append(
                AttentionReason(
                    f"Expires {_in(left)} ({dates.prose(key.expires_at)})",
                    "danger" if left < timedelta(days=3) else "warn",
                )
            )
    if key.last_used_at is not None:
        idle = now - key.last_used_at
        if idle >= UNUSED_FOR:
            reasons.append(AttentionReason(f"Unused for {idle.days} days", "warn"))
    elif key.created_at is not None and now - key.created_at >= UNUSED_FOR:
        age = (now - key.created_at).days
        reasons.append(AttentionReason(f"Never used (created {age} days ago)", "warn"))
    if key.consumption_limits.is_unlimited:
        reasons.append(AttentionReason("No spending limit", "info"))
    return tuple(reasons)


def _rotation_reason(rotation: Rotation, traffic=None) -> AttentionReason:
    if rotation.state == RotationState.FAILED:
        return AttentionReason("Rotation failed: resume or abort it", "danger")
    if rotation.state == RotationState.GRACE and rotation.retire_at is not None:
        text = f"Rotated; old key retires {dates.prose(rotation.retire_at)}"
        if traffic is None:
            return AttentionReason(text, "info")
        level = "warn" if traffic.offer_extension else "info"
        return AttentionReason(f"{text}. {traffic.old_sentence}", level)
    return AttentionReason("Rotation unfinished", "warn")


def _in(left: timedelta) -> str:
    """`in 3 days`, `in 5 hours`: rounded to the nearest unit, so a key made to expire in
    three days does not read "in 2 days" a second later."""
    hours = left.total_seconds() / 3600
    if hours < 1:
        return "within the hour"
    if hours < 24:
        count = round(hours)
        return f"in {count} hour{'s' if count != 1 else ''}"
    count = round(hours / 24)
    return f"in {count} day{'s' if count != 1 else ''}"


_LEVEL_ORDER = {"danger": 0, "warn": 1, "info": 2}


def _attention_panel(
    summary: AccountSummary, now: datetime, open_rotations: dict[str, Rotation]
) -> AttentionPanel:
    if summary.api_keys is None:
        return AttentionPanel(error=_error(summary, "api_keys"))
    items = []
    keys_by_id = {key.id: key for key in summary.api_keys}
    for key in summary.api_keys:
        rotation = open_rotations.get(key.id)
        traffic = (
            rotation_traffic(rotation, keys=keys_by_id, now=now)
            if rotation is not None and rotation.state == RotationState.GRACE
            else None
        )
        reasons = key_attention_reasons(key, now, rotation, traffic)
        if reasons:
            items.append(AttentionItem(key=key, reasons=reasons))
    # Most urgent first: expired or about to expire, then idle keys, then unlimited ones.
    items.sort(
        key=lambda item: (
            min(_LEVEL_ORDER[r.level] for r in item.reasons),
            item.key.expires_at or datetime.max.replace(tzinfo=now.tzinfo),
            item.key.description.lower(),
        )
    )
    return AttentionPanel(items=tuple(items))


def _limits_panel(summary: AccountSummary) -> LimitsPanel:
    if summary.rate_limit_status is None:
        return LimitsPanel(error=_error(summary, "rate_limit_status"))
    return LimitsPanel(status=summary.rate_limit_status)


def _audit_panel() -> AuditPanel:
    page = audit_page(AuditFilters(), size=LATEST_AUDIT_RECORDS)
    return AuditPanel(records=tuple(page.events))
