"""`client.billing`: balance, usage analytics, the usage-history walk (JSON and CSV), and the
original SDK's summaries, built from the live endpoints (never the sunset `/billing/usage`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from accounts.venice import parsing
from accounts.venice.areas import raises_in
from accounts.venice.errors import BillingError, InvalidResponseError
from accounts.venice.transport import Transport, decode_json
from accounts.venice.types import (
    Balance,
    CSVPage,
    Currency,
    ModelUsage,
    UsageAnalytics,
    UsageEntry,
    UsageInfo,
    UsagePage,
)

USAGE_HISTORY = "/billing/usage-history"
_CHARSET = re.compile(r"charset=\"?([\w.-]+)", re.IGNORECASE)
_FILENAME = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", re.IGNORECASE)


def usage_info(analytics: UsageAnalytics, balance: Balance) -> UsageInfo:
    """The SDK's usage summary from one analytics window and the balance."""
    days = [day.date for day in analytics.by_date]
    start = datetime.combine(min(days), time(), UTC) if days else None
    end = datetime.combine(max(days) + timedelta(days=1), time(), UTC) if days else None
    return UsageInfo(
        lookback=analytics.lookback,
        usd_used=analytics.total_usd,
        diem_used=analytics.total_diem,
        usd_balance=balance.usd,
        diem_balance=balance.diem,
        diem_epoch_allocation=balance.diem_epoch_allocation,
        by_model=analytics.by_model,
        billing_period_start=start,
        billing_period_end=end,
    )


