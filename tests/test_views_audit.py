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
    # Links (back to the newest, older pages) keep the same filters.
    assert response.context["query"] == (
        "actor=kim&action=key.deleted&key=key-target&outcome=failed"
        "&date_from=2026-03-02&date_to=2026-03-02"
    )


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


# --- sentences, several actions, finding a key by name, rotations ------------------------------


def test_each_record_is_a_sentence_with_its_codes_one_click_away(signed_in):
    AuditEventFactory(
        actor_username="kim",
        action=AuditAction.KEY_DELETED,
        key_id="k-build",
        key_description="Build bot",
        key_last6="Zq12Xy",
    )
    body = signed_in.get(LIST).content.decode()
    assert '<p class="audit-sentence">kim deleted “Build bot” …Zq12Xy.</p>' in body
    codes = body.split('<details class="audit-codes small">')[1].split("</details>")[0]
    assert "<code>key.deleted</code>" in codes and "<code>k-build</code>" in codes


def test_several_actions_at_once_are_any_of_them_newest_first(signed_in):
    deleted = make(PAGE_SIZE, action=AuditAction.KEY_DELETED)
    rotated = make(
        PAGE_SIZE, action=AuditAction.ROTATION_COMPLETED, start=T0 + timedelta(seconds=30)
    )
    make(5, action=AuditAction.KEY_CREATED, start=T0 + timedelta(hours=9))
    query = {"action": [AuditAction.KEY_DELETED, AuditAction.ROTATION_COMPLETED]}
    seen, response = [], signed_in.get(LIST, query)
    while True:
        seen += shown_ids(response)
        older = response.context.get("older_query")
        if not older:
            break
        assert older.startswith("action=key.deleted&action=key.rotation.completed&before=")
        response = signed_in.get(f"{LIST}?{older}")
    expected = sorted(deleted + rotated, key=lambda e: (e.time, e.pk), reverse=True)
    assert seen == [e.pk for e in expected]


def test_a_key_is_found_by_its_description_last_six_or_id(signed_in):
    made = AuditEventFactory(
        key_id="key-aaaa-1111", key_description="Production backend", key_last6="F80ymm"
    )
    gone = AuditEventFactory(
        key_id="key-aaaa-1111",
        key_description="Production backend",
        key_last6="F80ymm",
        action=AuditAction.KEY_DELETED,
    )
    # Its rotation's replacement shares the description: both keys' records are found.
    new = AuditEventFactory(
        key_id="key-bbbb-2222", key_description="Production backend", key_last6="Qq99Aa"
    )
    AuditEventFactory(key_id="key-cccc-3333", key_description="Staging", key_last6="St4g1n")
    by_name = shown_ids(signed_in.get(LIST, {"key": "production"}))
    assert by_name == [new.pk, gone.pk, made.pk]  # newest first, the deleted key's too
    assert shown_ids(signed_in.get(LIST, {"key": "…F80ymm"})) == [gone.pk, made.pk]
    assert shown_ids(signed_in.get(LIST, {"key": "key-bbbb-2222"})) == [new.pk]
    assert shown_ids(signed_in.get(LIST, {"key": "key-bbbb"})) == [new.pk]  # an id's start


def test_a_key_search_matching_nothing_shows_nothing_and_says_so(signed_in):
    AuditEventFactory(key_description="Staging")
    response = signed_in.get(LIST, {"key": "no such key"})
    assert shown_ids(response) == []
    assert "No key in the log matches “no such key”" in response.content.decode()


def test_a_key_search_matching_too_many_keys_asks_for_more(signed_in):
    from accounts.selectors.audit_keys import MAX_KEYS_PER_SEARCH

    for n in range(MAX_KEYS_PER_SEARCH + 1):
        AuditEventFactory(key_id=f"key-{n:04d}", key_description=f"search service {n:04d}")
    response = signed_in.get(LIST, {"key": "service"})
    assert shown_ids(response) == []
    body = response.content.decode()
    assert f"“service” matches {MAX_KEYS_PER_SEARCH + 1} keys" in body
    assert 'href="?key=key-0000"' in body


