"""Typed values the Venice client returns: never raw JSON.

Datetimes are timezone-aware (UTC), money is Decimal, enums are enums. Names keep the original
SDK design (`APIKey`, `UsageInfo`, `ModelUsage`, `RateLimits`, `RateLimitLog`); fields follow
the real API in spec/venice-account-api.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class APIKeyType(StrEnum):
    INFERENCE = "INFERENCE"
    ADMIN = "ADMIN"


class LimitPeriod(StrEnum):
    EPOCH = "EPOCH"  # resets every UTC day
    MONTH = "MONTH"  # resets on the 1st of each UTC month
    LIFETIME = "LIFETIME"  # never resets


class ModelPrivacy(StrEnum):
    ALL = "ALL"
    PRIVATE_TEXT = "PRIVATE_TEXT"
    PRIVATE_ONLY = "PRIVATE_ONLY"


class Currency(StrEnum):
    USD = "USD"
    DIEM = "DIEM"
    BUNDLED_CREDITS = "BUNDLED_CREDITS"
    VCU = "VCU"  # deprecated; only ever seen as a balance's consumption currency


class RateLimitType(StrEnum):
    RPD = "RPD"
    RPM = "RPM"
    TPM = "TPM"
    FAILED_REQUESTS = "FAILED_REQUESTS"
    UNSUPPORTED_FEATURE_REQUESTS = "UNSUPPORTED_FEATURE_REQUESTS"


@dataclass(frozen=True)
class ConsumptionLimits:
    """A key's spending caps per limit period; None means no cap in that currency."""

    usd: Decimal | None = None
    diem: Decimal | None = None

    @property
    def is_unlimited(self) -> bool:
        return self.usd is None and self.diem is None


@dataclass(frozen=True)
class UsageAmounts:
    usd: Decimal
    diem: Decimal


@dataclass(frozen=True)
class APIKey:
    id: str
    description: str
    api_key_type: APIKeyType
    last6: str
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    consumption_limits: ConsumptionLimits
    limit_period: LimitPeriod
    model_privacy: ModelPrivacy
    trailing_seven_days: UsageAmounts | None = None
    # Present only for keys with consumption limits (the API omits it otherwise).
    current_period_usage: UsageAmounts | None = None
    # The one-time secret, set only on the key `create` returns. Never stored, logged or
    # repr'd: it is shown to the user once and then dropped.
    secret: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.api_key_type == APIKeyType.ADMIN

    # --- the original SDK's names for the same facts (docs/sdk.md) -------------------------

    @property
    def name(self) -> str:
        """The SDK's word for the description."""
        return self.description

    @property
    def api_key(self) -> str | None:
        """The SDK's word for the one-time `secret` (set only on the key `create` returns)."""
        return self.secret

    @property
    def last_used(self) -> datetime | None:
        """`last_used_at`: when Venice last saw the key used (None: never)."""
        return self.last_used_at

    @property
    def is_active(self) -> bool:
        """Whether the key still works now: Venice lists only keys that are not deleted, and a
        key stops working at its `expires_at` (compared with this machine's clock)."""
        return self.expires_at is None or self.expires_at > datetime.now(UTC)

    @property
    def permissions(self) -> dict[str, Any]:
        """The SDK's permissions dict. Venice's only permission is the key's type, so this is
        `{"type": "ADMIN"}` or `{"type": "INFERENCE"}`."""
        return {"type": self.api_key_type.value}

    @property
    def rate_limits(self) -> dict[str, Any] | None:
        """The SDK's per-key limits. Venice has no per-key rate limits; what it limits per key
        is spending, so this is `{"usd", "diem", "limit_period"}` (None: no cap in that
        currency), or None for a key with no caps at all. The account's rate limits are
        `client.api_keys.get_rate_limits()`."""
        if self.consumption_limits.is_unlimited:
            return None
        return {
            "usd": self.consumption_limits.usd,
            "diem": self.consumption_limits.diem,
            "limit_period": self.limit_period.value,
        }


@dataclass(frozen=True)
class Balance:
    """GET /billing/balance."""

    can_consume: bool
    consumption_currency: Currency | None
    usd: Decimal | None  # None when not available
    diem: Decimal | None  # remaining DIEM this epoch; None when not staking
    diem_epoch_allocation: Decimal


@dataclass(frozen=True)
class DailyUsage:
    date: date
    usd: Decimal
    diem: Decimal


@dataclass(frozen=True)
class UsageBreakdown:
    type: str  # "Input", "Output", "Cache Read", ...
    usd: Decimal
    diem: Decimal
    units: Decimal


