"""tests/fixtures/streaming.py: an export a test starts and leaves unread is closed at the
test's teardown, in the test's thread, while its transaction is still open."""

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEvent, AuditOutcome


@pytest.fixture
def unread_export(db):
    """Where the test leaves the pk of the export it did not read; after the test's body (and
    before the database is rolled back) the export's record must be closed."""
    started = {}
    yield started
    record = AuditEvent.objects.get(pk=started["pk"])
    assert record.outcome == AuditOutcome.FAILED
    assert "interrupted after 0 rows" in record.error


def test_an_unread_export_is_closed_before_the_database_is_rolled_back(
    unread_export, finance_client
):
    response = finance_client.get(
        reverse("billing:usage_csv"), {"start": "2026-11-01", "end": "2026-11-30"}
    )
    assert response.status_code == 200 and response.streaming
    record = AuditEvent.objects.get(action=AuditAction.BILLING_USAGE_EXPORTED)
    assert record.outcome == AuditOutcome.PENDING
    unread_export["pk"] = record.pk
