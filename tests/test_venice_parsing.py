"""The parsers on the spec's own examples, and on bodies that break the spec."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from accounts.venice import (
    APIKeyType,
    ConsumptionLimits,
    Currency,
    LimitPeriod,
    ModelPrivacy,
    RateLimitType,
)
from accounts.venice.parsing import (
    ResponseFormatError,
    format_expires_at,
    format_limits,
    format_timestamp,
    parse_balance,
    parse_created_key,
    parse_key_detail,
    parse_key_list,
    parse_rate_limit_log,
    parse_rate_limits,
    parse_usage_analytics,
    parse_usage_page,
)


def body(data):
    """As the transport decodes it: floats as Decimal."""
    return json.loads(json.dumps(data), parse_float=Decimal)


KEY = {
    "apiKeyType": "ADMIN",
    "consumptionLimits": {"usd": 50, "diem": 10.5, "vcu": 30},
    "limitPeriod": "MONTH",
    "modelPrivacy": "ALL",
    "createdAt": "2023-10-01T12:00:00.000Z",
    "description": "Example API Key",
    "expiresAt": None,
    "id": "e28e82dc-9df2-4b47-b726-d0a222ef2ab5",
    "last6Chars": "2V2jNW",
    "lastUsedAt": "2023-10-02T08:30:00+02:00",
    "usage": {"trailingSevenDays": {"usd": "10.2424", "vcu": "42.2315", "diem": "4.2231"}},
    "currentPeriodUsage": {"usd": "5.1234", "diem": "2.5000"},
    "someFieldVeniceAddsLater": {"nested": True},
}


def test_a_key_parses_into_typed_values():
    [key] = parse_key_list(body({"object": "list", "data": [KEY]}))

    assert key.id == "e28e82dc-9df2-4b47-b726-d0a222ef2ab5"
    assert key.api_key_type is APIKeyType.ADMIN and key.is_admin
    assert key.permissions == {"type": "ADMIN"}
    assert key.name == key.description == "Example API Key"
    assert key.last6 == "2V2jNW"
    assert key.created_at == datetime(2023, 10, 1, 12, tzinfo=UTC)
    assert key.last_used_at == datetime(2023, 10, 2, 6, 30, tzinfo=UTC)
    assert key.last_used_at.tzinfo is not None
    assert key.expires_at is None
    assert key.consumption_limits == ConsumptionLimits(usd=Decimal(50), diem=Decimal("10.5"))
    assert key.limit_period is LimitPeriod.MONTH
    assert key.model_privacy is ModelPrivacy.ALL
    assert key.trailing_seven_days.usd == Decimal("10.2424")
    assert key.current_period_usage.diem == Decimal("2.5000")
    assert key.secret is None


def test_a_key_without_limits_or_usage_has_none():
    data = dict(KEY, consumptionLimits={}, apiKeyType="INFERENCE")
    del data["usage"], data["currentPeriodUsage"]
    key = parse_key_detail(body({"data": data}))

    assert key.consumption_limits.is_unlimited
    assert key.trailing_seven_days is None and key.current_period_usage is None
    assert key.permissions == {"type": "INFERENCE"}


@pytest.mark.parametrize("field", ["id", "apiKeyType", "last6Chars", "createdAt", "limitPeriod"])
def test_a_missing_required_key_field_is_a_format_error(field):
    data = dict(KEY)
    del data[field]
    with pytest.raises(ResponseFormatError, match=f"missing field body.data\\[0\\].{field}"):
        parse_key_list(body({"data": [data]}))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("apiKeyType", "SUPERUSER", "unknown value"),
        ("createdAt", "yesterday", "not an ISO 8601 timestamp"),
        ("consumptionLimits", {"usd": True}, "not a number"),
        ("id", 42, "not a string"),
    ],
)
def test_a_wrongly_typed_key_field_is_a_format_error(field, value, message):
    with pytest.raises(ResponseFormatError, match=message):
        parse_key_detail(body({"data": dict(KEY, **{field: value})}))


def test_a_body_that_is_not_an_object_is_a_format_error():
    with pytest.raises(ResponseFormatError, match="body is not an object"):
        parse_key_list(body([KEY]))


def test_the_created_key_carries_its_secret_and_takes_last6_from_it():
    created = {
        "data": {
            "apiKey": "VENICE-ADMIN-KEY-abcdef123456",
            "apiKeyType": "INFERENCE",
            "consumptionLimit": {"usd": 25, "diem": None},
            "limitPeriod": "EPOCH",
            "modelPrivacy": "PRIVATE_ONLY",
            "description": "CI",
            "expiresAt": "2030-01-01T00:00:00.000Z",
            "id": "k1",
        },
        "success": True,
    }
    key = parse_created_key(body(created), sent_description="CI")

    assert key.secret == "VENICE-ADMIN-KEY-abcdef123456"
    assert key.last6 == "123456"
    assert key.created_at is None
    assert key.consumption_limits == ConsumptionLimits(usd=Decimal(25))
    assert key.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert "abcdef123456" not in repr(key)


def test_rate_limits_parse_per_model_limits():
    limits = parse_rate_limits(
        body(
            {
                "data": {
                    "accessPermitted": True,
                    "apiTier": {"id": "paid", "isCharged": True},
                    "balances": {"USD": 50.23, "DIEM": 100.023},
                    "keyExpiration": None,
                    "nextEpochBegins": "2025-05-07T00:00:00.000Z",
                    "rateLimits": [
                        {
                            "apiModelId": "zai-org-glm-5-1",
                            "rateLimits": [
                                {"amount": 100, "type": "RPM"},
                                {"amount": 10000, "type": "RPD"},
                            ],
                        }
                    ],
                }
            }
        )
    )

    assert limits.access_permitted and limits.tier_id == "paid" and limits.tier_is_charged
    assert limits.balance_usd == Decimal("50.23")
    assert limits.next_epoch_begins == datetime(2025, 5, 7, tzinfo=UTC)
    assert limits.models[0].model_id == "zai-org-glm-5-1"
    assert limits.models[0].limits == {"RPM": Decimal(100), "RPD": Decimal(10000)}


def test_the_rate_limit_log_parses_enums_and_times():
    [entry] = parse_rate_limit_log(
        body(
            {
                "object": "list",
                "data": [
                    {
                        "apiKeyId": "k1",
                        "modelId": "zai-org-glm-5-1",
                        "rateLimitTier": "paid",
                        "rateLimitType": "FAILED_REQUESTS",
                        "timestamp": "2023-10-01T12:00:00Z",
                    }
                ],
            }
        )
    )
    assert entry.rate_limit_type is RateLimitType.FAILED_REQUESTS
    assert entry.timestamp == datetime(2023, 10, 1, 12, tzinfo=UTC)


def test_the_balance_keeps_money_exact_and_nulls_as_none():
    balance = parse_balance(
        body(
            {
                "canConsume": True,
                "consumptionCurrency": "DIEM",
                "balances": {"diem": 90.5, "usd": None},
                "diemEpochAllocation": 100,
            }
        )
    )
    assert balance.consumption_currency is Currency.DIEM
    assert balance.diem == Decimal("90.5") and isinstance(balance.diem, Decimal)
    assert balance.usd is None
    assert balance.diem_epoch_allocation == Decimal(100)


def test_usage_analytics_parse_the_spec_example():
    analytics = parse_usage_analytics(
        body(
            {
                "lookback": "7d",
                "byDate": [
                    {"date": "2024-01-15", "USD": 0.5, "DIEM": 10.25},
                    {"date": "2024-01-14", "USD": 0.3, "DIEM": 8.75},
                ],
                "byModel": [
                    {
                        "modelName": "GLM 5.1",
                        "unitType": "tokens",
                        "modelType": "LLM",
                        "totalUsd": 0.4,
                        "totalDiem": 12.5,
                        "totalUnits": 50000,
                        "breakdown": [
                            {"type": "Output", "usd": 0.3, "diem": 10, "units": 35000},
                            {"type": "Input", "usd": 0.1, "diem": 2.5, "units": 15000},
                        ],
                    }
                ],
                "byModelDaily": [{"date": 1705276800000, "GLM 5.1": 5.5, "Kimi K2.6": 3.2}],
                "topModels": ["GLM 5.1", "Kimi K2.6"],
                "byKey": [
                    {
                        "apiKeyId": None,
                        "description": "Web App",
                        "totalUsd": 0,
                        "totalDiem": 4,
                        "totalUnits": 25000,
                    }
                ],
                "byKeyDaily": [{"date": 1705276800000, "Web App": 2}],
                "topKeyNames": ["Web App"],
            }
        )
    )
    assert analytics.total_usd == Decimal("0.8")  # exact: 0.5 + 0.3, no float dust
    assert analytics.total_diem == Decimal("19.00")
    assert analytics.by_date[0].date == date(2024, 1, 15)
    assert analytics.by_model[0].breakdown[1].type == "Input"
    assert analytics.by_model_daily[0].date == date(2024, 1, 15)
    assert analytics.by_model_daily[0].values == {
        "GLM 5.1": Decimal("5.5"),
        "Kimi K2.6": Decimal("3.2"),
    }
    assert analytics.by_key[0].api_key_id is None


def test_a_usage_page_parses_entries_and_the_cursor():
    page = parse_usage_page(
        body(
            {
                "data": [
                    {
                        "amount": -0.06356,
                        "currency": "DIEM",
                        "inferenceDetails": {
                            "completionTokens": 227,
                            "inferenceExecutionTime": 2964,
                            "promptTokens": 339,
                            "requestId": "chatcmpl-4007",
                        },
                        "notes": "API Inference",
                        "pricePerUnitUsd": 2.8,
                        "sku": "zai-org-glm-5-1-llm-output-mtoken",
                        "timestamp": "2026-06-15T19:05:10.504Z",
                        "units": 0.000227,
                    },
                    {
                        "amount": -0.1,
                        "currency": "USD",
                        "inferenceDetails": None,
                        "notes": "API Inference",
                        "pricePerUnitUsd": 0.1,
                        "sku": "image-unit",
                        "timestamp": "2026-06-16T00:00:00Z",
                        "units": 1,
                    },
                ],
                "nextCursor": "AZq3fK9t",
            }
        )
    )
    first, second = page.entries
    assert first.amount == Decimal("-0.06356") and first.prompt_tokens == 339
    assert first.inference_execution_ms == 2964 and first.request_id == "chatcmpl-4007"
    assert second.prompt_tokens is None and second.currency is Currency.USD
    assert page.next_cursor == "AZq3fK9t"

    assert parse_usage_page(body({"data": [], "nextCursor": None})).next_cursor is None


def test_expiry_is_sent_in_the_spec_patterns():
    assert format_expires_at(date(2030, 1, 2)) == "2030-01-02"
    aware = datetime(2030, 1, 2, 3, 4, 5, 678999, tzinfo=timezone(timedelta(hours=2)))
    assert format_expires_at(aware) == "2030-01-02T01:04:05.678Z"
    assert format_timestamp(datetime(2026, 6, 1, tzinfo=UTC)) == "2026-06-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_expires_at(datetime(2030, 1, 2, 3, 4))


def test_limits_are_sent_as_json_numbers_and_none_clears():
    assert format_limits(ConsumptionLimits(usd=Decimal("12.50"), diem=None)) == {
        "usd": 12.5,
        "diem": None,
    }
    assert format_limits(ConsumptionLimits(usd=Decimal(100), diem=Decimal(3))) == {
        "usd": 100,
        "diem": 3,
    }
    with pytest.raises(ValueError):
        format_limits(ConsumptionLimits(usd=Decimal(-1)))
