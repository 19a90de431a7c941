"""/billing/usage.csv: the ledger for exactly the filters in the form, streamed and audited,
readable by default (models, units, positive costs per currency, tokens once per request) or
in Venice's own columns (`format=venice`)."""

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.presentation import names
from accounts.roles import FINANCE
from accounts.services.usage_csv import EXPORT_FAILED, readable_columns
from accounts.services.usage_history import EXPORT_PAGE_SIZE
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = pytest.mark.django_db

HISTORY = "/billing/usage-history"
VENICE_COLUMNS = [
    "timestamp",
    "sku",
    "notes",
    "units",
    "pricePerUnitUsd",
    "amount",
    "currency",
    "promptTokens",
    "completionTokens",
    "inferenceExecutionTime",
    "requestId",
]
EVERYTHING = {"start": "", "end": ""}  # the form's dates cleared: the whole history


def _venice_row(entry: dict) -> list:
    """A ledger entry (as the JSON API shows it) the way Venice's CSV row reads."""
    details = entry["inferenceDetails"] or {}

    def opt(name):
        value = details.get(name)
        return "" if value is None else str(value)

    return [
        entry["timestamp"],
        entry["sku"],
        entry["notes"],
        float(entry["units"]),
        float(entry["pricePerUnitUsd"]),
        float(entry["amount"]),
        entry["currency"],
        opt("promptTokens"),
        opt("completionTokens"),
        opt("inferenceExecutionTime"),
        opt("requestId"),
    ]


def _typed(row: list[str]) -> list:
    return [*row[:3], float(row[3]), float(row[4]), float(row[5]), *row[6:]]


def _export(client, **query):
    response = client.get(reverse("billing:usage_csv"), query)
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    return response