@dataclass(frozen=True)
class ModelUsage:
    model_name: str
    unit_type: str
    model_type: str | None
    total_usd: Decimal
    total_diem: Decimal
    total_units: Decimal
    breakdown: tuple[UsageBreakdown, ...] = ()

    # --- the original SDK's names -----------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The model's name as Venice's analytics give it ("GLM 5.1"): they carry no id."""
        return self.model_name

    @property
    def cost(self) -> Decimal:
        """USD spent on the model (`total_usd`); DIEM spent is `total_diem`, not converted."""
        return self.total_usd

    @property
    def tokens(self) -> Decimal | None:
        """Venice's `totalUnits` for a model it counts in tokens; None for one counted in
        images, characters or seconds."""
        return self.total_units if self.unit_type == "tokens" else None

    @property
    def requests(self) -> int | None:
        """None: Venice's analytics count spend and units per model, not requests, and its
        usage ledger names products (SKUs), not these models, so no count can be given."""
        return None

    def as_sdk_dict(self) -> dict[str, Any]:
        """The SDK's `usage_by_model` entry."""
        return {
            "requests": self.requests,
            "tokens": self.tokens,
            "cost": self.cost,
            "cost_diem": self.total_diem,
            "units": self.total_units,
            "unit_type": self.unit_type,
        }


@dataclass(frozen=True)
class KeyUsage:
    api_key_id: str | None  # None for usage from the web app
    description: str
    total_usd: Decimal
    total_diem: Decimal
    total_units: Decimal


@dataclass(frozen=True)
class DailySeries:
    """One day of a chart series: {series name: amount} (top 8 models or keys)."""

    date: date
    values: dict[str, Decimal]


@dataclass(frozen=True)
class UsageAnalytics:
    """GET /billing/usage-analytics."""

    lookback: str
    by_date: tuple[DailyUsage, ...]
    by_model: tuple[ModelUsage, ...]
    by_model_daily: tuple[DailySeries, ...]
    top_models: tuple[str, ...]
    by_key: tuple[KeyUsage, ...]
    by_key_daily: tuple[DailySeries, ...]
    top_key_names: tuple[str, ...]

    @property
    def total_usd(self) -> Decimal:
        return sum((day.usd for day in self.by_date), Decimal(0))

    @property
    def total_diem(self) -> Decimal:
        return sum((day.diem for day in self.by_date), Decimal(0))


@dataclass(frozen=True)
class UsageInfo:
    """The original SDK's usage summary, built from balance and analytics (never the sunset
    /billing/usage). Venice bills prepaid balances, not billing periods: the SDK's "period"
    is the analytics window (`lookback`), whose days are `billing_period_start` (00:00 UTC of
    the first day) to `billing_period_end` (00:00 UTC after the last day, exclusive)."""

    lookback: str
    usd_used: Decimal
    diem_used: Decimal
    usd_balance: Decimal | None
    diem_balance: Decimal | None
    diem_epoch_allocation: Decimal
    by_model: tuple[ModelUsage, ...] = ()
    billing_period_start: datetime | None = None  # None when Venice reported no days
    billing_period_end: datetime | None = None

    # --- the original SDK's names -----------------------------------------------------------

    @property
    def total_usage(self) -> Decimal:
        """USD spent over the window (`usd_used`); DIEM spent is `diem_used`."""
        return self.usd_used

    @property
    def credits_remaining(self) -> Decimal | None:
        """The USD balance (`usd_balance`; None when Venice reports none); DIEM left this
        epoch is `diem_balance`."""
        return self.usd_balance

    @property
    def current_period(self) -> str:
        """The window as Venice names it: "30d", or "YYYY-MM-DD:YYYY-MM-DD"."""
        return self.lookback

    @property
    def usage_by_model(self) -> dict[str, dict[str, Any]]:
        """{model name: {"requests", "tokens", "cost", ...}}, highest spend first (see
        `ModelUsage`: "requests" is None, Venice does not count them)."""
        return {model.model_name: model.as_sdk_dict() for model in self.by_model}

    def as_sdk_dict(self) -> dict[str, Any]:
        """The SDK's fields as a dict (what the account summary's "usage" is)."""
        return {
            "total_usage": self.total_usage,
            "current_period": self.current_period,
            "credits_remaining": self.credits_remaining,
            "usage_by_model": self.usage_by_model,
            "billing_period_start": self.billing_period_start,
            "billing_period_end": self.billing_period_end,
        }


