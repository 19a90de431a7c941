"""accounts/services/audit.py: records written before the upstream call, finished after."""

import threading

import pytest
from django.db import connections, transaction
from django.test import RequestFactory

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.roles import ADMINISTRATOR
from accounts.services.audit import (
    SECRET_LOST,
    UNRESOLVED,
    audit_context_for_command,
    audit_context_from_request,
    audit_log,
    audited,
)
from accounts.venice import APIKey, APIKeyType, ConsumptionLimits, LimitPeriod, ModelPrivacy

pytestmark = pytest.mark.django_db


def _key(**overrides):
    values = {
        "id": "key-abc",
        "description": "CI deploys",
        "api_key_type": APIKeyType.INFERENCE,
        "last6": "Xy12Zq",
        "created_at": None,
        "expires_at": None,
        "last_used_at": None,
        "consumption_limits": ConsumptionLimits(),
        "limit_period": LimitPeriod.MONTH,
        "model_privacy": ModelPrivacy.ALL,
        "secret": "vapi_THE-SECRET-Xy12Zq",
    }
    return APIKey(**{**values, **overrides})


def _committed_outcome(pk):
    """The outcome as another connection (another thread) sees it: only what was committed."""
    seen = {}

    def look():
        try:
            seen["outcome"] = (
                AuditEvent.objects.filter(pk=pk).values_list("outcome", flat=True).first()
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    return seen["outcome"]


@pytest.mark.django_db(transaction=True)
def test_pending_record_is_committed_before_the_block_runs(audit_context):
    with audited(audit_context, action=AuditAction.KEY_DELETED, key=_key()) as record:
        inside = AuditEvent.objects.get(pk=record.id)
        assert inside.outcome == AuditOutcome.PENDING
        assert _committed_outcome(record.id) == AuditOutcome.PENDING
    assert AuditEvent.objects.get(pk=record.id).outcome == AuditOutcome.SUCCEEDED


def test_audited_refuses_to_run_inside_a_transaction(audit_context):
    # Inside an atomic block the pending record could not be committed before the call.
    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            with audited(audit_context, action=AuditAction.KEY_DELETED, key_id="k"):
                pass  # pragma: no cover
    assert not AuditEvent.objects.exists()


def test_succeeded_record_snapshots_who_what_which_key_and_from_where(audit_context, admin_user):
    with audited(
        audit_context,
        action=AuditAction.KEY_UPDATED,
        key=_key(),
        changes={"description": ["CI deploys", "CI"]},
    ):
        pass
    event = AuditEvent.objects.get()
    assert event.actor == admin_user
    assert (event.actor_username, event.actor_role) == ("ada", ADMINISTRATOR)
    assert (event.key_id, event.key_description, event.key_last6) == (
        "key-abc",
        "CI deploys",
        "Xy12Zq",
    )
    assert event.changes == {"description": ["CI deploys", "CI"]}
    assert (event.ip, event.user_agent, event.request_id) == (
        "198.51.100.20",
        "Mozilla/5.0 (test)",
        "req-0123456789",
    )
    assert event.outcome == AuditOutcome.SUCCEEDED
    assert event.completed_at >= event.time
    assert event.hash == event.compute_hash()


def test_failed_block_records_the_error_and_reraises(audit_context):
    with pytest.raises(ConnectionError):
        with audited(audit_context, action=AuditAction.KEY_DELETED, key=_key()):
            raise ConnectionError("Venice did not answer")
    event = AuditEvent.objects.get()
    assert event.outcome == AuditOutcome.FAILED
    assert event.error == "ConnectionError: Venice did not answer"


def test_note_key_fills_the_snapshot_after_a_create_and_never_the_secret(audit_context):
    created = _key(id="key-new", description="New key")
    with audited(audit_context, action=AuditAction.KEY_CREATED, description="New key") as record:
        record.note_key(created)
        # Written at once: a crash from here on still leaves the key's id for reconcile.
        assert AuditEvent.objects.get(pk=record.id).key_id == "key-new"
        record.add_details(api_key_type="INFERENCE")
    event = AuditEvent.objects.get()
    assert (event.key_id, event.key_last6) == ("key-new", "Xy12Zq")
    assert event.details == {"api_key_type": "INFERENCE"}
    assert "THE-SECRET" not in str(AuditEvent.objects.values().get())


def test_keep_pending_leaves_an_ambiguous_outcome_to_reconcile(audit_context):
    with pytest.raises(TimeoutError):
        with audited(audit_context, action=AuditAction.KEY_CREATED, description="x") as record:
            record.keep_pending("timed out after sending; lookup failed")
            raise TimeoutError("read timeout")
    event = AuditEvent.objects.get()
    assert event.outcome == AuditOutcome.PENDING
    assert event.details[UNRESOLVED] == "timed out after sending; lookup failed"
    assert event.error == "TimeoutError: read timeout"


def test_audit_log_writes_one_sealed_record(audit_context):
    event = audit_log(
        audit_context,
        action=AuditAction.AUDIT_EXPORTED,
        details={"filters": {"outcome": "failed"}, SECRET_LOST: False},
    )
    event.refresh_from_db()
    assert event.outcome == AuditOutcome.SUCCEEDED
    assert event.sequence == 1
    assert event.hash == event.compute_hash()


def test_unknown_action_is_refused(audit_context):
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit_log(audit_context, action="key.exploded")


def test_context_from_request_takes_user_role_address_and_request_id(admin_user):
    request = RequestFactory().get(
        "/keys/", HTTP_USER_AGENT="Firefox", HTTP_X_FORWARDED_FOR="192.0.2.9, 10.0.0.1"
    )
    request.user = admin_user
    request.request_id = "abc123def456"
    context = audit_context_from_request(request)
    assert (context.user, context.username, context.role) == (admin_user, "ada", ADMINISTRATOR)
    assert (context.ip, context.user_agent, context.request_id) == (
        "192.0.2.9",
        "Firefox",
        "abc123def456",
    )


@pytest.mark.parametrize("header", ["REMOTE_ADDR", "HTTP_X_FORWARDED_FOR"])
def test_context_from_request_drops_an_ipv6_zone_id(admin_user, header):
    # "%eth0" names an interface of the machine that saw the address; it is no part of the
    # client's address, and the audit record could not store it.
    request = RequestFactory().get("/keys/", **{header: "fe80::1%eth0"})
    request.user = admin_user
    assert audit_context_from_request(request).ip == "fe80::1"


def test_context_for_command_names_the_command():
    context = audit_context_for_command(None, command="reconcile_audit")
    assert context.user is None
    assert context.user_agent == "manage.py reconcile_audit"
    assert context.ip is None
    assert len(context.request_id) == 32