def test_a_new_record_is_found_by_name_at_once(signed_in):
    AuditEventFactory(key_description="Staging")
    assert shown_ids(signed_in.get(LIST, {"key": "reports"})) == []
    later = AuditEventFactory(key_id="k-new", key_description="Nightly reports")
    assert shown_ids(signed_in.get(LIST, {"key": "reports"})) == [later.pk]


def test_a_rotations_records_sit_under_one_heading(signed_in, key_manager):
    from accounts.models import Rotation

    rotation = Rotation.objects.create(
        old_key_id="k-old",
        old_description="Production backend",
        old_last6="F80ymm",
        old_key_type="INFERENCE",
        new_key_id="k-new",
        new_last6="a1b2c3",
        grace="24h",
        state=Rotation.State.GRACE,
        retire_at=datetime(2026, 12, 2, 4, 17, tzinfo=UTC),
        started_by_username="kim",
    )
    steps = [
        (AuditAction.ROTATION_STARTED, "k-old", "F80ymm"),
        (AuditAction.ROTATION_REPLACEMENT_CREATED, "k-new", "a1b2c3"),
        (AuditAction.ROTATION_OLD_KEY_SCHEDULED, "k-old", "F80ymm"),
    ]
    for minute, (action, key_id, last6) in enumerate(steps):
        AuditEventFactory(
            action=action,
            actor_username="kim",
            key_id=key_id,
            key_description="Production backend",
            key_last6=last6,
            details={"rotation": rotation.pk},
            time=T0 + timedelta(minutes=minute),
        )
    AuditEventFactory(key_id="k-else", time=T0 - timedelta(days=1))
    response = signed_in.get(LIST)
    (group,) = [row for row in response.context["rows"] if hasattr(row, "entries")]
    assert len(group.entries) == 3
    body = response.content.decode()
    assert (
        "<strong>kim rotated “Production backend” …F80ymm to …a1b2c3; the old key retires "
        "Dec 2, 2026, 04:17 UTC</strong>"
    ) in body
    assert f'href="/audit/?rotation={rotation.pk}"' in body
    assert len(shown_ids(signed_in.get(LIST, {"rotation": rotation.pk}))) == 3


def test_the_download_submits_the_filter_form_as_it_stands(signed_in):
    body = signed_in.get(LIST).content.decode()
    form = body.split('<form class="card filters audit-filters"')[1].split("</form>")[0]
    assert (
        f'<button type="submit" class="btn" formaction="{CSV}" data-native-submit>Download CSV'
        in form
    )


def test_csv_takes_the_days_asked_and_names_the_file_after_them(signed_in):
    inside = AuditEventFactory(time=datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    AuditEventFactory(time=datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    response = signed_in.get(CSV, {"date_from": "2026-11-01", "date_to": "2026-12-01"})
    assert (
        response["Content-Disposition"] == 'attachment; filename="audit-2026-11-01_2026-12-01.csv"'
    )
    rows = read_csv(response)
    assert [int(row["id"]) for row in rows] == [inside.pk]
    assert rows[0]["summary"].startswith("ada changed ")
    assert rows[0]["time (UTC)"] == "2026-11-30 23:00:00"
    export = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert export.details["filters"] == {"date_from": "2026-11-01", "date_to": "2026-12-01"}


def test_csv_times_follow_the_exporters_zone(signed_in):
    AuditEventFactory(time=datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    signed_in.post(reverse("account:preferences"), {"time_zone": "Asia/Tokyo"})
    rows = read_csv(signed_in.get(CSV))
    assert rows[-1]["time (Asia/Tokyo)"] == "2026-12-01 08:00:00"
    assert rows[-1]["time"] == "2026-11-30T23:00:00+00:00"