def _dicts(response) -> list[dict]:
    rows = read_csv(streamed_text(response))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _export_record() -> AuditEvent:
    records = AuditEvent.objects.filter(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert records.count() == 1
    return records.get()


def _day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture
def today(sandbox) -> date:
    return sandbox.clock.now().date()


# --- the range in the form -------------------------------------------------------------------


def test_the_export_takes_the_range_in_the_form_and_names_the_file_after_it(
    finance_client, sandbox
):
    response = _export(finance_client, start="2026-11-01", end="2026-11-30")
    assert response["Content-Disposition"] == (
        'attachment; filename="venice-usage-2026-11-01_2026-11-30.csv"'
    )
    first = [r for r in sandbox.received if r.path == HISTORY][0]
    assert first.query["startTimestamp"] == ["2026-11-01T00:00:00.000Z"]
    assert first.query["endTimestamp"] == ["2026-12-01T00:00:00.000Z"]  # Nov 30 included
    assert first.headers.get("accept") == "text/csv"


def test_without_dates_it_exports_the_day_the_page_opens_at_not_the_whole_history(
    finance_client, sandbox, today
):
    response = _export(finance_client)
    assert f"venice-usage-{today}_{today}.csv" in response["Content-Disposition"]
    rows = _dicts(response)
    assert len(rows) == len(
        sandbox.ledger_entries(start=_day(today), end=_day(today + timedelta(days=1)))
    )


def test_cleared_dates_export_everything_and_say_so_in_the_name(finance_client, sandbox, today):
    response = _export(finance_client, **EVERYTHING)
    assert f"venice-usage-beginning_{today}.csv" in response["Content-Disposition"]
    assert len(_dicts(response)) == len(sandbox.ledger_entries())


# --- the readable ledger ---------------------------------------------------------------------


def test_each_row_names_its_model_unit_and_positive_cost_in_its_currencys_column(
    finance_client, sandbox, today
):
    start = today - timedelta(days=2)
    rows = _dicts(_export(finance_client, start=start.isoformat(), end=today.isoformat()))
    entries = sandbox.ledger_entries(start=_day(start), end=_day(today + timedelta(days=1)))
    assert list(rows[0]) == list(readable_columns("UTC"))
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        info = names.sku_info(entry["sku"])
        assert row["timestamp_utc"] == entry["timestamp"]
        assert (row["model"], row["model_id"], row["charge"]) == (
            info.model_name,
            info.model_id,
            info.kind,
        )
        assert row["unit"] == info.unit.name
        assert Decimal(row["units"]) == Decimal(str(entry["units"])) * info.unit.per_ledger_unit
        column = {"USD": "usd", "DIEM": "diem", "BUNDLED_CREDITS": "bundled_credits_usd"}
        cost = Decimal(row[column[entry["currency"]]])
        assert cost == -Decimal(str(entry["amount"])) > 0
        assert row["currency"] == entry["currency"]
        others = set(column.values()) - {column[entry["currency"]]}
        assert all(row[name] == "" for name in others)  # one currency per column


def test_token_counts_appear_once_per_request(finance_client, sandbox, today):
    start = today - timedelta(days=6)
    rows = _dicts(_export(finance_client, start=start.isoformat(), end=today.isoformat()))
    entries = sandbox.ledger_entries(start=_day(start), end=_day(today + timedelta(days=1)))
    by_request = {}
    for entry in entries:
        details = entry["inferenceDetails"]
        if details and details["promptTokens"] is not None:
            by_request[details["requestId"]] = (
                details["promptTokens"],
                details["completionTokens"],
            )
    counted = Counter(row["request_id"] for row in rows if row["prompt_tokens"])
    assert set(counted.values()) == {1}  # once each...
    assert set(counted) == set(by_request)  # ...for every request that has them
    assert sum(int(row["prompt_tokens"]) for row in rows if row["prompt_tokens"]) == sum(
        prompt for prompt, _ in by_request.values()
    )
    # Venice's raw rows repeat them on every row of a request: summing those over-counts.
    raw = read_csv(
        streamed_text(
            _export(finance_client, start=start.isoformat(), format="venice", end=today.isoformat())
        )
    )
    assert sum(int(r[7]) for r in raw[1:] if r[7]) > sum(p for p, _ in by_request.values())


def test_times_are_in_the_exporters_zone_and_the_header_names_it(finance_client, sandbox, today):
    finance_client.post(reverse("account:preferences"), {"time_zone": "America/New_York"})
    rows = read_csv(streamed_text(_export(finance_client)))
    assert rows[0][0] == "time (America/New_York)"
    first = rows[1]
    moment = datetime.fromisoformat(first[1])
    from zoneinfo import ZoneInfo

    assert first[0] == moment.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S")
    assert _export_record_latest().details["time_zone"] == "America/New_York"


def _export_record_latest() -> AuditEvent:
    return AuditEvent.objects.filter(action=AuditAction.BILLING_USAGE_EXPORTED).latest("id")


def test_a_model_filter_exports_only_that_models_rows(finance_client, sandbox, today):
    start = today - timedelta(days=6)
    rows = _dicts(
        _export(finance_client, start=start.isoformat(), end=today.isoformat(), model="qwen3-4b")
    )
    entries = sandbox.ledger_entries(start=_day(start), end=_day(today + timedelta(days=1)))
    expected = [e for e in entries if names.sku_info(e["sku"]).model_id == "qwen3-4b"]
    assert [row["timestamp_utc"] for row in rows] == [e["timestamp"] for e in expected]
    assert {row["model"] for row in rows} == {"Venice Small"}


# --- Venice's own columns --------------------------------------------------------------------


def test_a_large_history_is_exported_row_for_row_in_venices_columns(finance_client, large_history):
    """50,000 added entries plus the seeded ledger; slow-ish (about 2 s) because it walks all
    of them, which is the point."""
    ledger = large_history.ledger_entries()
    assert len(ledger) > 50_000

    response = _export(finance_client, format="venice", **EVERYTHING)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="venice-usage-raw-beginning_\d{4}-\d{2}-\d{2}\.csv"',
        response["Content-Disposition"],
    )
    chunks = list(response.streaming_content)
    # Streamed one upstream page at a time, never built whole.
    assert len(chunks) == -(-len(ledger) // EXPORT_PAGE_SIZE)
    assert max(len(chunk) for chunk in chunks) < 250_000

    rows = read_csv(b"".join(chunks).decode())
    assert rows[0] == VENICE_COLUMNS
    assert len(rows) - 1 == len(ledger)
    for row, entry in zip(rows[1:], ledger, strict=True):
        assert _typed(row) == _venice_row(entry)


def test_the_readable_export_streams_a_large_history_too(finance_client, large_history):
    response = _export(finance_client, **EVERYTHING)
    chunks = list(response.streaming_content)
    assert max(len(chunk) for chunk in chunks) < 400_000  # one upstream page at a time
    assert len(read_csv(b"".join(chunks).decode())) - 1 == len(large_history.ledger)


def test_filters_narrow_the_export_to_what_the_table_shows(finance_client, sandbox):
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    text = streamed_text(
        _export(
            finance_client, currency="USD", start="2026-01-01", end="2030-12-31", format="venice"
        )
    )
    rows = read_csv(text)
    expected = sandbox.ledger_entries(currency="USD", start=start, end=end)
    assert [_typed(row) for row in rows[1:]] == [_venice_row(e) for e in expected]
    history = [r for r in sandbox.received if r.path == HISTORY]
    assert history[0].query == {
        "pageSize": [str(EXPORT_PAGE_SIZE)],
        "currency": ["USD"],
        "startTimestamp": ["2026-01-01T00:00:00.000Z"],
        "endTimestamp": ["2031-01-01T00:00:00.000Z"],
    }
    assert all(set(r.query) == {"cursor"} for r in history[1:])
    assert all(r.headers.get("accept") == "text/csv" for r in history)


def test_an_empty_range_exports_just_the_header(finance_client):
    rows = read_csv(streamed_text(_export(finance_client, start="2001-01-01", end="2001-01-31")))
    assert rows == [list(readable_columns("UTC"))]


# --- the audit record ------------------------------------------------------------------------


def test_the_export_is_audited_before_it_streams_and_finished_after(finance_client, sandbox):
    response = _export(finance_client, currency="DIEM", start="2026-01-01", end="2026-01-31")
    record = _export_record()
    assert record.outcome == AuditOutcome.PENDING  # recorded before the first byte went out
    assert record.actor_username == "fran"
    assert record.actor_role == FINANCE
    # The days as chosen, both included (not an exclusive end midnight).
    assert record.details["filters"] == {
        "currency": "DIEM",
        "from": "2026-01-01",
        "to": "2026-01-31",
    }
    assert record.details["export"] == "ledger"
    assert record.key_id == record.key_description == ""  # an export concerns no key
    assert record.details["filename"] in response["Content-Disposition"]

    rows = read_csv(streamed_text(response))
    record.refresh_from_db()
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.details["rows"] == len(rows) - 1
    assert record.request_id == response["X-Request-ID"]


def test_a_failure_mid_stream_ends_the_file_with_an_error_line(
    finance_client, large_history, no_backoff
):
    response = _export(finance_client, format="venice", **EVERYTHING)
    stream = iter(response.streaming_content)
    first = next(stream).decode()
    large_history.faults.inject(HISTORY, status=503)
    rest = b"".join(stream).decode()

    rows = read_csv(first + rest)
    assert len(rows) == 1 + EXPORT_PAGE_SIZE + 1  # header, the first page, the error line
    error = rows[-1]
    assert error[0] == "ERROR"
    assert error[1].startswith(f"{EXPORT_FAILED} after {EXPORT_PAGE_SIZE} rows: ")
    assert "Try again in a minute" in error[1]

    record = _export_record()
    assert record.outcome == AuditOutcome.FAILED
    assert f"after {EXPORT_PAGE_SIZE} rows" in record.error
    assert record.details["rows"] == EXPORT_PAGE_SIZE


def test_a_failure_before_the_first_row_is_a_page_not_a_file(finance_client, sandbox, no_backoff):
    sandbox.faults.inject(HISTORY, status=503)
    response = finance_client.get(reverse("billing:usage_csv"))
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")
    assert b"Try again in a minute" in response.content
    assert _export_record().outcome == AuditOutcome.FAILED


def test_invalid_filters_export_nothing(finance_client, sandbox):
    response = finance_client.get(
        reverse("billing:usage_csv"), {"start": "2026-05-02", "end": "2026-05-01"}
    )
    assert response.status_code == 400
    assert b"field--error" in response.content
    assert not [r for r in sandbox.received if r.path == HISTORY]
    assert not AuditEvent.objects.exists()


def test_an_export_that_cannot_start_is_refused_and_not_recorded(client, finance_user):
    from accounts.forms import DATE_OUT_OF_RANGE

    client.force_login(finance_user)
    response = client.get(reverse("billing:usage_csv") + "?end=9999-12-31")
    assert response.status_code == 400
    assert DATE_OUT_OF_RANGE in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.BILLING_USAGE_EXPORTED).exists()