@dataclass(frozen=True)
class UsageEntry:
    """One ledger line of GET /billing/usage-history."""

    timestamp: datetime
    sku: str
    notes: str
    units: Decimal
    price_per_unit_usd: Decimal
    amount: Decimal
    currency: Currency
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    inference_execution_ms: int | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class UsagePage:
    entries: tuple[UsageEntry, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class CSVPage:
    text: str  # one page of CSV, header line included
    filename: str | None  # from Content-Disposition
    next_cursor: str | None  # from x-next-cursor


@dataclass(frozen=True)
class ModelRateLimit:
    model_id: str
    limits: dict[str, Decimal]  # {"RPM": 100, "RPD": 10000, "TPM": 200000, ...}


# The model whose limits stand for "the" limits in the original SDK's single figures
# (`requests_per_minute`, ...): the one model its document names, in its inference example.
SDK_MODEL = "llama-3.3-70b"
# Venice's documented failed-request rule: more than 20 requests answered with a non-success
# status within 30 s block the caller for 30 s (docs.venice.ai, rate limiting).
FAILED_REQUESTS_PER_30S = 20
# What Venice answers a request over a rate limit with; every log entry is one such request.
RATE_LIMITED_STATUS = 429


@dataclass(frozen=True)
class RateLimits:
    """GET /api_keys/rate_limits: the calling key's tier, balances and per-model limits.

    Venice reports limits per model, per minute and per day (`models`; `limits_for(id)`).
    The original SDK's single figures (`requests_per_minute`, ...) are those of one model,
    `sdk_model_id`: see docs/sdk.md for each figure and whether Venice reports or we derive it.

    `current_usage` and `reset_time` are what Venice's rate-limit headers said on this answer
    (a cached answer keeps its own, older, figures).
    """

    access_permitted: bool
    tier_id: str
    tier_is_charged: bool
    balance_usd: Decimal | None
    balance_diem: Decimal | None
    key_expiration: datetime | None
    next_epoch_begins: datetime | None
    models: tuple[ModelRateLimit, ...]
    # The calling key's request budget per the answer's x-ratelimit-* headers:
    # {"requests": used, "requests_remaining": ..., "requests_limit": ...} (and the same for
    # "tokens" when Venice sends token headers); {} when it sent none.
    current_usage: dict[str, int] = field(default_factory=dict)
    # When that budget's window resets (x-ratelimit-reset-requests); None when not sent.
    reset_time: datetime | None = None

    def limits_for(self, model_id: str) -> ModelRateLimit | None:
        """One model's limits, or None when Venice lists no limits for it."""
        return next((model for model in self.models if model.model_id == model_id), None)

    @property
    def sdk_model_id(self) -> str | None:
        """The model whose limits the SDK's figures give: `SDK_MODEL` (llama-3.3-70b, the one
        model the SDK document names) when Venice lists it, else the first model Venice
        lists; None when it lists none (then every figure is None)."""
        if self.limits_for(SDK_MODEL) is not None:
            return SDK_MODEL
        return self.models[0].model_id if self.models else None

    def _limit(self, kind: str) -> int | None:
        model = self.limits_for(self.sdk_model_id) if self.sdk_model_id else None
        value = model.limits.get(kind) if model else None
        return None if value is None else int(value)

    # --- the original SDK's figures: Venice's own where it reports them, else derived ----

    @property
    def requests_per_minute(self) -> int | None:
        """Venice's RPM limit for `sdk_model_id`."""
        return self._limit("RPM")

    @property
    def requests_per_day(self) -> int | None:
        """Venice's RPD limit for `sdk_model_id`."""
        return self._limit("RPD")

    @property
    def requests_per_hour(self) -> int | None:
        """Derived, not reported: Venice has no hourly limit. The most one hour allows under
        both real limits, min(60 × RPM, RPD), where the SDK "estimated" one."""
        bounds = [
            bound
            for bound in (
                None if self.requests_per_minute is None else 60 * self.requests_per_minute,
                self.requests_per_day,
            )
            if bound is not None
        ]
        return min(bounds, default=None)

    @property
    def tokens_per_minute(self) -> int | None:
        """Venice's TPM limit for `sdk_model_id` (None for a model Venice does not limit by
        tokens, such as an image model)."""
        return self._limit("TPM")

    @property
    def tokens_per_day(self) -> int | None:
        """Venice's TPD limit for `sdk_model_id` when it reports one; otherwise derived: the
        most the per-minute limit allows in a day, 1440 × TPM."""
        reported = self._limit("TPD")
        if reported is not None:
            return reported
        return None if self.tokens_per_minute is None else 1440 * self.tokens_per_minute

    @property
    def tokens_per_hour(self) -> int | None:
        """Derived, not reported: the most one hour allows, min(60 × TPM, tokens_per_day)."""
        if self.tokens_per_minute is None:
            return None
        return min(60 * self.tokens_per_minute, self.tokens_per_day)

    @property
    def error_rate_limit(self) -> int:
        """Venice's documented failed-request rule, not a per-account figure: more than this
        many failed requests in 30 s block the caller for 30 s."""
        return FAILED_REQUESTS_PER_30S


@dataclass(frozen=True)
class RateLimitLog:
    """One entry of GET /api_keys/rate_limits/log (the last 50 violations).

    Venice logs which key hit which model's limit of which type, and when; not the HTTP
    path, the answer time or the tokens. The SDK's names map onto that, or are None."""

    api_key_id: str
    model_id: str
    rate_limit_tier: str
    rate_limit_type: RateLimitType
    timestamp: datetime

    @property
    def error_type(self) -> str:
        """The limit exceeded: "RPM", "RPD", "TPM", "FAILED_REQUESTS", ..."""
        return self.rate_limit_type.value

    @property
    def endpoint(self) -> str:
        """The model whose limit was hit (`model_id`): Venice limits and logs per model, and
        does not log the HTTP path."""
        return self.model_id

    @property
    def status_code(self) -> int:
        """429: how Venice answers every request over a rate limit, which each entry is."""
        return RATE_LIMITED_STATUS

    @property
    def response_time(self) -> float | None:
        """None: Venice's log does not record how long the refused request took."""
        return None

    @property
    def tokens_used(self) -> int | None:
        """None: Venice's log does not record the refused request's tokens."""
        return None
