"""accounts/selectors/keys.py: flags, filters and sorting (pure functions, no I/O)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.selectors.keys import (
    KeyQuery,
    KeySort,
    KeyStatus,
    api_key_flags,
    api_key_rows,
    api_key_usage_meters,
)
from accounts.venice import (
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    UsageAmounts,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _key(description="Key", **overrides) -> APIKey:
    values = {
        "id": f"id-{description}",
        "description": description,
        "api_key_type": APIKeyType.INFERENCE,
        "last6": "abc123",
        "created_at": NOW - 100 * DAY,
        "expires_at": None,
        "last_used_at": NOW - DAY,
        "consumption_limits": ConsumptionLimits(usd=Decimal(10)),
        "limit_period": LimitPeriod.MONTH,
        "model_privacy": ModelPrivacy.ALL,
    }
    return APIKey(**{**values, **overrides})


def test_an_expired_key_is_expired_not_expiring():
    flags = api_key_flags(_key(expires_at=NOW - DAY), now=NOW)
    assert flags.expired and not flags.expiring_soon


def test_expiring_means_within_fourteen_days():
    assert api_key_flags(_key(expires_at=NOW + 14 * DAY), now=NOW).expiring_soon
    assert not api_key_flags(_key(expires_at=NOW + 15 * DAY), now=NOW).expiring_soon
    assert not api_key_flags(_key(expires_at=None), now=NOW).expiring_soon


def test_unused_counts_from_last_use_or_else_from_creation():
    assert api_key_flags(_key(last_used_at=NOW - 31 * DAY), now=NOW).unused
    assert not api_key_flags(_key(last_used_at=NOW - 29 * DAY), now=NOW).unused
    # Created last week and never used: new, not unused.
    assert not api_key_flags(_key(created_at=NOW - 7 * DAY, last_used_at=None), now=NOW).unused
    assert api_key_flags(_key(created_at=NOW - 40 * DAY, last_used_at=None), now=NOW).unused


def test_no_consumption_limit_and_admin_flags():
    flags = api_key_flags(
        _key(consumption_limits=ConsumptionLimits(), api_key_type=APIKeyType.ADMIN), now=NOW
    )
    assert flags.unlimited and flags.admin
    assert not api_key_flags(_key(), now=NOW).unlimited


def test_status_filters_over_keys_the_sandbox_never_lists():
    keys = [_key("Gone", expires_at=NOW - DAY), _key("Live")]
    expired = api_key_rows(keys, query=KeyQuery(status=KeyStatus.EXPIRED), now=NOW)
    active = api_key_rows(keys, query=KeyQuery(status=KeyStatus.ACTIVE), now=NOW)
    assert [row.key.description for row in expired] == ["Gone"]
    assert [row.key.description for row in active] == ["Live"]


def test_sorting_puts_missing_dates_where_they_mean_something():
    keys = [
        _key("Never used", last_used_at=None, expires_at=None),
        _key("Used", last_used_at=NOW - DAY, expires_at=NOW + DAY),
    ]
    by_use = api_key_rows(keys, query=KeyQuery(sort=KeySort.LAST_USED, descending=True), now=NOW)
    by_expiry = api_key_rows(keys, query=KeyQuery(sort=KeySort.EXPIRES, descending=False), now=NOW)
    assert [row.key.description for row in by_use] == ["Used", "Never used"]
    assert [row.key.description for row in by_expiry] == ["Used", "Never used"]


def test_search_is_case_insensitive_over_description_and_last_six():
    keys = [_key("Mobile App", last6="Zq9xY1"), _key("Backend", last6="000000")]
    assert len(api_key_rows(keys, query=KeyQuery(search="mobile"), now=NOW)) == 1
    assert len(api_key_rows(keys, query=KeyQuery(search="zq9x"), now=NOW)) == 1


def test_secret_lost_flag_comes_from_the_ids_given():
    rows = api_key_rows([_key("A"), _key("B")], query=KeyQuery(), now=NOW, secret_lost_ids={"id-B"})
    assert {row.key.description: row.flags.secret_lost for row in rows} == {"A": False, "B": True}


def test_usage_meters_only_for_currencies_with_a_limit():
    key = _key(
        consumption_limits=ConsumptionLimits(usd=Decimal(40), diem=None),
        current_period_usage=UsageAmounts(usd=Decimal(30), diem=Decimal(2)),
    )
    (meter,) = api_key_usage_meters(key)
    assert (meter.currency, meter.percent, meter.high) == ("usd", 75, Decimal(36))
    assert api_key_usage_meters(_key(current_period_usage=None)) == []
