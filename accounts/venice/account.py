"""`client.account`: the dashboard's summary (its calls run concurrently) and the rate-limit
status the original SDK offered."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from accounts.venice.billing import usage_info
from accounts.venice.errors import VeniceError
from accounts.venice.types import APIKey, Balance, RateLimitLog, RateLimits, UsageAnalytics

if TYPE_CHECKING:
    from accounts.venice.client import VeniceClient

SUMMARY_LOOKBACK = "7d"


class _ReadsAsDict(Mapping):
    """A typed result that also reads as the original SDK's dict (`result["status"]`,
    `.get(...)`, `"key" in result`), for the SDK's calls documented as returning one."""

    def _as_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, name: str) -> Any:
        return self._as_dict()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())


@dataclass(frozen=True)
class RateLimitStatus(_ReadsAsDict):
    """The calling key's rate-limit standing. Also the SDK's dict: every attribute below, and
    `message`, under its own name (the same value either way)."""

    access_permitted: bool
    tier_id: str
    next_epoch_begins: datetime | None
    violations_last_24h: int
    last_violation: RateLimitLog | None
    status: str  # "ok", "warning" (violations in the last 24 h) or "blocked" (no access)
    # The request budget Venice's rate-limit headers reported (`RateLimits.current_usage`).
    current_usage: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """`status` in a sentence."""
        if self.status == "blocked":
            return "Venice does not permit this key to consume: add USD or DIEM, or check the key."
        last = self.last_violation
        if self.status == "warning" and last is not None:
            return (
                f"{self.violations_last_24h} rate limit(s) exceeded in the last 24 hours; "
                f"the last: {last.error_type} on {last.model_id} "
                f"at {last.timestamp:%Y-%m-%d %H:%M} UTC."
            )
        return "No rate limit exceeded in the last 24 hours."

    def _as_dict(self) -> dict[str, Any]:
        names = [item.name for item in fields(self)] + ["message"]
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True)
class AccountSummary(_ReadsAsDict):
    """Everything the dashboard shows, fetched concurrently. A part whose call failed is None
    and its error is in `errors` under the part's name, so one failure blanks one panel.

    Also the SDK's dict, whose keys are the parts that did not fail: "api_keys" (the tuple of
    `APIKey`), "usage" (`UsageInfo.as_sdk_dict()` of these 7 days and the balance: note that
    `summary["usage"]` is that dict while `summary.usage` is the analytics), "rate_limits",
    "balance", "rate_limit_status", and always "errors"."""

    balance: Balance | None
    rate_limits: RateLimits | None
    api_keys: tuple[APIKey, ...] | None
    usage: UsageAnalytics | None  # the last 7 days
    rate_limit_status: RateLimitStatus | None
    errors: dict[str, VeniceError] = field(default_factory=dict)

    def _as_dict(self) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        if self.api_keys is not None:
            parts["api_keys"] = self.api_keys
        if self.usage is not None and self.balance is not None:
            parts["usage"] = usage_info(self.usage, self.balance).as_sdk_dict()
        for name in ("rate_limits", "balance", "rate_limit_status"):
            if getattr(self, name) is not None:
                parts[name] = getattr(self, name)
        parts["errors"] = self.errors
        return parts


def rate_limit_status(
    limits: RateLimits, log: Sequence[RateLimitLog], now: datetime
) -> RateLimitStatus:
    """ "blocked" when the key may not consume, "warning" after violations in the last 24 h."""
    since = now - timedelta(hours=24)
    recent = [entry for entry in log if entry.timestamp >= since]
    latest = max(log, key=lambda entry: entry.timestamp, default=None)
    if not limits.access_permitted:
        status = "blocked"
    elif recent:
        status = "warning"
    else:
        status = "ok"
    return RateLimitStatus(
        access_permitted=limits.access_permitted,
        tier_id=limits.tier_id,
        next_epoch_begins=limits.next_epoch_begins,
        violations_last_24h=len(recent),
        last_violation=latest,
        status=status,
        current_usage=limits.current_usage,
    )


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()
POOL_SIZE = 16  # the breaker admits at most 18 requests in flight anyway


def _executor() -> ThreadPoolExecutor:
    """One pool of threads per process, kept between calls: its threads keep their Django
    cache connections (Redis) instead of opening new ones for every summary. Made again after
    a fork, whose child would not have the parent's threads."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="venice")
            _pool_pid = os.getpid()
        return _pool


def run_concurrently(calls: dict[str, Callable[[], Any]]) -> tuple[dict[str, Any], dict]:
    """Run independent client calls on the shared threads; {name: result} and
    {name: VeniceError}. Anything that is not a VeniceError is a bug and propagates.

    The calls must be leaf calls (one API request each, as here), never something that itself
    waits on this pool, or a full pool could wait on itself."""
    results: dict[str, Any] = {}
    errors: dict[str, VeniceError] = {}
    futures = {name: _executor().submit(call) for name, call in calls.items()}
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except VeniceError as error:
            errors[name] = error
    return results, errors


class AccountManager:
    def __init__(self, client: VeniceClient):
        self._client = client

    def __repr__(self) -> str:
        return f"<AccountManager {self._client.base_url}>"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._client.clock(), UTC)

    def get_account_summary(self) -> AccountSummary:
        """Balance, rate limits, keys, the last 7 days' usage and the rate-limit status, from
        five calls run at once: it takes about as long as the slowest of them. Typed
        attributes for the portal; read as a dict, the SDK's summary (see AccountSummary)."""
        api_keys, billing = self._client.api_keys, self._client.billing
        results, errors = run_concurrently(
            {
                "balance": billing.get_balance,
                "rate_limits": api_keys.get_rate_limits,
                "api_keys": api_keys.list,
                "usage": lambda: billing.get_usage_analytics(SUMMARY_LOOKBACK),
                "rate_limit_log": api_keys.get_rate_limits_log,
            }
        )
        status = None
        if "rate_limits" in results and "rate_limit_log" in results:
            limits, log = results["rate_limits"], results["rate_limit_log"]
            status = rate_limit_status(limits, log, self._now())
        else:
            errors["rate_limit_status"] = errors.get("rate_limit_log") or errors["rate_limits"]
        errors.pop("rate_limit_log", None)
        keys = results.get("api_keys")
        return AccountSummary(
            balance=results.get("balance"),
            rate_limits=results.get("rate_limits"),
            api_keys=tuple(keys) if keys is not None else None,
            usage=results.get("usage"),
            rate_limit_status=status,
            errors=errors,
        )

    def check_rate_limit_status(self) -> RateLimitStatus:
        """The calling key's access, tier and recent violations, from the rate limits and their
        log (fetched at once). Also the SDK's dict: `status`, `message`, `current_usage`, ..."""
        api_keys = self._client.api_keys
        results, errors = run_concurrently(
            {"limits": api_keys.get_rate_limits, "log": api_keys.get_rate_limits_log}
        )
        if errors:
            raise errors.get("limits") or errors["log"]
        return rate_limit_status(results["limits"], results["log"], self._now())
