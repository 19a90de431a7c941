"""accounts/services/exports.py: the usage export's audit record follows the stream's fate."""

import pytest

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.billing import EXPORT_PAGE_SIZE, UsageFilters
from accounts.services.exports import usage_history_export

pytestmark = pytest.mark.django_db


def _record() -> AuditEvent:
    return AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)


def test_the_record_is_pending_once_the_export_has_started(audit_context, sandbox):
    export = usage_history_export(context=audit_context, filters=UsageFilters())
    assert _record().outcome == AuditOutcome.PENDING
    assert export.filename.startswith("billing-usage-history-")
    # The first upstream page was fetched before returning: nothing is left to fail silently
    # before the first byte.
    assert [r.path for r in sandbox.received] == ["/billing/usage-history"]


def test_an_abandoned_download_is_recorded_as_interrupted(audit_context, large_history):
    export = usage_history_export(context=audit_context, filters=UsageFilters())
    next(export.chunks)
    # A WSGI server closes the response when the browser goes away, and
    # StreamingHttpResponse.close() closes the iterator it was given: this one.
    export.chunks.close()
    record = _record()
    assert record.outcome == AuditOutcome.FAILED
    assert f"interrupted after {EXPORT_PAGE_SIZE} rows" in record.error
    assert record.details["rows"] == EXPORT_PAGE_SIZE


def test_an_export_never_read_is_not_left_pending(audit_context, sandbox):
    export = usage_history_export(context=audit_context, filters=UsageFilters())
    export.chunks.close()
    record = _record()
    assert record.outcome == AuditOutcome.FAILED
    assert "interrupted after 0 rows" in record.error
