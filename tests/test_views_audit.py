"""/audit/, /audit/<id>/ and /audit.csv: filters, keyset pages, HTMX fragments, drift, export."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.forms import AUDIT_CURSOR_ERROR, AUDIT_DATE_ORDER_ERROR
from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.selectors.audit import PAGE_SIZE, Cursor
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

LIST = reverse("audit:list")
CSV = reverse("audit:csv")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def signed_in(client, admin_user):
    client.force_login(admin_user)
    return client


def make(n, **fields):
    """n records, one minute apart, oldest first."""
    actor = fields.pop("actor", None)
    start = fields.pop("start", T0)
    return [
        AuditEventFactory(
            actor=actor,
            actor_username=fields.pop("actor_username", "ada"),
            time=start + timedelta(minutes=i),
            **fields,
        )
        for i in range(n)
    ]


def shown_ids(response):
    return [event.pk for event in response.context["page"].events]


def test_lists_newest_first_with_record_details(signed_in):
    older, newer = make(2, key_description="CI deploys", key_last6="Zq12Xy")
    response = signed_in.get(LIST)
    assert response.status_code == 200
    assert shown_ids(response) == [newer.pk, older.pk]
    body = response.content.decode()
    assert "CI deploys" in body and "…Zq12Xy" in body
    assert reverse("audit:detail", args=[newer.pk]) in body
    assert "<html" in body


def test_filters_by_actor_action_key_outcome_and_dates(signed_in):
    target = AuditEventFactory(
        actor_username="kim",
        action=AuditAction.KEY_DELETED,
        key_id="key-target",
        failed=True,
        time=T0 + timedelta(days=1),
    )
    AuditEventFactory(actor_username="kim", action=AuditAction.KEY_DELETED, time=T0)
    AuditEventFactory(actor_username="ada", key_id="key-target", failed=True)
    query = {
        "actor": "kim",
        "action": "key.deleted",
        "key": "key-target",
        "outcome": "failed",
        "date_from": "2026-03-02",
        "date_to": "2026-03-02",
    }
    response = signed_in.get(LIST, query)
    assert shown_ids(response) == [target.pk]
    # The CSV link carries the same filters.
    assert "audit.csv?actor=kim&amp;action=key.deleted" in response.content.decode()


def test_date_to_includes_the_whole_day(signed_in):
    late = AuditEventFactory(time=datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    AuditEventFactory(time=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    response = signed_in.get(LIST, {"date_to": "2026-03-01"})
    assert shown_ids(response) == [late.pk]


def test_invalid_filters_show_errors_next_to_the_field(signed_in):
    response = signed_in.get(
        LIST, {"date_from": "2026-03-05", "date_to": "2026-03-01", "outcome": "exploded"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["date_to"] == [AUDIT_DATE_ORDER_ERROR]
    assert "outcome" in form.errors
    body = response.content.decode()
    assert 'class="field field--error"' in body
    assert AUDIT_DATE_ORDER_ERROR in body
    assert response.context["page"] is None


def test_pages_continue_exactly_where_the_last_ended(signed_in):
    events = make(PAGE_SIZE * 2 + 5)
    # Two records sharing a timestamp straddle nothing: the cursor also compares ids.
    twins = make(2, start=T0 + timedelta(minutes=30))
    expected = sorted(events + twins, key=lambda e: (e.time, e.pk), reverse=True)
    seen, query = [], {}
    for _ in range(4):
        response = signed_in.get(LIST, query)
        seen += shown_ids(response)
        cursor = response.context["page"].next_cursor
        if cursor is None:
            break
        query = {"before": cursor.encode()}
        assert f"?before={cursor.encode()}" in response.content.decode()
    assert seen == [event.pk for event in expected]
    assert len(seen) == PAGE_SIZE * 2 + 7


def test_older_link_keeps_the_filters(signed_in):
    make(PAGE_SIZE + 1, action=AuditAction.KEY_DELETED)
    make(3, action=AuditAction.KEY_CREATED, start=T0 + timedelta(hours=5))
    response = signed_in.get(LIST, {"action": "key.deleted"})
    older = response.context["older_query"]
    assert older.startswith("action=key.deleted&before=")
    second = signed_in.get(f"{LIST}?{older}")
    assert [e.action for e in second.context["page"].events] == [AuditAction.KEY_DELETED]


def test_htmx_older_request_returns_only_the_next_rows(signed_in):
    events = make(PAGE_SIZE + 3)
    cursor = Cursor.after(events[3]).encode()
    response = signed_in.get(LIST, {"before": cursor}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert "<table" not in body
    assert body.count("<tr") == 3  # the three oldest; no further "Older" row
    assert "Older →" not in body


def test_htmx_filter_request_returns_form_and_results(signed_in):
    make(2)
    response = signed_in.get(LIST, {"outcome": "succeeded"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="audit-results"' in body
    assert "<form" in body and "<table" in body


def test_first_page_has_a_load_more_link_with_an_href_fallback(signed_in):
    make(PAGE_SIZE + 1)
    body = signed_in.get(LIST).content.decode()
    assert 'hx-get="/audit/?before=' in body
    assert 'href="/audit/?before=' in body


def test_bad_cursor_is_explained(signed_in):
    response = signed_in.get(LIST, {"before": "not-a-cursor"})
    assert AUDIT_CURSOR_ERROR in response.content.decode()


def test_detail_shows_changes_context_and_chain(signed_in):
    event = AuditEventFactory(
        changes={"description": ["Old name", "New name"]},
        request_id="req-abcdef123456",
    )
    response = signed_in.get(reverse("audit:detail", args=[event.pk]))
    body = response.content.decode()
    assert "Old name" in body and "New name" in body
    assert "req-abcdef123456" in body and "203.0.113.7" in body
    assert event.hash in body
    assert "matches its hash" in body


def test_detail_of_a_missing_record_is_404(signed_in):
    assert signed_in.get(reverse("audit:detail", args=[999999])).status_code == 404


def test_audit_page_is_get_only(signed_in):
    assert signed_in.post(LIST).status_code == 405


# --- drift ------------------------------------------------------------------------------------


def test_drift_shows_keys_created_and_deleted_outside_the_portal(signed_in, sandbox):
    upstream = sandbox.key_ids(include_expired=False)
    # One seeded key has a creation record; the rest were made "outside the portal".
    AuditEventFactory(action=AuditAction.KEY_CREATED, key_id=upstream[0])
    AuditEventFactory(
        action=AuditAction.KEY_UPDATED, key_id="key-vanished", key_description="Old batch job"
    )
    AuditEventFactory(action=AuditAction.KEY_UPDATED, key_id="key-deleted-properly")
    AuditEventFactory(action=AuditAction.KEY_DELETED, key_id="key-deleted-properly")
    response = signed_in.get(LIST)
    drift = response.context["drift"]
    assert {key.id for key in drift.unrecorded} == set(upstream[1:])
    assert [key_id for key_id, _ in drift.vanished] == ["key-vanished"]
    body = response.content.decode()
    assert "Gone from Venice, never recorded as deleted (1)" in body
    assert "Old batch job" in body


def test_upstream_failure_blanks_only_the_drift_panel(signed_in, sandbox):
    sandbox.faults.inject("/api_keys", "GET", status=401)
    event = AuditEventFactory()
    response = signed_in.get(LIST)
    assert response.status_code == 200
    assert "Could not compare with Venice" in response.content.decode()
    assert "VENICE_API_KEY" in response.context["drift_error"]
    assert shown_ids(response) == [event.pk]


def test_later_pages_skip_the_drift_check(signed_in, sandbox):
    events = make(3)
    signed_in.get(LIST, {"before": Cursor.after(events[2]).encode()})
    assert not sandbox.received


# --- CSV --------------------------------------------------------------------------------------


def read_csv(response):
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_streams_the_filtered_records_and_records_the_export(signed_in, admin_user):
    failed = AuditEventFactory(failed=True, key_description="=HYPERLINK(evil)")
    AuditEventFactory()
    response = signed_in.get(CSV, {"outcome": "failed"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = read_csv(response)
    assert [int(row["id"]) for row in rows] == [failed.pk]
    assert rows[0]["outcome"] == "failed"
    assert rows[0]["hash"] == failed.hash
    # A cell that would run as a spreadsheet formula is defused.
    assert rows[0]["key_description"] == "'=HYPERLINK(evil)"
    export = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert export.actor == admin_user
    assert export.outcome == AuditOutcome.SUCCEEDED
    assert export.details == {"filters": {"outcome": "failed"}}


def test_csv_lists_records_as_they_stood_when_the_export_began(signed_in):
    events = make(3)
    rows = read_csv(signed_in.get(CSV))
    # Newest first; the export's own record came after the export began, so it is not listed.
    assert [int(row["id"]) for row in rows] == [e.pk for e in reversed(events)]
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).count() == 1


def test_csv_with_invalid_filters_is_refused_with_the_errors(signed_in):
    response = signed_in.get(CSV, {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert response.status_code == 400
    assert AUDIT_DATE_ORDER_ERROR in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()


def test_detail_of_a_pending_record_says_it_is_not_sealed_yet(signed_in):
    event = AuditEventFactory(pending=True)
    body = signed_in.get(reverse("audit:detail", args=[event.pk])).content.decode()
    assert "pending" in body
    assert "join the chain when they are finished" in body


@pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=0001-01-01"])
def test_a_date_out_of_range_is_a_field_error_not_a_crash(client, auditor, query):
    from accounts.forms import DATE_OUT_OF_RANGE

    client.force_login(auditor)
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 200
    assert response.context["form"].errors[query.split("=")[0]] == [DATE_OUT_OF_RANGE]


def test_an_export_that_cannot_start_is_not_recorded(client, auditor):
    from accounts.forms import DATE_OUT_OF_RANGE

    client.force_login(auditor)
    response = client.get("/audit.csv?date_to=9999-12-31")
    assert response.status_code == 400
    assert DATE_OUT_OF_RANGE in response.content.decode()
    assert not AuditEvent.objects.filter(action="audit.exported").exists()
