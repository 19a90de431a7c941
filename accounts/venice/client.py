"""The Venice account API client: the public face the portal's services call.

INTERFACE SKELETON — the signatures below are the contract other parts of the portal code
against; the bodies are being written (issue 3). Keep names and signatures; fill in bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from accounts.venice.errors import VeniceError
from accounts.venice.types import (
    APIKey,
    APIKeyType,
    Balance,
    ConsumptionLimits,
    CSVPage,
    Currency,
    LimitPeriod,
    ModelPrivacy,
    ModelUsage,
    RateLimitLog,
    RateLimits,
    UsageAnalytics,
    UsageEntry,
    UsageInfo,
    UsagePage,
)


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()  # "leave this field as it is" in update(); None means "clear it"


@dataclass(frozen=True)
class RateLimitStatus:
    access_permitted: bool
    tier_id: str
    next_epoch_begins: datetime | None
    violations_last_24h: int
    last_violation: RateLimitLog | None
    status: str  # "ok", "warning" (violations in the last 24 h) or "blocked" (no access)


@dataclass(frozen=True)
class AccountSummary:
    """Everything the dashboard shows, fetched concurrently. A part whose call failed is None
    and its error is in `errors` under the part's name, so one failure blanks one panel."""

    balance: Balance | None
    rate_limits: RateLimits | None
    keys: tuple[APIKey, ...] | None
    usage: UsageAnalytics | None  # the last 7 days
    rate_limit_status: RateLimitStatus | None
    errors: dict[str, VeniceError] = field(default_factory=dict)


class VeniceClient:
    """`VeniceClient()` reads settings: with VENICE_API_KEY unset it talks to the embedded
    sandbox (in process), otherwise to VENICE_API_BASE with that key."""

    api_keys: APIKeysAPI
    billing: BillingAPI
    account: AccountManager
    is_sandbox: bool

    def __init__(self, api_key: str | None = None, base_url: str | None = None, **options):
        raise NotImplementedError


class APIKeysAPI:
    def list(self) -> list[APIKey]:
        raise NotImplementedError

    def get(self, key_id: str) -> APIKey | None:
        raise NotImplementedError

    def create(
        self,
        description: str | None = None,
        *,
        api_key_type: APIKeyType = APIKeyType.INFERENCE,
        consumption_limits: ConsumptionLimits | None = None,
        limit_period: LimitPeriod | None = None,
        model_privacy: ModelPrivacy | None = None,
        expires_at: datetime | date | None = None,
        name: str | None = None,
        permissions: list[str] | None = None,
    ) -> APIKey:
        """The returned key carries its one-time `secret`."""
        raise NotImplementedError

    def update(
        self,
        key_id: str,
        *,
        description: str | _Unset = UNSET,
        expires_at: datetime | date | None | _Unset = UNSET,
        consumption_limits: ConsumptionLimits | _Unset = UNSET,
        limit_period: LimitPeriod | _Unset = UNSET,
        model_privacy: ModelPrivacy | _Unset = UNSET,
    ) -> APIKey:
        raise NotImplementedError

    def delete(self, key_id: str) -> bool:
        raise NotImplementedError

    def get_rate_limits(self) -> RateLimits:
        raise NotImplementedError

    def get_rate_limits_log(self, limit: int | None = None) -> list[RateLimitLog]:
        raise NotImplementedError


class BillingAPI:
    def get_balance(self) -> Balance:
        raise NotImplementedError

    def get_usage_analytics(
        self, lookback: str = "7d", start: date | None = None, end: date | None = None
    ) -> UsageAnalytics:
        raise NotImplementedError

    def get_usage_history_page(
        self,
        *,
        cursor: str | None = None,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> UsagePage:
        """One page; with a cursor, no filters may be given (they travel in the cursor)."""
        raise NotImplementedError

    def iter_usage_history(
        self,
        *,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> Iterator[UsageEntry]:
        raise NotImplementedError

    def iter_usage_history_csv(
        self,
        *,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> Iterator[CSVPage]:
        raise NotImplementedError

    # The original SDK's conveniences, built from balance and analytics.
    def get_usage(self, lookback: str = "30d") -> UsageInfo:
        raise NotImplementedError

    def get_usage_by_model(self, lookback: str = "30d") -> dict[str, ModelUsage]:
        raise NotImplementedError

    def get_billing_summary(self, lookback: str = "30d") -> dict:
        raise NotImplementedError

    def get_credits_remaining(self) -> Decimal | None:
        raise NotImplementedError

    def get_total_usage(self, lookback: str = "30d") -> Decimal:
        raise NotImplementedError


class AccountManager:
    def get_account_summary(self) -> AccountSummary:
        raise NotImplementedError

    def check_rate_limit_status(self) -> RateLimitStatus:
        raise NotImplementedError