class BillingAPI:
    """Venice's `/billing` paths. Every failure raised here is also a `BillingError`."""

    def __init__(self, transport: Transport):
        self._transport = transport

    def __repr__(self) -> str:
        return f"<BillingAPI {self._transport.base_url}>"

    @raises_in(BillingError)
    def get_balance(self) -> Balance:
        return self._transport.get("/billing/balance", parsing.parse_balance)

    @raises_in(BillingError)
    def get_usage_analytics(
        self, lookback: str = "7d", start: date | None = None, end: date | None = None
    ) -> UsageAnalytics:
        """Usage by date, model and key over `lookback` ("7d" ... "90d"), or between the dates
        `start` and `end` (both needed; then `lookback` is not sent)."""
        if (start is None) != (end is None):
            raise ValueError("give both start and end, or neither")
        if start is not None and end is not None:
            params = {"startDate": start.isoformat(), "endDate": end.isoformat()}
        else:
            params = {"lookback": lookback}
        return self._transport.get(
            "/billing/usage-analytics", parsing.parse_usage_analytics, params=params
        )

    @staticmethod
    def _history_params(
        cursor: str | None,
        currency: Currency | None,
        start: datetime | None,
        end: datetime | None,
        page_size: int,
    ) -> dict[str, Any]:
        if cursor:
            # The filters travel inside the cursor; Venice rejects them sent alongside it.
            if currency is not None or start is not None or end is not None:
                raise ValueError("a continuation (cursor) takes no filters")
            return {"cursor": cursor}
        params: dict[str, Any] = {"pageSize": page_size}
        if currency is not None:
            params["currency"] = Currency(currency).value
        if start is not None:
            params["startTimestamp"] = parsing.format_timestamp(start)
        if end is not None:
            params["endTimestamp"] = parsing.format_timestamp(end)
        return params

    @raises_in(BillingError)
    def get_usage_history_page(
        self,
        *,
        cursor: str | None = None,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> UsagePage:
        """One page; with a cursor, no filters may be given (they travel in the cursor).
        `start` is inclusive, `end` exclusive. Never cached: a walk reads each page once."""
        params = self._history_params(cursor, currency, start, end, page_size)
        return self._transport.get(
            USAGE_HISTORY, parsing.parse_usage_page, params=params, cache=False
        )

    @raises_in(BillingError)
    def iter_usage_history(
        self,
        *,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> Iterator[UsageEntry]:
        """Every entry, oldest first, one page in memory at a time. A cursor Venice rejects
        mid-walk (expired) raises `ValidationError`: restart the walk."""
        page = self.get_usage_history_page(
            currency=currency, start=start, end=end, page_size=page_size
        )
        seen: set[str] = set()
        while True:
            yield from page.entries
            if page.next_cursor is None:
                return
            self._check_progress(page.next_cursor, seen)
            page = self.get_usage_history_page(cursor=page.next_cursor)

    @staticmethod
    def _check_progress(cursor: str, seen: set[str]) -> None:
        if cursor in seen:
            raise InvalidResponseError(
                f"Invalid response format from Venice (GET {USAGE_HISTORY}): "
                "the walk returned a cursor it had already returned."
            )
        seen.add(cursor)

    def _csv_page(self, params: dict[str, Any]) -> CSVPage:
        endpoint = f"GET {USAGE_HISTORY}"
        response = self._transport.request(
            "GET", USAGE_HISTORY, params=params, headers={"Accept": "text/csv"}
        )
        content_type = response.headers.get("Content-Type", "")
        if "csv" not in content_type.lower():
            raise InvalidResponseError(
                f"Invalid response format from Venice ({endpoint}): expected text/csv, "
                f"got {content_type or 'no Content-Type'}.",
                status=response.status_code,
            )
        # Not response.text: without a charset requests would guess (slowly) or assume
        # Latin-1 for text/*; the export is UTF-8 unless Venice says otherwise.
        charset = _CHARSET.search(content_type)
        try:
            text = response.content.decode(charset.group(1) if charset else "utf-8")
        except (LookupError, UnicodeDecodeError):
            raise InvalidResponseError(
                f"Invalid response format from Venice ({endpoint}): the CSV is not UTF-8.",
                status=response.status_code,
            ) from None
        disposition = _FILENAME.search(response.headers.get("Content-Disposition", ""))
        return CSVPage(
            text=text,
            filename=disposition.group(1).strip() if disposition else None,
            next_cursor=response.headers.get("x-next-cursor") or None,
        )

    @raises_in(BillingError)
    def iter_usage_history_csv(
        self,
        *,
        currency: Currency | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 1000,
    ) -> Iterator[CSVPage]:
        """The walk as CSV pages (each with its header line), following `x-next-cursor`."""
        page = self._csv_page(self._history_params(None, currency, start, end, page_size))
        seen: set[str] = set()
        while True:
            yield page
            if page.next_cursor is None:
                return
            self._check_progress(page.next_cursor, seen)
            page = self._csv_page({"cursor": page.next_cursor})

    @raises_in(BillingError)
    def get_legacy_usage(self, **params: Any) -> Any:
        """GET /billing/usage, sunset on 2026-09-16: Venice answers 410, raised as
        `EndpointGoneError` whose `successor` (from the `Link` header) names
        /billing/usage-history. Kept only so that answer is handled clearly; the portal
        never depends on it."""
        response = self._transport.request("GET", "/billing/usage", params=params or None)
        return decode_json(response, "GET /billing/usage")

    # --- the original SDK's conveniences, built from balance and analytics -------------------

    @raises_in(BillingError)
    def get_usage(self, lookback: str = "30d") -> UsageInfo:
        """Spend over `lookback` and what is left. The original SDK read the sunset
        `/billing/usage`; this combines `/billing/balance` and `/billing/usage-analytics`."""
        return usage_info(self.get_usage_analytics(lookback), self.get_balance())

    @raises_in(BillingError)
    def get_usage_by_model(self, lookback: str = "30d") -> dict[str, ModelUsage]:
        """{model name: its usage}, highest spend first."""
        return {model.model_name: model for model in self.get_usage_analytics(lookback).by_model}

    @raises_in(BillingError)
    def get_billing_summary(self, lookback: str = "30d") -> dict:
        """The SDK's one-dict summary: balances, spend over `lookback`, spend by model.

        The SDK's keys: `current_balance` (the USD balance), `total_spent` (USD spent over
        `lookback`) and `subscription_status`: Venice's API has no subscriptions, so this is
        "active" when Venice says the account may consume (`canConsume`), else "inactive"."""
        analytics = self.get_usage_analytics(lookback)
        balance = self.get_balance()
        return {
            "current_balance": balance.usd,
            "total_spent": analytics.total_usd,
            "subscription_status": "active" if balance.can_consume else "inactive",
            "lookback": analytics.lookback,
            "can_consume": balance.can_consume,
            "consumption_currency": balance.consumption_currency,
            "usd_balance": balance.usd,
            "diem_balance": balance.diem,
            "diem_epoch_allocation": balance.diem_epoch_allocation,
            "usd_used": analytics.total_usd,
            "diem_used": analytics.total_diem,
            "by_model": {model.model_name: model for model in analytics.by_model},
            "top_models": list(analytics.top_models),
        }

    @raises_in(BillingError)
    def get_credits_remaining(self) -> Decimal | None:
        """The USD balance (None when Venice reports none); DIEM is in `get_balance()`."""
        return self.get_balance().usd

    @raises_in(BillingError)
    def get_total_usage(self, lookback: str = "30d") -> Decimal:
        """USD spent over `lookback`."""
        return self.get_usage_analytics(lookback).total_usd
