"""/billing/usage.csv: the whole filtered history, streamed page by page, and audited."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.roles import FINANCE
from accounts.services.billing import EXPORT_FAILED, EXPORT_PAGE_SIZE
from tests.fixtures.billing import read_csv, streamed_text

pytestmark = pytest.mark.django_db

HISTORY = "/billing/usage-history"
COLUMNS = [
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


def _as_csv_row(entry: dict) -> list:
    """A ledger entry (as the JSON API shows it) the way its CSV row must read."""
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


def _export_record() -> AuditEvent:
    records = AuditEvent.objects.filter(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert records.count() == 1
    return records.get()


def test_a_large_history_is_exported_row_for_row(finance_client, large_history):
    """50,000 added entries plus the seeded ledger; slow-ish (about 2 s) because it walks all
    of them, which is the point."""
    ledger = large_history.ledger_entries()
    assert len(ledger) > 50_000

    response = _export(finance_client)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="billing-usage-history-\d{8}T\d{6}Z\.csv"',
        response["Content-Disposition"],
    )
    chunks = list(response.streaming_content)
    # Streamed one upstream page at a time, never built whole.
    assert len(chunks) == -(-len(ledger) // EXPORT_PAGE_SIZE)
    assert max(len(chunk) for chunk in chunks) < 250_000

    rows = read_csv(b"".join(chunks).decode())
    assert rows[0] == COLUMNS
    assert len(rows) - 1 == len(ledger)
    for row, entry in zip(rows[1:], ledger, strict=True):
        assert _typed(row) == _as_csv_row(entry)


def test_filters_narrow_the_export_to_what_the_table_shows(finance_client, sandbox):
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    text = streamed_text(
        _export(finance_client, currency="USD", start="2026-01-01", end="2030-12-31")
    )
    rows = read_csv(text)
    expected = sandbox.ledger_entries(currency="USD", start=start, end=end)
    assert [_typed(row) for row in rows[1:]] == [_as_csv_row(e) for e in expected]
    assert {row[6] for row in rows[1:]} == {"USD"}
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
    assert rows == [COLUMNS]


def test_the_export_is_audited_before_it_streams_and_finished_after(finance_client, sandbox):
    response = _export(finance_client, currency="DIEM", start="2026-01-01")
    record = _export_record()
    assert record.outcome == AuditOutcome.PENDING  # recorded before the first byte went out
    assert record.actor_username == "fran"
    assert record.actor_role == FINANCE
    assert record.details["filters"] == {"currency": "DIEM", "start": "2026-01-01T00:00:00+00:00"}
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
    response = _export(finance_client)
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
