"""The usage history: Venice's ledger (GET /billing/usage-history), walked page by page, each entry
read as people read it (the model by name, units at their real scale, the cost as a positive
amount in its currency).

The walk is a cursor walk in ascending time: the first page takes the filters, every later
page only the cursor, which carries them. A cursor Venice rejects (expired, changed, another
user's) cannot be repaired, only restarted. The history opens at Venice's current day (the
walk starts at that day's `startTimestamp`), not at the ledger's oldest entry.

The ledger names no key, and its model only inside the SKU: a model filter is applied here,
on the SKU (Venice has no such filter), and a key's spend is only in the analytics, per day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from accounts.presentation import dates, names, numbers
from accounts.venice import Currency, UsageEntry, ValidationError, get_client

HISTORY_PAGE_SIZE = 200  # rows per page of the table (Venice's pages go up to 1,000)
EXPORT_PAGE_SIZE = 1000  # the upstream's largest page: fewest round trips for an export
# With a model filter, rows are picked out of full upstream pages; one view reads at most this
# many pages looking for matches, then offers "Load more" from where it stopped.
FILTERED_PAGES_PER_VIEW = 5

CURSOR_REJECTED = (
    "This page of the usage history is no longer available: its link expired or was changed. "
    "Restart from the first page."
)

# The spec's pattern for a cursor; anything else is refused before it reaches Venice.
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,512}$")


class CursorRejectedError(Exception):
    """The cursor cannot continue the walk; the history must restart from the first page."""

    user_message = CURSOR_REJECTED


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class UsageFilters:
    """The ledger's filters: `start` included, `end` excluded (UTC midnights); `model` is a
    model id, matched on the SKU here (Venice cannot filter by model)."""

    currency: Currency | None = None
    start: datetime | None = None
    end: datetime | None = None
    model: str = ""

    @property
    def is_empty(self) -> bool:
        return self.currency is None and self.start is None and self.end is None and not self.model

    @property
    def first_day(self) -> date | None:
        return self.start.astimezone(UTC).date() if self.start else None

    @property
    def last_day(self) -> date | None:
        """The last day included (`end` is the next midnight)."""
        return (self.end.astimezone(UTC) - timedelta(microseconds=1)).date() if self.end else None

    def days(self) -> list[date]:
        """Every day from the first to the last (both set)."""
        first, last = self.first_day, self.last_day
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    @property
    def venice_filters(self) -> dict:
        return {"currency": self.currency, "start": self.start, "end": self.end}

    def as_details(self) -> dict:
        """The filters in use, for an export's audit record (unset ones left out): the days
        as people chose them, both included."""
        values = {
            "currency": self.currency.value if self.currency else None,
            "from": self.first_day.isoformat() if self.first_day else None,
            "to": self.last_day.isoformat() if self.last_day else None,
            "model": self.model or None,
        }
        return {name: value for name, value in values.items() if value is not None}

    def describe(self) -> str:
        """`Nov 1 – Nov 30, 2026, DIEM, GLM 5.1` (UTC days)."""
        parts = []
        if self.first_day and self.last_day:
            parts.append(dates.range_prose(self.first_day, self.last_day))
        elif self.first_day:
            parts.append(f"from {dates.day_prose(self.first_day)}")
        elif self.last_day:
            parts.append(f"up to {dates.day_prose(self.last_day)}")
        else:
            parts.append("all dates")
        parts.append(names.currency_label(self.currency) if self.currency else "all currencies")
        if self.model:
            parts.append(names.model_name(self.model))
        return ", ".join(parts)


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry as people read it."""

    timestamp: datetime
    sku: str
    model_id: str
    model_name: str
    kind: str  # "Input", "Output", "Image", ...
    unit: str  # "tokens", "images", ...
    units: Decimal  # at their real scale: 227 tokens, not 0.000227
    price_per_unit_usd: Decimal  # Venice's list price, per `price_per`
    price_per: str  # "1M tokens", "image", ...
    cost: Decimal  # what was charged, positive
    amount: Decimal  # exactly as Venice sent it (negative: a charge)
    currency: str  # "USD", "DIEM", "BUNDLED_CREDITS"
    notes: str
    request_id: str
    # The request's token counts and time, on its first row only (a request's input, output
    # and cache rows each repeat them; adding them up would count each request 2-3 times).
    prompt_tokens: int | None
    completion_tokens: int | None
    execution_ms: int | None

    @property
    def cost_shown(self) -> str:
        return numbers.money(self.cost, self.currency)

    @property
    def exact(self) -> str:
        return numbers.exact(self.amount)


