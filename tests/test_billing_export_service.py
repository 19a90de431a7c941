"""accounts/services/exports.py: a usage export's audit record follows the stream's fate."""

from datetime import date

import pytest

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.exports import daily_spend_export, usage_history_export
from accounts.services.usage_csv import SPEND_BY_KEY
from accounts.services.usage_history import EXPORT_PAGE_SIZE, UsageFilters

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 2)


def _record() -> AuditEvent:
    return AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)


def test_the_record_is_pending_once_the_export_has_started(audit_context, sandbox):
    export = usage_history_export(context=audit_context, filters=UsageFilters(), today=TODAY)
    assert _record().outcome == AuditOutcome.PENDING
    assert export.filename == "venice-usage-beginning_2026-12-02.csv"
    # The first upstream page was fetched before returning: nothing is left to fail silently
    # before the first byte.
    assert [r.path for r in sandbox.received] == ["/billing/usage-history"]


def test_an_abandoned_download_is_recorded_as_interrupted(audit_context, large_history):
    export = usage_history_export(context=audit_context, filters=UsageFilters(), today=TODAY)
    next(export.chunks)
    # A WSGI server closes the response when the browser goes away, and
    # StreamingHttpResponse.close() closes the iterator it was given: this one.
    export.chunks.close()
    record = _record()
    assert record.outcome == AuditOutcome.FAILED
    assert f"interrupted after {EXPORT_PAGE_SIZE} rows" in record.error
    assert record.details["rows"] == EXPORT_PAGE_SIZE


def test_an_export_never_read_is_not_left_pending(audit_context, sandbox):
    export = usage_history_export(context=audit_context, filters=UsageFilters(), today=TODAY)
    export.chunks.close()
    record = _record()
    assert record.outcome == AuditOutcome.FAILED
    assert "interrupted after 0 rows" in record.error


def test_a_daily_export_asks_for_its_first_days_before_it_returns(audit_context, sandbox):
    export = daily_spend_export(
        context=audit_context,
        file=SPEND_BY_KEY,
        first=date(2026, 11, 1),
        last=date(2026, 11, 30),
        today=TODAY,
    )
    assert export.filename == "venice-spend-by-key-2026-11-01_2026-11-30.csv"
    assert _record().details["export"] == "spend-by-key"
    asked = [r.query["startDate"][0] for r in sandbox.received]
    assert "2026-11-01" in asked and "2026-11-30" not in asked  # the rest as it streams
    export.chunks.close()
