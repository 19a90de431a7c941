"""The Venice account API client (see client.py); `get_client()` is how the portal gets one."""

import hashlib
import os
import threading

from django.conf import settings

from accounts.venice.client import (
    UNSET,
    AccountManager,
    AccountSummary,
    APIKeysAPI,
    BillingAPI,
    RateLimitStatus,
    VeniceClient,
)
from accounts.venice.errors import (
    APIKeyError,
    BillingError,
    EndpointGoneError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VeniceError,
)
from accounts.venice.types import (
    APIKey,
    APIKeyType,
    Balance,
    ConsumptionLimits,
    CSVPage,
    Currency,
    DailySeries,
    DailyUsage,
    KeyUsage,
    LimitPeriod,
    ModelPrivacy,
    ModelRateLimit,
    ModelUsage,
    RateLimitLog,
    RateLimits,
    RateLimitType,
    UsageAmounts,
    UsageAnalytics,
    UsageBreakdown,
    UsageEntry,
    UsageInfo,
    UsagePage,
)

_shared_lock = threading.Lock()
_shared: tuple[tuple, VeniceClient] | None = None


def _settings_signature() -> tuple:
    sandbox = None
    if not settings.VENICE_API_KEY:
        from accounts.sandbox import get_sandbox

        sandbox = get_sandbox()
    return (
        os.getpid(),  # a client made before a fork must not share its sockets
        hashlib.sha256(settings.VENICE_API_KEY.encode()).hexdigest(),
        settings.VENICE_API_BASE,
        settings.VENICE_CONNECT_TIMEOUT,
        settings.VENICE_READ_TIMEOUT,
        settings.VENICE_CACHE_TTL,
        id(sandbox),
        sandbox,
    )


def get_client() -> VeniceClient:
    """The portal's client, configured from settings (live API or the embedded sandbox).

    One client per process, shared by its threads: its session pools connections, refuses
    cookies and holds no per-call state, and its breaker and cache live in the Django cache.
    A new one is made when the settings change or the sandbox was reset (tests), or after
    `reset_client()`.
    """
    global _shared
    signature = _settings_signature()
    with _shared_lock:
        if _shared is None or _shared[0] != signature:
            sandbox = signature[-1]
            _shared = (signature, VeniceClient(sandbox=sandbox) if sandbox else VeniceClient())
        return _shared[1]


def reset_client() -> None:
    """Forget the shared client: the next `get_client()` makes a new one."""
    global _shared
    with _shared_lock:
        _shared = None


__all__ = [
    "UNSET",
    "AccountManager",
    "AccountSummary",
    "APIKeysAPI",
    "BillingAPI",
    "RateLimitStatus",
    "VeniceClient",
    "get_client",
    "reset_client",
    "APIKeyError",
    "BillingError",
    "EndpointGoneError",
    "InvalidResponseError",
    "NotFoundError",
    "RateLimitedError",
    "UnauthorizedError",
    "UpstreamUnavailableError",
    "ValidationError",
    "VeniceError",
    "APIKey",
    "APIKeyType",
    "Balance",
    "ConsumptionLimits",
    "CSVPage",
    "Currency",
    "DailySeries",
    "DailyUsage",
    "KeyUsage",
    "LimitPeriod",
    "ModelPrivacy",
    "ModelRateLimit",
    "ModelUsage",
    "RateLimitLog",
    "RateLimits",
    "RateLimitType",
    "UsageAmounts",
    "UsageAnalytics",
    "UsageBreakdown",
    "UsageEntry",
    "UsageInfo",
    "UsagePage",
]
