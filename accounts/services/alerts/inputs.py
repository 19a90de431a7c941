"""What one check_alerts run reads from Venice: each read at most once, whatever the rules.

`alert_inputs_read(needs=...)` makes the reads the enabled rules need, one after another,
through the portal's Venice client (so its cache and circuit breaker apply). The first read
that fails because Venice is unreachable, refusing or rate limiting stops the rest: a run that
kept calling a Venice that is down would spend the failed-request budget (more than 20 failed
requests in 30 s block the portal's key), and the outage is told once, not once per rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from accounts.services.alerts.kinds import (
    NEEDS_BALANCE,
    NEEDS_KEYS,
    NEEDS_MONTH,
    NEEDS_RATE_LOG,
    NEEDS_TODAY,
)
from accounts.venice import (
    APIKey,
    Balance,
    RateLimitedError,
    RateLimitLog,
    UnauthorizedError,
    UpstreamUnavailableError,
    UsageAnalytics,
    VeniceClient,
    VeniceError,
    get_client,
)

logger = logging.getLogger(__name__)

# Failures after which the other reads are not tried: Venice is down, refusing the key, or
# rate limiting it. Any other failure (an answer that does not parse) fails that read only.
STOPS_THE_RUN = (UpstreamUnavailableError, UnauthorizedError, RateLimitedError)
# The order reads are made in: the key list first (most rules need it).
READ_ORDER = (NEEDS_KEYS, NEEDS_BALANCE, NEEDS_MONTH, NEEDS_TODAY, NEEDS_RATE_LOG)
READ_LABELS = {
    NEEDS_KEYS: "the key list",
    NEEDS_BALANCE: "the balance",
    NEEDS_MONTH: "this month's usage",
    NEEDS_TODAY: "today's usage",
    NEEDS_RATE_LOG: "the rate-limit log",
}


@dataclass
class AlertInputs:
    """The reads of one run, and what could not be read (`failed`: need -> error)."""

    now: datetime
    keys: list[APIKey] | None = None
    balance: Balance | None = None
    month: UsageAnalytics | None = None
    today: UsageAnalytics | None = None
    rate_log: list[RateLimitLog] | None = None
    failed: dict[str, VeniceError] = field(default_factory=dict)

    def available(self, needs: set[str]) -> bool:
        return not (needs & set(self.failed))

    @property
    def keys_by_id(self) -> dict[str, APIKey]:
        return {key.id: key for key in self.keys or ()}

    @property
    def error(self) -> VeniceError | None:
        return next(iter(self.failed.values()), None)

    # --- sums the spend rules read --------------------------------------------------------

    def account_spend(self, period: str) -> tuple[Decimal, Decimal]:
        """(USD, DIEM) the account spent today or this calendar month (UTC)."""
        days = self.month.by_date if self.month else ()
        today = self.now.date()
        if period == "day":
            chosen = [day for day in days if day.date == today]
        else:
            chosen = [day for day in days if (day.date.year, day.date.month) == _month(today)]
        return (
            sum((abs(day.usd) for day in chosen), Decimal(0)),
            sum((abs(day.diem) for day in chosen), Decimal(0)),
        )

    def key_spend(self, key_id: str, period: str) -> tuple[Decimal, Decimal]:
        """(USD, DIEM) one key spent today or this calendar month (UTC)."""
        analytics = self.today if period == "day" else self.month
        for usage in analytics.by_key if analytics else ():
            if usage.api_key_id == key_id:
                return abs(usage.total_usd), abs(usage.total_diem)
        return Decimal(0), Decimal(0)


def _month(day: date) -> tuple[int, int]:
    return day.year, day.month


def alert_inputs_read(
    *, needs: set[str], now: datetime, client: VeniceClient | None = None
) -> AlertInputs:
    """Make the reads `needs` names (see the module docstring for what stops them)."""
    client = client or get_client()
    inputs = AlertInputs(now=now)
    today = now.date()
    month_start = today.replace(day=1)
    reads = {
        NEEDS_KEYS: lambda: setattr(inputs, "keys", client.api_keys.list()),
        NEEDS_BALANCE: lambda: setattr(inputs, "balance", client.billing.get_balance()),
        NEEDS_MONTH: lambda: setattr(
            inputs, "month", client.billing.get_usage_analytics(start=month_start, end=today)
        ),
        NEEDS_TODAY: lambda: setattr(
            inputs, "today", client.billing.get_usage_analytics(start=today, end=today)
        ),
        NEEDS_RATE_LOG: lambda: setattr(inputs, "rate_log", client.api_keys.get_rate_limits_log()),
    }
    wanted = [need for need in READ_ORDER if need in needs]
    for index, need in enumerate(wanted):
        try:
            reads[need]()
        except VeniceError as error:
            logger.warning("check_alerts could not read %s: %s", READ_LABELS[need], error.message)
            inputs.failed[need] = error
            if isinstance(error, STOPS_THE_RUN):
                # Whatever stopped this read would most likely stop the others too.
                for skipped in wanted[index + 1 :]:
                    inputs.failed[skipped] = error
                break
    return inputs
