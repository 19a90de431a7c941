"""The usage files: the ledger (readable, or Venice's raw columns) and daily spend by key and by
model. Each is a stream of (CSV text, row count) chunks, the header first, one upstream page or
day at a time in memory; `accounts/services/exports.py` audits and serves them.

The readable ledger is built from Venice's CSV pages (`Accept: text/csv`): measured on the
sandbox, reading its rows with `csv` is several times faster than parsing the JSON pages into
dataclasses, and memory stays flat either way. Each row gets its model (id and display name,
from the SKU through accounts/presentation/names.py, as the pages show it), its units at their
real scale, the cost as a positive number in a column of its own currency (so a spreadsheet
sums each currency on its own), and the request's token counts once.

Venice's ledger names no key. Spend by key comes from the analytics, one call per day of the
range (`byKey` lists every key; `byKeyDaily` only the top 8), and so does spend by model.
Venice does not break one key's spend down by model: no file here can either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from accounts.presentation import names
from accounts.services.billing import DAILY_CALLS_IN_FLIGHT, analytics_by_day
from accounts.services.csv_cells import spreadsheet_safe
from accounts.services.usage_history import (
    EXPORT_PAGE_SIZE,
    LedgerRow,
    RequestTokens,
    UsageFilters,
    ledger_row,
)
from accounts.venice import InvalidResponseError, VeniceError, get_client

EXPORT_FAILED = "The export stopped early and is incomplete"

READABLE, VENICE = "readable", "venice"
FORMATS = (READABLE, VENICE)


class CSVHeaderChangedError(InvalidResponseError):
    """A later page's header differs from the first page's: the rows would not line up."""


def _writer(buffer: io.StringIO):
    return csv.writer(buffer, lineterminator="\n")


def _line(cells) -> str:
    buffer = io.StringIO()
    _writer(buffer).writerow(cells)
    return buffer.getvalue()


def _plain(value: Decimal | None) -> str:
    """A number as a spreadsheet reads it: no exponent, no trailing zeros."""
    if value is None:
        return ""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def csv_error_line(error: VeniceError | Exception, rows: int) -> str:
    """The last line of an export that failed part-way: a CSV row nobody can mistake for data."""
    message = getattr(error, "user_message", str(error))
    return _line(["ERROR", f"{EXPORT_FAILED} after {rows} rows: {message}"])


# --- the ledger, readable ------------------------------------------------------------------


def readable_columns(zone_name: str) -> tuple[str, ...]:
    return (
        f"time ({zone_name})",
        "timestamp_utc",
        "model",
        "model_id",
        "charge",
        "units",
        "unit",
        "usd",
        "diem",
        "bundled_credits_usd",
        "currency",
        "list_price_usd",
        "list_price_per",
        "prompt_tokens",
        "completion_tokens",
        "execution_ms",
        "request_id",
        "sku",
        "notes",
    )


_COST_COLUMN = {"USD": 0, "DIEM": 1, "BUNDLED_CREDITS": 2}


def readable_cells(row: LedgerRow, zone: tzinfo) -> list[str]:
    costs = ["", "", ""]
    costs[_COST_COLUMN.get(row.currency, 0)] = _plain(row.cost)
    return [
        spreadsheet_safe(value)
        for value in (
            row.timestamp.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            row.timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            row.model_name,
            row.model_id,
            row.kind,
            _plain(row.units),
            row.unit,
            *costs,
            row.currency,
            _plain(row.price_per_unit_usd),
            row.price_per,
            "" if row.prompt_tokens is None else row.prompt_tokens,
            "" if row.completion_tokens is None else row.completion_tokens,
            "" if row.execution_ms is None else row.execution_ms,
            row.request_id,
            row.sku,
            row.notes,
        )
    ]


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise InvalidResponseError(
            f"Invalid response format from Venice (GET /billing/usage-history): {text!r} is "
            "not a number."
        ) from None


def _integer(text: str) -> int | None:
    return int(text) if text not in ("", None) else None


def _csv_pages(filters: UsageFilters, page_size: int) -> Iterator[tuple[list[str], list[dict]]]:
    """Venice's CSV pages as (header, rows as dicts), each page's header checked against the
    first's. Raises VeniceError when the walk fails."""
    pages = get_client().billing.iter_usage_history_csv(
        **filters.venice_filters, page_size=page_size
    )
    first = None
    for page in pages:
        reader = csv.reader(io.StringIO(page.text))
        header = next(reader, [])
        if first is None:
            first = header
        elif header != first:
            raise CSVHeaderChangedError(
                "Invalid response format from Venice (GET /billing/usage-history): the CSV "
                "columns changed during the export."
            )
        yield header, [dict(zip(header, cells, strict=False)) for cells in reader]


def _model_of(sku: str) -> str:
    return names.sku_info(sku).model_id


