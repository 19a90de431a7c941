"""accounts/presentation/audit.py: every audit record reads as a sentence, and none holds a secret.

The records here are written by the services themselves, against the sandbox, so the sentences
are tested on what the portal really records, action by action."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.presentation.audit import WORDING, audit_sentence, rotation_sentence
from accounts.services.keys import api_key_create, api_key_delete, api_key_update
from accounts.services.rotation import rotation_abort, rotation_finish_due, rotation_start
from accounts.venice import ConsumptionLimits, LimitPeriod
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


def test_every_audit_action_has_its_wording():
    # An action added without an entry in WORDING fails here (member.*, auth.*, ...).
    assert set(WORDING) == set(AuditAction.values)
    for wording in WORDING.values():
        assert wording.label and wording.rest


@pytest.fixture
def every_action(manager_context, admin_context, shared_venice, finance_client, sandbox):
    """One record of every action the portal writes, each written by its own service."""
    expires = timezone.now() + timedelta(days=30)
    created = api_key_create(
        context=manager_context,
        description="Build bot",
        consumption_limits=ConsumptionLimits(usd=Decimal("50"), diem=None),
        limit_period=LimitPeriod.MONTH,
        expires_at=expires,
    )
    key = shared_venice.api_keys.get(created.id, fresh=True)
    key = api_key_update(
        context=manager_context,
        key=key,
        description="Build bot (CI)",
        consumption_limits=ConsumptionLimits(usd=Decimal("75"), diem=None),
    )
    now = timezone.now()
    outcome = rotation_start(context=manager_context, key_id=key.id, grace="24h", now=now)
    rotation_finish_due(context=manager_context, now=now + timedelta(hours=25))
    replacement = outcome.rotation.new_key_id

    # A rotation that fails (Venice refuses the replacement), then is aborted.
    other = api_key_create(context=manager_context, description="Old laptop")
    sandbox.faults.inject("/api_keys", "POST", status=503, times=10)
    failed = rotation_start(context=manager_context, key_id=other.id, grace="now")
    sandbox.faults.clear()
    rotation_abort(
        context=manager_context, rotation_id=failed.rotation.pk, delete_replacement=False
    )
    api_key_delete(context=manager_context, key=shared_venice.api_keys.get(replacement, fresh=True))

    finance_client.get(reverse("billing:usage_csv"), {"start": "2026-11-01", "end": "2026-12-01"})
    from django.test import Client

    auditor = Client()
    auditor.force_login(admin_context.user)
    b"".join(auditor.get(reverse("audit:csv"), {"action": ["key.deleted"]}).streaming_content)
    return {"secrets": [created.secret, other.secret, outcome.secret]}


# Written by the key, rotation and billing services in `every_action`; the other actions
# (people, sign-ins, policies, approvals, watched and scheduled rotations) have their own
# flows in tests/test_presentation_audit_access.py.
KEY_AND_BILLING_ACTIONS = {
    AuditAction.KEY_CREATED,
    AuditAction.KEY_UPDATED,
    AuditAction.KEY_DELETED,
    AuditAction.ROTATION_STARTED,
    AuditAction.ROTATION_REPLACEMENT_CREATED,
    AuditAction.ROTATION_OLD_KEY_SCHEDULED,
    AuditAction.ROTATION_OLD_KEY_DELETED,
    AuditAction.ROTATION_COMPLETED,
    AuditAction.ROTATION_FAILED,
    AuditAction.ROTATION_ABORTED,
    AuditAction.AUDIT_EXPORTED,
    AuditAction.BILLING_USAGE_EXPORTED,
}


def test_every_record_the_services_write_reads_as_a_sentence(every_action):
    events = list(AuditEvent.objects.order_by("id"))
    assert {event.action for event in events} == KEY_AND_BILLING_ACTIONS
    for event in events:
        sentence = audit_sentence(event)
        assert sentence
        assert event.action not in sentence  # the code stays one click away
        assert "None" not in sentence and "{" not in sentence
        if event.key_last6:
            assert f"…{event.key_last6}" in sentence
        for secret in every_action["secrets"]:
            assert secret and secret not in sentence
            assert secret[-12:] not in sentence


def _sentence(action) -> str:
    """The sentence of the newest record of `action`."""
    return audit_sentence(AuditEvent.objects.filter(action=action).order_by("id").last())


def test_the_sentences_say_what_happened_in_words(every_action):
    created = audit_sentence(
        AuditEvent.objects.filter(action=AuditAction.KEY_CREATED).order_by("id").first()
    )
    assert created.startswith("kim created “Build bot” …")
    assert "an INFERENCE key, limited to $50.00 per month, expiring " in created
    changed = _sentence(AuditAction.KEY_UPDATED)
    assert "description from “Build bot” to “Build bot (CI)”" in changed
    assert "USD limit from $50.00 to $75.00" in changed
    assert "retire" in _sentence(AuditAction.ROTATION_OLD_KEY_SCHEDULED)
    assert "24 hours' grace" in _sentence(AuditAction.ROTATION_OLD_KEY_SCHEDULED)
    assert "stopped while creating the replacement (HTTP 503)" in _sentence(
        AuditAction.ROTATION_FAILED
    )
    assert _sentence(AuditAction.ROTATION_ABORTED).endswith("before a replacement was made")
    assert _sentence(AuditAction.AUDIT_EXPORTED) == ("ada exported the audit log (key deleted)")
    # An export to Dec 1 (inclusive) reads as up to Dec 1, not as the next midnight.
    assert "the usage ledger for Nov 1 – Dec 1, 2026" in _sentence(
        AuditAction.BILLING_USAGE_EXPORTED
    )


def test_a_scheduled_retirement_reads_in_the_viewers_zone():
    event = AuditEventFactory(
        action=AuditAction.ROTATION_OLD_KEY_SCHEDULED,
        actor_username="kim",
        key_description="Production backend",
        key_last6="F80ymm",
        changes={"expires_at": [None, "2026-12-02T04:17:00+00:00"]},
        details={"rotation": 1, "grace": "24h", "new_key_id": "k2"},
    )
    assert audit_sentence(event) == (
        "kim set “Production backend” …F80ymm to retire Dec 2, 2026, 04:17 UTC (24 hours' grace)"
    )
    from zoneinfo import ZoneInfo

    with timezone.override(ZoneInfo("Europe/Berlin")):
        assert "Dec 2, 2026, 05:17 CET" in audit_sentence(event)


def test_an_old_usage_export_record_reads_its_exclusive_end_as_the_day_before():
    event = AuditEventFactory(
        action=AuditAction.BILLING_USAGE_EXPORTED,
        actor_username="fran",
        key_id="",
        key_description="",
        key_last6="",
        details={
            "filters": {"start": "2026-11-01T00:00:00+00:00", "end": "2026-12-02T00:00:00+00:00"},
            "rows": 1234,
        },
    )
    assert audit_sentence(event) == (
        "fran exported the usage ledger for Nov 1 – Dec 1, 2026, 1,234 rows"
    )


def test_failed_and_pending_records_say_what_was_tried():
    failed = AuditEventFactory(
        action=AuditAction.KEY_DELETED, actor_username="kim", failed=True, key_description="X"
    )
    assert audit_sentence(failed).startswith("kim tried to delete “X” …")
    assert audit_sentence(failed).endswith(", and it failed")
    pending = AuditEventFactory(
        action=AuditAction.KEY_DELETED, actor_username="kim", pending=True, key_description="X"
    )
    assert audit_sentence(pending).startswith("kim began to delete “X”")
    assert pending.outcome == AuditOutcome.PENDING


def test_a_command_without_a_user_is_the_portal():
    event = AuditEventFactory(
        action=AuditAction.ROTATION_OLD_KEY_DELETED,
        actor_username="",
        user_agent="manage.py finish_rotations",
        key_description="Nightly",
        key_last6="abc123",
        details={"rotation": 3},
    )
    assert audit_sentence(event) == (
        "The portal (finish_rotations) deleted the old key “Nightly” …abc123"
    )


def test_a_rotation_heads_its_records_with_one_sentence(every_action):
    from accounts.models import Rotation

    done = Rotation.objects.filter(state="completed").get()
    assert rotation_sentence(done) == (
        f"kim rotated “Build bot (CI)” …{done.old_last6} to …{done.new_last6}; the old key is "
        "deleted"
    )
    failed = Rotation.objects.filter(state="aborted").get()
    assert (
        rotation_sentence(failed)
        == f"kim began rotating “Old laptop” …{failed.old_last6}, then aborted it"
    )


def test_dates_in_the_sentences_are_utc_by_default():
    event = AuditEventFactory(
        action=AuditAction.ROTATION_STARTED,
        actor_username="kim",
        key_description="Staging",
        key_last6="zzz999",
        details={"grace": "24h", "retire_at": datetime(2027, 1, 1, 0, 0, tzinfo=UTC).isoformat()},
    )
    assert audit_sentence(event) == (
        "kim started rotating “Staging” …zzz999; the old key retires Jan 1, 2027, 00:00 UTC"
    )
