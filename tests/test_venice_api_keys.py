"""client.api_keys against the sandbox: what each method sends and what it returns."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.sandbox.catalog import MODELS_BY_ID
from accounts.sandbox.rules import FAILED_REQUESTS_LIMIT
from accounts.venice import (
    UNSET,
    APIKey,
    APIKeyError,
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    ModelRateLimit,
    NotFoundError,
    RateLimitLog,
    RateLimits,
    RateLimitType,
    UpstreamUnavailableError,
    ValidationError,
)


def sent(sandbox, method, path):
    return [
        request for request in sandbox.received if (request.method, request.path) == (method, path)
    ]


def test_list_returns_every_active_key_typed(venice, sandbox):
    keys = venice.api_keys.list()

    assert keys and all(isinstance(key, APIKey) for key in keys)
    assert {key.id for key in keys} == set(sandbox.key_ids(include_expired=False))
    admin = next(key for key in keys if key.description == "Portal admin")
    assert admin.api_key_type is APIKeyType.ADMIN
    assert admin.last6 == sandbox.admin_key[-6:]
    assert admin.created_at.tzinfo is not None
    assert all(key.secret is None for key in keys)


def _at(ms):
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def test_every_key_answers_the_seeds_names_with_what_the_sandbox_holds(venice, sandbox):
    keys = venice.api_keys.list()

    assert any(key.rate_limits for key in keys) and any(key.last_used for key in keys)
    for key in keys:
        record = sandbox.find_key(key.id)
        assert key.name == record.description and key.description == key.name
        assert key.permissions == {"type": record.api_key_type}
        assert key.created_at == _at(record.created_ms) and isinstance(key.created_at, datetime)
        assert key.last_used == _at(record.last_used_ms)
        assert key.is_active is True  # Venice lists only keys that still work
        assert key.api_key is None  # the secret comes only from create
        if record.usd is None and record.diem is None:
            assert key.rate_limits is None
        else:
            assert key.rate_limits == {
                "usd": None if record.usd is None else Decimal(str(record.usd)),
                "diem": None if record.diem is None else Decimal(str(record.diem)),
                "limit_period": record.limit_period,
            }


def test_a_key_past_its_expiry_is_not_active(venice):
    key = venice.api_keys.create("Brief", expires_in_days=1)
    assert key.is_active

    expired = replace(key, expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert expired.is_active is False


def test_get_returns_one_key_and_none_for_an_unknown_id(venice):
    first = venice.api_keys.list()[0]

    assert venice.api_keys.get(first.id) == first
    assert venice.api_keys.get("no-such-key") is None
    assert venice.api_keys.get("") is None


def test_create_sends_every_field_and_returns_the_secret_once(venice, sandbox):
    expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    key = venice.api_keys.create(
        "Batch jobs",
        api_key_type=APIKeyType.INFERENCE,
        consumption_limits=ConsumptionLimits(usd=Decimal("12.50"), diem=Decimal(3)),
        limit_period=LimitPeriod.LIFETIME,
        model_privacy=ModelPrivacy.PRIVATE_TEXT,
        expires_at=expires,
    )

    [request] = sent(sandbox, "POST", "/api_keys")
    assert request.json == {
        "apiKeyType": "INFERENCE",
        "description": "Batch jobs",
        "consumptionLimit": {"usd": 12.5, "diem": 3},
        "limitPeriod": "LIFETIME",
        "modelPrivacy": "PRIVATE_TEXT",
        "expiresAt": "2031-05-06T07:08:09.123Z",
    }
    assert key.secret and sandbox.find_key(key.secret).id == key.id
    assert key.last6 == key.secret[-6:]
    assert key.created_at is None
    assert key.expires_at == datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert key.consumption_limits == ConsumptionLimits(usd=Decimal("12.5"), diem=Decimal(3))
    assert key.limit_period is LimitPeriod.LIFETIME
    assert key.secret not in repr(key)


def test_create_with_a_date_expiry_sends_the_date_pattern(venice, sandbox):
    venice.api_keys.create("Short lived", expires_at=date(2031, 1, 2))

    [request] = sent(sandbox, "POST", "/api_keys")
    assert request.json["expiresAt"] == "2031-01-02"
    assert "consumptionLimit" not in request.json  # not given: not sent


def test_the_seeds_create_with_name_and_admin_permissions_makes_an_admin_key(venice, sandbox):
    key = venice.api_keys.create(name="Ops admin", permissions=["admin"])

    [request] = sent(sandbox, "POST", "/api_keys")
    assert request.json == {"apiKeyType": "ADMIN", "description": "Ops admin"}
    assert key.is_admin and key.name == "Ops admin" and key.permissions == {"type": "ADMIN"}


def test_the_seeds_other_permissions_make_an_inference_key_and_are_not_sent(venice, sandbox):
    key = venice.api_keys.create(name="My New Key", permissions=["read", "write"])

    [request] = sent(sandbox, "POST", "/api_keys")
    assert request.json == {"apiKeyType": "INFERENCE", "description": "My New Key"}
    assert key.permissions == {"type": "INFERENCE"}
    assert key.api_key == key.secret and sandbox.find_key(key.api_key).id == key.id


def test_the_seeds_expires_in_days_is_sent_as_an_expiry_that_many_days_ahead(
    venice, sandbox, venice_clock
):
    key = venice.api_keys.create(name="Fortnight", expires_in_days=14)

    [request] = sent(sandbox, "POST", "/api_keys")
    now = datetime.fromtimestamp(venice_clock(), UTC)
    expected = now + timedelta(days=14)
    assert abs(key.expires_at - expected) < timedelta(milliseconds=1)
    assert request.json["expiresAt"].endswith("Z")


def test_create_refuses_contradictory_or_missing_arguments(venice):
    with pytest.raises(ValueError):
        venice.api_keys.create()
    with pytest.raises(ValueError):
        venice.api_keys.create("x", api_key_type="ADMIN", permissions=["read"])
    with pytest.raises(ValueError):
        venice.api_keys.create("x", expires_at=datetime(2031, 1, 1))  # naive
    with pytest.raises(ValueError):
        venice.api_keys.create("x", expires_at=date(2031, 1, 1), expires_in_days=3)


def test_create_is_never_retried_and_an_ambiguous_failure_says_the_request_was_sent(
    venice, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)
    before = len(sandbox.key_ids())

    with pytest.raises(UpstreamUnavailableError) as failure:
        venice.api_keys.create("Maybe created")

    assert failure.value.request_sent is True
    assert isinstance(failure.value, APIKeyError)
    assert len(sent(sandbox, "POST", "/api_keys")) == 1
    # The key was in fact created: the keys service must reconcile, not create again.
    assert len(sandbox.key_ids()) == before + 1
    assert any(key.description == "Maybe created" for key in venice.api_keys.list())


def test_a_create_that_never_left_says_so(venice, sandbox):
    sandbox.faults.inject("/api_keys", "POST", timeout="before", times=1)

    with pytest.raises(UpstreamUnavailableError) as failure:
        venice.api_keys.create("Never sent")

    assert failure.value.request_sent is False
    assert not any(key.description == "Never sent" for key in venice.api_keys.list())


def test_update_sends_only_the_given_fields_with_patch(venice, sandbox):
    key = venice.api_keys.create("Before")
    updated = venice.api_keys.update(
        key.id,
        description="After",
        consumption_limits=ConsumptionLimits(usd=Decimal(40)),
        model_privacy=ModelPrivacy.PRIVATE_ONLY,
    )

    [request] = sent(sandbox, "PATCH", "/api_keys")
    assert request.json == {
        "id": key.id,
        "description": "After",
        "consumptionLimit": {"usd": 40, "diem": None},
        "modelPrivacy": "PRIVATE_ONLY",
    }
    assert updated.description == "After"
    assert updated.consumption_limits.usd == Decimal(40)
    assert updated.model_privacy is ModelPrivacy.PRIVATE_ONLY
    assert updated.limit_period is key.limit_period  # untouched


def test_update_sets_and_clears_the_expiry(venice, sandbox, venice_clock):
    key = venice.api_keys.create("Expiring")
    when = datetime.fromtimestamp(venice_clock(), UTC).replace(microsecond=0) + timedelta(days=3)

    assert venice.api_keys.update(key.id, expires_at=when).expires_at == when
    cleared = venice.api_keys.update(key.id, expires_at=None)

    first, second = sent(sandbox, "PATCH", "/api_keys")
    assert first.json["expiresAt"].endswith(".000Z")
    assert second.json == {"id": key.id, "expiresAt": None}
    assert cleared.expires_at is None


def test_the_seeds_update_with_name_renames_the_key(venice, sandbox):
    key = venice.api_keys.create("Before")

    updated = venice.api_keys.update(key.id, name="Updated Name")

    [request] = sent(sandbox, "PATCH", "/api_keys")
    assert request.json == {"id": key.id, "description": "Updated Name"}
    assert updated.name == "Updated Name"


def test_update_refuses_new_permissions_before_sending_anything(venice, sandbox):
    key = venice.api_keys.create("Fixed type")

    with pytest.raises(APIKeyError, match="cannot change a key's type"):
        venice.api_keys.update(key.id, name="x", permissions=["admin"])
    with pytest.raises(ValueError):
        venice.api_keys.update(key.id, name="x", description="y")
    assert sent(sandbox, "PATCH", "/api_keys") == []


def test_update_of_an_unknown_key_raises_not_found(venice):
    with pytest.raises(NotFoundError) as failure:
        venice.api_keys.update("no-such-key", description="x", limit_period=UNSET)
    assert isinstance(failure.value, APIKeyError)


def test_delete_removes_the_key_and_says_false_for_an_unknown_one(venice, sandbox):
    key = venice.api_keys.create("Doomed")

    assert venice.api_keys.delete(key.id) is True
    assert key.id not in sandbox.key_ids()
    [request] = sent(sandbox, "DELETE", "/api_keys")
    assert request.query == {"id": [key.id]}
    assert venice.api_keys.delete(key.id) is False


def test_a_delete_retried_after_a_timeout_that_finds_no_key_has_deleted_it(venice, sandbox):
    key = venice.api_keys.create("Deleted on the first try")
    sandbox.faults.inject("/api_keys", "DELETE", timeout="after", times=1)

    assert venice.api_keys.delete(key.id) is True
    assert len(sent(sandbox, "DELETE", "/api_keys")) == 2
    assert key.id not in sandbox.key_ids()


def test_a_too_long_description_is_a_validation_error_with_field_errors(venice):
    with pytest.raises(ValidationError) as failure:
        venice.api_keys.create("x" * 65)

    assert "description" in failure.value.field_errors
    assert failure.value.status == 400
    assert isinstance(failure.value, APIKeyError)


def test_rate_limits_report_the_tier_and_per_model_limits(venice):
    limits = venice.api_keys.get_rate_limits()

    assert isinstance(limits, RateLimits)
    assert limits.tier_id == "paid"
    assert limits.models and all(model.limits for model in limits.models)
    assert all(isinstance(value, Decimal) for value in limits.models[0].limits.values())
    assert limits.next_epoch_begins.tzinfo is not None


def test_the_rate_limit_log_is_newest_first_and_can_be_limited(venice, sandbox):
    sandbox.record_rate_limit_violation(sandbox.inference_key, kind="TPM")
    log = venice.api_keys.get_rate_limits_log()

    assert all(isinstance(entry, RateLimitLog) for entry in log)
    assert log == sorted(log, key=lambda entry: entry.timestamp, reverse=True)
    assert log[0].rate_limit_type is RateLimitType.TPM
    assert venice.api_keys.get_rate_limits_log(limit=1) == log[:1]


def test_the_seeds_rate_limit_figures_are_llama_3_3_70bs_as_venice_reports_them(venice):
    limits = venice.api_keys.get_rate_limits()
    llama = MODELS_BY_ID["llama-3.3-70b"]

    assert limits.sdk_model_id == "llama-3.3-70b"
    assert limits.limits_for("llama-3.3-70b").limits["RPM"] == llama.rpm
    assert (limits.requests_per_minute, limits.requests_per_day) == (llama.rpm, llama.rpd)
    assert limits.tokens_per_minute == llama.tpm
    # Derived: Venice has no hourly limits, nor (here) a daily token limit.
    assert limits.requests_per_hour == min(60 * llama.rpm, llama.rpd)
    assert limits.tokens_per_hour == 60 * llama.tpm
    assert limits.tokens_per_day == 1440 * llama.tpm
    assert limits.error_rate_limit == FAILED_REQUESTS_LIMIT


def test_the_current_usage_is_the_request_budget_venices_headers_reported(venice, sandbox):
    venice.api_keys.list()
    venice.billing.get_balance()

    limits = venice.api_keys.get_rate_limits()

    [exchange] = [e for e in sandbox.exchanges if e.path == "/api_keys/rate_limits"]
    headers = {name.lower(): value for name, value in exchange.response.headers.items()}
    limit = int(headers["x-ratelimit-limit-requests"])
    remaining = int(headers["x-ratelimit-remaining-requests"])
    assert limits.current_usage == {
        "requests": limit - remaining,
        "requests_remaining": remaining,
        "requests_limit": limit,
    }
    assert limits.current_usage["requests"] >= 2  # the two calls before it, at least
    reset = int(headers["x-ratelimit-reset-requests"])
    assert limits.reset_time == datetime.fromtimestamp(reset, UTC)


def _limits(*models: tuple[str, dict]) -> RateLimits:
    return RateLimits(
        access_permitted=True,
        tier_id="paid",
        tier_is_charged=True,
        balance_usd=None,
        balance_diem=None,
        key_expiration=None,
        next_epoch_begins=None,
        models=tuple(
            ModelRateLimit(model_id=name, limits={k: Decimal(v) for k, v in limits.items()})
            for name, limits in models
        ),
    )


def test_without_llama_the_figures_are_the_first_listed_models_and_say_so():
    limits = _limits(("image-model", {"RPM": 20, "RPD": 500}), ("other", {"RPM": 90}))

    assert limits.sdk_model_id == "image-model"
    assert limits.requests_per_minute == 20
    assert limits.requests_per_hour == 500  # the daily limit is the tighter bound
    assert limits.tokens_per_minute is None and limits.tokens_per_day is None
    assert limits.tokens_per_hour is None


def test_a_reported_daily_token_limit_is_used_and_bounds_the_hour():
    limits = _limits(("llama-3.3-70b", {"RPM": 50, "TPM": 1000, "TPD": 30000}))

    assert limits.tokens_per_day == 30000
    assert limits.tokens_per_hour == 30000  # below 60 × 1000


def test_with_no_models_listed_no_figure_is_made_up():
    limits = _limits()

    assert limits.sdk_model_id is None
    assert limits.requests_per_minute is None and limits.requests_per_hour is None
    assert limits.current_usage == {} and limits.reset_time is None


def test_a_log_entry_answers_the_seeds_names_from_what_venice_logs(venice, sandbox):
    sandbox.record_rate_limit_violation(sandbox.inference_key, model="qwen3-4b", kind="TPM")

    [entry] = venice.api_keys.get_rate_limits_log(limit=1)

    assert entry.error_type == "TPM" and entry.endpoint == "qwen3-4b" == entry.model_id
    assert entry.status_code == 429
    assert entry.response_time is None and entry.tokens_used is None  # Venice logs neither