def ledger_readable_chunks(
    *, filters: UsageFilters, zone: tzinfo, zone_name: str, page_size: int = EXPORT_PAGE_SIZE
) -> Iterator[tuple[str, int]]:
    """The ledger as people read it (see the module docstring), times in `zone`."""
    yield _line(readable_columns(zone_name)), 0
    tokens = RequestTokens()
    for _, entries in _csv_pages(filters, page_size):
        buffer = io.StringIO()
        writer = _writer(buffer)
        count = 0
        for entry in entries:
            sku = entry.get("sku", "")
            if filters.model and _model_of(sku) != filters.model:
                continue
            stamp = entry.get("timestamp", "")
            row = ledger_row(
                timestamp=datetime.fromisoformat(stamp),
                sku=sku,
                units=_decimal(entry.get("units", "")),
                price_per_unit_usd=_decimal(entry.get("pricePerUnitUsd", "")),
                amount=_decimal(entry.get("amount", "")),
                currency=entry.get("currency", ""),
                notes=entry.get("notes", ""),
                request_id=entry.get("requestId", ""),
                prompt_tokens=_integer(entry.get("promptTokens", "")),
                completion_tokens=_integer(entry.get("completionTokens", "")),
                execution_ms=_integer(entry.get("inferenceExecutionTime", "")),
                tokens=tokens,
            )
            writer.writerow(readable_cells(row, zone))
            count += 1
        if count:
            yield buffer.getvalue(), count


# --- the ledger, Venice's own columns -------------------------------------------------------


def ledger_venice_chunks(
    *, filters: UsageFilters, page_size: int = EXPORT_PAGE_SIZE
) -> Iterator[tuple[str, int]]:
    """Venice's CSV rows as its own dashboard exports them (the raw fields, negative amounts),
    every cell defused against spreadsheet formulas; a model filter keeps that model's rows."""
    header_sent = False
    for header, entries in _csv_pages(filters, page_size):
        if not header_sent:
            yield _line(header), 0
            header_sent = True
        text, count = venice_rows(header, entries, model=filters.model)
        if count:
            yield text, count
    if not header_sent:
        yield "", 0


def venice_rows(header: list[str], entries: list[dict], *, model: str = "") -> tuple[str, int]:
    """Venice's rows written again in its column order with every cell defused (a note or SKU
    could start like a formula), only `model`'s when given; and how many there are."""
    buffer = io.StringIO()
    writer = _writer(buffer)
    count = 0
    for entry in entries:
        if model and _model_of(entry.get("sku", "")) != model:
            continue
        writer.writerow([spreadsheet_safe(entry.get(name, "")) for name in header])
        count += 1
    return buffer.getvalue(), count


# --- daily spend by key and by model --------------------------------------------------------

BY_KEY_COLUMNS = ("day (UTC)", "key_id", "key_description", "usd", "diem")
BY_MODEL_COLUMNS = ("day (UTC)", "model", "model_id", "unit", "units", "usd", "diem")


@dataclass(frozen=True)
class DailySpendFile:
    name: str  # "spend-by-key", "spend-by-model"
    columns: tuple[str, ...]


SPEND_BY_KEY = DailySpendFile("spend-by-key", BY_KEY_COLUMNS)
SPEND_BY_MODEL = DailySpendFile("spend-by-model", BY_MODEL_COLUMNS)


def _by_key_cells(day: date, analytics) -> list[list[str]]:
    return [
        [
            day.isoformat(),
            key.api_key_id or "",
            spreadsheet_safe(key.description or (names.WEB_APP if key.api_key_id is None else "")),
            _plain(key.total_usd),
            _plain(key.total_diem),
        ]
        for key in analytics.by_key
    ]


def _by_model_cells(day: date, analytics) -> list[list[str]]:
    rows = []
    for model in analytics.by_model:
        unit = names.unit_of(model.unit_type)
        rows.append(
            [
                day.isoformat(),
                spreadsheet_safe(model.model_name),
                names.model_id_for_name(model.model_name) or "",
                unit.name,
                _plain((model.total_units * unit.per_ledger_unit).normalize()),
                _plain(model.total_usd),
                _plain(model.total_diem),
            ]
        )
    return rows


def daily_spend_chunks(*, file: DailySpendFile, days: list[date]) -> Iterator[tuple[str, int]]:
    """One analytics call per day, in order, one day's rows per chunk: every key (the web app
    included) or every model Venice lists for that day, with its USD and DIEM."""
    yield _line(file.columns), 0
    cells = _by_key_cells if file is SPEND_BY_KEY else _by_model_cells
    for start in range(0, len(days), DAILY_CALLS_IN_FLIGHT):
        for day, analytics in analytics_by_day(days[start : start + DAILY_CALLS_IN_FLIGHT]):
            rows = cells(day, analytics)
            if rows:
                buffer = io.StringIO()
                _writer(buffer).writerows(rows)
                yield buffer.getvalue(), len(rows)


# --- file names -----------------------------------------------------------------------------


def export_filename(kind: str, first: date | None, last: date | None, *, today: date) -> str:
    """`venice-usage-2026-11-01_2026-11-30.csv`: what it holds and the days it covers."""
    start = first.isoformat() if first else "beginning"
    end = (last or today).isoformat()
    return f"venice-{kind}-{start}_{end}.csv"
