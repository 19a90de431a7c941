"""accounts/services/dashboard.py: cutting an account summary into panels, per role."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.roles import ADMINISTRATOR, AUDITOR, KEY_MANAGER
from accounts.services.dashboard import (
    RUNWAY_BALANCE_FAILED,
    RUNWAY_EMPTY,
    RUNWAY_NO_BALANCE,
    RUNWAY_NO_SPEND,
    dashboard_build,
    dashboard_from_summary,
    key_attention_reasons,
)
from accounts.venice import (
    AccountSummary,
    APIKey,
    APIKeyType,
    Balance,
    ConsumptionLimits,
    Currency,
    DailyUsage,
    LimitPeriod,
    ModelPrivacy,
    UpstreamUnavailableError,
    UsageAnalytics,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
D = Decimal


def _key(**fields) -> APIKey:
    values = {
        "id": "key-1",
        "description": "A key",
        "api_key_type": APIKeyType.INFERENCE,
        "last6": "abc123",
        "created_at": NOW - timedelta(days=100),
        "expires_at": None,
        "last_used_at": NOW - timedelta(hours=1),
        "consumption_limits": ConsumptionLimits(usd=D(10)),
        "limit_period": LimitPeriod.MONTH,
        "model_privacy": ModelPrivacy.ALL,
    }
    values.update(fields)
    return APIKey(**values)


def _usage(usd_per_day: str, diem_per_day: str = "0") -> UsageAnalytics:
    days = [
        DailyUsage(
            date=date(2026, 11, 19) + timedelta(days=i), usd=D(usd_per_day), diem=D(diem_per_day)
        )
        for i in range(7)
    ]
    return UsageAnalytics(
        lookback="7d",
        by_date=tuple(days),
        by_model=(),
        by_model_daily=(),
        top_models=(),
        by_key=(),
        by_key_daily=(),
        top_key_names=(),
    )


def _balance(usd="100", diem="15", allocation="25") -> Balance:
    return Balance(
        can_consume=True,
        consumption_currency=Currency.DIEM,
        usd=None if usd is None else D(usd),
        diem=None if diem is None else D(diem),
        diem_epoch_allocation=D(allocation),
    )


def _summary(**parts) -> AccountSummary:
    values = {
        "balance": _balance(),
        "rate_limits": None,
        "api_keys": (),
        "usage": _usage("4"),
        "rate_limit_status": None,
        "errors": {},
    }
    values.update(parts)
    return AccountSummary(**values)


def _texts(key) -> list[str]:
    return [reason.text for reason in key_attention_reasons(key, NOW)]


# --- keys needing attention ---------------------------------------------------------------------


def test_a_healthy_key_needs_no_attention():
    assert _texts(_key()) == []


def test_a_key_expiring_within_14_days_needs_attention():
    reasons = key_attention_reasons(_key(expires_at=NOW + timedelta(days=9)), NOW)
    assert [(r.text, r.level) for r in reasons] == [
        ("Expires in 9 days (Dec 4, 2026, 12:00 UTC)", "warn")  # prose: the one prose format
    ]


def test_a_key_expiring_within_three_days_is_urgent_and_rounded_not_truncated():
    reasons = key_attention_reasons(_key(expires_at=NOW + timedelta(days=3, seconds=-5)), NOW)
    assert reasons[0].text.startswith("Expires in 3 days")
    assert reasons[0].level == "danger"
    hours = key_attention_reasons(_key(expires_at=NOW + timedelta(minutes=90)), NOW)
    assert hours[0].text.startswith("Expires in 2 hours")


def test_a_key_expiring_in_15_days_is_not_yet_listed():
    assert _texts(_key(expires_at=NOW + timedelta(days=15))) == []


def test_an_expired_key_is_listed_as_expired():
    assert _texts(_key(expires_at=NOW - timedelta(days=1))) == ["Expired on Nov 24, 2026"]


def test_a_key_unused_for_30_days_needs_attention():
    assert _texts(_key(last_used_at=NOW - timedelta(days=30))) == ["Unused for 30 days"]
    assert _texts(_key(last_used_at=NOW - timedelta(days=29))) == []


def test_a_key_never_used_needs_attention_once_a_month_old():
    assert _texts(_key(last_used_at=None, created_at=NOW - timedelta(days=45))) == [
        "Never used (created 45 days ago)"
    ]
    assert _texts(_key(last_used_at=None, created_at=NOW - timedelta(days=3))) == []


def test_a_key_without_spending_limits_needs_attention():
    assert _texts(_key(consumption_limits=ConsumptionLimits())) == ["No spending limit"]


def test_attention_lists_the_most_urgent_keys_first(admin_user):
    keys = (
        _key(id="a", description="Unlimited", consumption_limits=ConsumptionLimits()),
        _key(id="b", description="Idle", last_used_at=NOW - timedelta(days=40)),
        _key(id="c", description="Expiring", expires_at=NOW + timedelta(hours=5)),
        _key(id="d", description="Fine"),
    )
    board = dashboard_from_summary(summary=_summary(api_keys=keys), user=admin_user, now=NOW)
    assert [item.key.description for item in board.attention.items] == [
        "Expiring",
        "Idle",
        "Unlimited",
    ]
    assert board.key_counts.total == 4
    assert board.key_counts.by_type == {"INFERENCE": 4, "ADMIN": 0}


# --- days of balance left -----------------------------------------------------------------------


def _runway(admin_user, **parts):
    return dashboard_from_summary(summary=_summary(**parts), user=admin_user, now=NOW).runway


def test_days_left_is_the_usd_balance_over_the_weeks_average_spend(admin_user):
    runway = _runway(admin_user, balance=_balance(usd="100"), usage=_usage("4"))
    assert runway.days == D(25)
    assert runway.daily_burn == D(4)
    assert runway.until == NOW + timedelta(days=25)
    assert runway.reason == ""


def test_fewer_than_ten_days_keep_one_decimal(admin_user):
    assert _runway(admin_user, balance=_balance(usd="10"), usage=_usage("3")).days == D("3.3")


def test_days_left_is_a_dash_with_a_reason_when_nothing_was_spent(admin_user):
    runway = _runway(admin_user, usage=_usage("0", diem_per_day="5"))
    assert runway.days is None
    assert runway.reason == RUNWAY_NO_SPEND


def test_days_left_is_a_dash_when_venice_reports_no_usd_balance(admin_user):
    runway = _runway(admin_user, balance=_balance(usd=None))
    assert runway.days is None
    assert runway.reason == RUNWAY_NO_BALANCE


def test_days_left_is_zero_when_the_balance_is_used_up(admin_user):
    runway = _runway(admin_user, balance=_balance(usd="0"))
    assert runway.days == 0
    assert runway.reason == RUNWAY_EMPTY


def test_a_failed_balance_blanks_the_money_panels_with_its_message(admin_user):
    error = UpstreamUnavailableError("Venice is unavailable (HTTP 503).", status=503)
    board = dashboard_from_summary(
        summary=_summary(balance=None, errors={"balance": error}), user=admin_user, now=NOW
    )
    assert board.balance.error == error.user_message
    assert board.diem.error == error.user_message
    assert board.runway.error == error.user_message
    assert board.runway.reason == RUNWAY_BALANCE_FAILED
    assert board.key_counts.error == ""


# --- DIEM meter ---------------------------------------------------------------------------------


def test_the_diem_meter_shows_the_share_of_the_epoch_allocation_used(admin_user):
    board = dashboard_from_summary(
        summary=_summary(balance=_balance(diem="5", allocation="25"), usage=_usage("0", "14")),
        user=admin_user,
        now=NOW,
    )
    assert board.diem.used == D(20)
    assert board.diem.percent_used == 80
    assert board.diem.level == "warn"
    assert board.diem.average_daily_use == D(14)


def test_without_staking_there_is_no_meter(admin_user):
    board = dashboard_from_summary(
        summary=_summary(balance=_balance(diem=None, allocation="0")), user=admin_user, now=NOW
    )
    assert board.diem.percent_used is None
    assert board.diem.error == ""


# --- roles --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "money", "limits", "audit"),
    [
        (ADMINISTRATOR, True, True, True),
        (KEY_MANAGER, False, True, False),
        (AUDITOR, False, False, True),
    ],
)
def test_panels_a_role_may_not_see_are_not_built(user_with_role, role, money, limits, audit):
    board = dashboard_build(user=user_with_role(role))
    assert (board.balance is not None, board.runway is not None) == (money, money)
    assert (board.limits is not None) == limits
    assert (board.audit is not None) == audit
    assert board.key_counts.total > 0  # everyone sees the keys