class RequestTokens:
    """Remembers which requests' token counts were already given, so each appears once.

    A request's rows share its timestamp, and the ledger is in time order: the set holds the
    requests of the current timestamp only."""

    def __init__(self):
        self._stamp: datetime | str | None = None
        self._seen: set[str] = set()

    def first_time(self, request_id: str, stamp) -> bool:
        if not request_id:
            return True
        if stamp != self._stamp:
            self._stamp, self._seen = stamp, set()
        if request_id in self._seen:
            return False
        self._seen.add(request_id)
        return True


def ledger_row(
    *,
    timestamp: datetime,
    sku: str,
    units: Decimal,
    price_per_unit_usd: Decimal,
    amount: Decimal,
    currency: str,
    notes: str,
    request_id: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    execution_ms: int | None,
    tokens: RequestTokens,
) -> LedgerRow:
    info = names.sku_info(sku)
    first = tokens.first_time(request_id, timestamp)
    return LedgerRow(
        timestamp=timestamp,
        sku=sku,
        model_id=info.model_id,
        model_name=info.model_name,
        kind=info.kind,
        unit=info.unit.name,
        units=(units * info.unit.per_ledger_unit).normalize(),
        price_per_unit_usd=price_per_unit_usd,
        price_per=info.unit.price_per,
        cost=abs(amount),
        amount=amount,
        currency=currency,
        notes=notes,
        request_id=request_id,
        prompt_tokens=prompt_tokens if first else None,
        completion_tokens=completion_tokens if first else None,
        execution_ms=execution_ms if first else None,
    )


def ledger_row_from_entry(entry: UsageEntry, tokens: RequestTokens) -> LedgerRow:
    return ledger_row(
        timestamp=entry.timestamp,
        sku=entry.sku,
        units=entry.units,
        price_per_unit_usd=entry.price_per_unit_usd,
        amount=entry.amount,
        currency=entry.currency.value,
        notes=entry.notes,
        request_id=entry.request_id or "",
        prompt_tokens=entry.prompt_tokens,
        completion_tokens=entry.completion_tokens,
        execution_ms=entry.inference_execution_ms,
        tokens=tokens,
    )


@dataclass(frozen=True)
class HistoryPage:
    rows: list[LedgerRow]
    next_cursor: str | None  # None: the walk has ended
    scanned: int  # entries read from Venice (more than `rows` with a model filter)


def _matches(entry: UsageEntry, model: str) -> bool:
    return not model or names.sku_info(entry.sku).model_id == model


def usage_history_page_get(
    *,
    filters: UsageFilters | None = None,
    cursor: str | None = None,
    model: str = "",
    page_size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """The first page for `filters`, or the page `cursor` points at (never both: the cursor
    carries Venice's filters, and Venice rejects filters sent alongside it). A model filter
    (`filters.model`, or `model` with a cursor) reads up to FILTERED_PAGES_PER_VIEW full pages
    for its rows.

    Raises CursorRejectedError when the cursor cannot continue, VeniceError otherwise."""
    client = get_client()
    model = filters.model if filters is not None else model
    size = EXPORT_PAGE_SIZE if model else page_size
    if cursor is not None and not _CURSOR.match(cursor):
        raise CursorRejectedError(CURSOR_REJECTED)
    tokens = RequestTokens()
    rows: list[LedgerRow] = []
    scanned = 0
    for _ in range(FILTERED_PAGES_PER_VIEW if model else 1):
        if cursor is not None:
            try:
                page = client.billing.get_usage_history_page(cursor=cursor)
            except ValidationError as error:
                raise CursorRejectedError(CURSOR_REJECTED) from error
        else:
            venice = (filters or UsageFilters()).venice_filters
            page = client.billing.get_usage_history_page(page_size=size, **venice)
        scanned += len(page.entries)
        rows += [ledger_row_from_entry(e, tokens) for e in page.entries if _matches(e, model)]
        cursor = page.next_cursor
        if cursor is None or len(rows) >= page_size:
            break
    return HistoryPage(rows=rows, next_cursor=cursor, scanned=scanned)
