"""manage.py reconcile_audit: pending records resolved against the sandbox's key list."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.selectors.audit import audit_chain_verify
from accounts.services.audit import (
    RECONCILE_CREATED_AMBIGUOUS,
    RECONCILE_CREATED_FOUND,
    RECONCILE_CREATED_MISSING,
    RECONCILE_DELETED_PRESENT,
    RECONCILE_INTERRUPTED,
    RECONCILE_UPDATED_NOT_APPLIED,
    SECRET_LOST,
    UNRESOLVED,
)
from accounts.venice import get_client
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


def reconcile(*args):
    out = StringIO()
    call_command("reconcile_audit", *args, stdout=out)
    return out.getvalue()


def stale(**fields):
    """A record a crash left pending six minutes ago."""
    fields.setdefault("time", timezone.now() - timedelta(minutes=6))
    fields.setdefault("changes", {})
    return AuditEventFactory(pending=True, **fields)


def refreshed(event):
    return AuditEvent.objects.get(pk=event.pk)


def test_pending_create_whose_key_exists_succeeded_with_its_secret_lost(sandbox):
    key = get_client().api_keys.create("Nightly ETL")
    event = stale(action=AuditAction.KEY_CREATED, key_id="", key_description="Nightly ETL")
    output = reconcile()
    assert "Reconciled 1 pending record(s) older than 0:05:00: 1 succeeded" in output
    event = refreshed(event)
    assert event.outcome == AuditOutcome.SUCCEEDED
    assert (event.key_id, event.key_last6) == (key.id, key.last6)
    assert event.details[SECRET_LOST] is True
    assert event.details["reconciled"]["note"] == RECONCILE_CREATED_FOUND
    assert key.secret not in str(AuditEvent.objects.values().get())


def test_pending_create_with_no_such_key_failed(sandbox):
    event = stale(action=AuditAction.KEY_CREATED, key_id="", key_description="Never made")
    assert "1 failed" in reconcile()
    event = refreshed(event)
    assert event.outcome == AuditOutcome.FAILED
    assert event.error == RECONCILE_CREATED_MISSING


def test_pending_create_that_matches_two_keys_stays_pending_and_exits_nonzero(sandbox):
    get_client().api_keys.create("Twin")
    get_client().api_keys.create("Twin")
    event = stale(action=AuditAction.KEY_CREATED, key_id="", key_description="Twin")
    with pytest.raises(CommandError, match="1 left pending") as err:
        reconcile()
    assert err.value.returncode == 1
    event = refreshed(event)
    assert event.outcome == AuditOutcome.PENDING
    assert event.details[UNRESOLVED] == RECONCILE_CREATED_AMBIGUOUS


def test_pending_delete_is_resolved_by_the_keys_absence(sandbox):
    present = get_client().api_keys.create("Still here")
    gone = stale(action=AuditAction.KEY_DELETED, key_id="no-such-key")
    kept = stale(action=AuditAction.KEY_DELETED, key_id=present.id)
    assert "1 succeeded, 1 failed" in reconcile()
    assert refreshed(gone).outcome == AuditOutcome.SUCCEEDED
    assert refreshed(kept).outcome == AuditOutcome.FAILED
    assert refreshed(kept).error == RECONCILE_DELETED_PRESENT


def test_pending_update_is_resolved_by_the_values_venice_has(sandbox):
    key = get_client().api_keys.create("Before")
    applied = stale(
        action=AuditAction.KEY_UPDATED, key_id=key.id, changes={"description": ["Old", "Before"]}
    )
    not_applied = stale(
        action=AuditAction.KEY_UPDATED, key_id=key.id, changes={"description": ["Before", "New"]}
    )
    reconcile()
    assert refreshed(applied).outcome == AuditOutcome.SUCCEEDED
    assert refreshed(not_applied).outcome == AuditOutcome.FAILED
    assert refreshed(not_applied).error == RECONCILE_UPDATED_NOT_APPLIED


def test_interrupted_local_step_is_failed(sandbox):
    event = stale(action=AuditAction.ROTATION_STARTED, key_id="k1")
    reconcile()
    assert refreshed(event).error == RECONCILE_INTERRUPTED


def test_records_younger_than_the_threshold_are_left_alone(sandbox):
    young = stale(action=AuditAction.KEY_DELETED, key_id="x", time=timezone.now())
    assert "Reconciled 0 pending record(s)" in reconcile("--older-than", "5m")
    assert refreshed(young).outcome == AuditOutcome.PENDING
    assert not sandbox.received  # nothing to resolve, so Venice was not asked


def test_older_than_takes_other_units(sandbox):
    event = stale(action=AuditAction.KEY_DELETED, key_id="x", time=timezone.now())
    assert "older than 0:00:00" in reconcile("--older-than", "0s")
    assert refreshed(event).outcome == AuditOutcome.SUCCEEDED


def test_upstream_failure_changes_nothing_and_exits_nonzero(sandbox):
    sandbox.faults.inject("/api_keys", "GET", status=401)
    event = stale(action=AuditAction.KEY_DELETED, key_id="x")
    with pytest.raises(CommandError, match="Could not fetch Venice's key list") as err:
        reconcile()
    assert err.value.returncode == 1
    assert refreshed(event).outcome == AuditOutcome.PENDING


def test_resolved_records_join_the_chain(sandbox):
    stale(action=AuditAction.KEY_DELETED, key_id="x")
    AuditEventFactory()
    reconcile()
    report = audit_chain_verify()
    assert report.intact
    assert (report.count, report.pending) == (2, 0)


def test_reconcile_reads_venices_key_list_past_the_cache(sandbox, sandbox_session, sandbox_url):
    get_client().api_keys.list()  # cached, without the key the crashed create made
    made = sandbox_session.post(
        sandbox_url("/api_keys"), json={"apiKeyType": "INFERENCE", "description": "Late one"}
    ).json()["data"]
    event = stale(action=AuditAction.KEY_CREATED, key_id="", key_description="Late one")
    assert "1 succeeded" in reconcile()
    assert refreshed(event).key_id == made["id"]
