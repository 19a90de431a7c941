"""accounts/services/rotation.py: what a rotation must never do, whatever fails on the way.

Each test here was a defect found in review: it failed before its fix. Everything goes through
the sandbox over the real requests stack, with the sandbox's faults and clock; a failing
database is Django's own `execute_wrapper` refusing a statement, as a locked or lost
database would.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEvent, Rotation
from accounts.selectors.audit import audit_key_ids_with_lost_secret
from accounts.services.audit import SECRET_LOST, audit_reconcile
from accounts.services.keys import KEY_IS_A_RUNNING_REPLACEMENT, KeyChangeRefused, api_key_delete
from accounts.services.rotation import (
    ROTATION_ABORT_OLD_KEY_GONE,
    ROTATION_PORTAL_KEY_STILL_USED,
    ROTATION_REPLACEMENT_GONE,
    RotationError,
    rotation_abort,
    rotation_finish_due,
    rotation_resume,
    rotation_start,
)
from tests.fixtures.audit import WorkerKilled

pytestmark = pytest.mark.django_db

State = Rotation.State


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


# --- 1. the replacement keeps the old key's expiry ----------------------------------------------


def test_the_replacement_keeps_the_old_keys_lifetime_unless_told_otherwise(
    manager_context, shared_venice, sandbox
):
    created = shared_venice.api_keys.create(
        "Expiring worker", expires_at=timezone.now() + timedelta(days=30)
    )
    old = shared_venice.api_keys.get(created.id, fresh=True)
    lifetime = old.expires_at - old.created_at
    now = timezone.now()

    outcome = rotation_start(context=manager_context, key_id=old.id, grace="24h", now=now)

    new = shared_venice.api_keys.get(outcome.rotation.new_key_id, fresh=True)
    assert new.expires_at is not None
    assert abs(new.expires_at - (now + lifetime)) < timedelta(seconds=1)
    assert outcome.rotation.new_expires_at == new.expires_at
    started = AuditEvent.objects.get(action="key.rotation.started")
    assert started.details["old_expires_at"] == old.expires_at.isoformat()
    assert started.details["new_expires_at"] == outcome.rotation.new_expires_at.isoformat()


def test_a_replacement_that_never_expires_is_an_explicit_choice(
    manager_context, shared_venice, sandbox
):
    old = shared_venice.api_keys.create(
        "Expiring worker", expires_at=timezone.now() + timedelta(days=30)
    )
    outcome = rotation_start(
        context=manager_context, key_id=old.id, grace="24h", new_expires_at=None
    )
    assert shared_venice.api_keys.get(outcome.rotation.new_key_id, fresh=True).expires_at is None
    assert AuditEvent.objects.get(action="key.rotation.started").details["new_expires_at"] is None


def test_a_key_that_never_expires_gets_a_replacement_that_never_expires(
    manager_context, inference_key, shared_venice
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    assert shared_venice.api_keys.get(outcome.rotation.new_key_id, fresh=True).expires_at is None
    _assert_chain_intact()


# --- 8. the replacement keeps the old key's name ------------------------------------------------


def test_the_replacement_keeps_the_old_keys_description(manager_context, shared_venice):
    first = shared_venice.api_keys.create("Old prototype")
    shared_venice.api_keys.create("Someone else's key")
    outcome = rotation_start(context=manager_context, key_id=first.id, grace="now")
    new = shared_venice.api_keys.get(outcome.rotation.new_key_id, fresh=True)
    assert new.description == outcome.rotation.new_description == "Old prototype"

    again = rotation_start(context=manager_context, key_id=new.id, grace="now")
    assert shared_venice.api_keys.get(again.rotation.new_key_id).description == "Old prototype"


# --- 6. whether a key exists is asked of Venice, not of the cache -------------------------------


def test_resume_finds_a_replacement_that_venice_created_late_although_the_list_is_cached(
    manager_context, inference_key, shared_venice, sandbox, sandbox_session, sandbox_url
):
    # The create fails without an answer that rules it out (a 504 from a proxy)...
    sandbox.faults.inject("/api_keys", "POST", status=504, times=1)
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    assert rotation.state == State.FAILED and rotation.replacement_requested_at
    # ...someone opens the key list (now cached without the new key)...
    shared_venice.api_keys.list()
    # ...and Venice finishes the create a moment later.
    late = sandbox_session.post(
        sandbox_url("/api_keys"),
        json={"apiKeyType": "INFERENCE", "description": rotation.new_description},
    ).json()["data"]

    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)

    assert resumed.ok and resumed.secret
    alive = [
        key_id
        for key_id in sandbox.key_ids(include_expired=False)
        if sandbox.find_key(key_id).description == rotation.new_description
    ]
    assert sorted(alive) == sorted([inference_key.id, resumed.rotation.new_key_id])
    assert late["id"] not in alive
    deleted = AuditEvent.objects.get(action="key.deleted", key_id=late["id"])
    assert deleted.details["secret_lost"] is True


# --- 5. a crash during the replacement's create ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reconcile_after_a_crash_mid_create_flags_the_replacement_not_the_working_old_key(
    manager_context, inference_key, sandbox, database_fails
):
    posts = len(sandbox.received)

    def after_venice_created_it(sql, params):
        return len([r for r in sandbox.received[posts:] if r.method == "POST"]) > 0

    with pytest.raises(WorkerKilled), database_fails(after_venice_created_it, error=WorkerKilled()):
        rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    (made,) = [
        key_id
        for key_id in sandbox.key_ids()
        if key_id != inference_key.id and sandbox.find_key(key_id).description == "Billing worker"
    ]
    pending = AuditEvent.objects.get(outcome="pending")
    assert pending.action == "key.rotation.replacement_created"
    assert pending.key_id != inference_key.id  # it never named the key it did not create

    audit_reconcile(older_than=timedelta(0))

    pending.refresh_from_db()
    assert (pending.outcome, pending.key_id) == ("succeeded", made)
    assert pending.details[SECRET_LOST] is True
    assert audit_key_ids_with_lost_secret() == {made}
    _assert_chain_intact()


# --- 2. never delete one key of a rotation unless the other is alive ----------------------------


def test_the_replacement_of_an_open_rotation_cannot_be_deleted_on_its_own(
    manager_context, inference_key, shared_venice
):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    replacement = shared_venice.api_keys.get(rotation.new_key_id, fresh=True)
    with pytest.raises(KeyChangeRefused) as refused:
        api_key_delete(context=manager_context, key=replacement)
    assert refused.value.message == KEY_IS_A_RUNNING_REPLACEMENT.format(
        rotation=rotation.pk, old_last6=rotation.old_last6
    )
    assert shared_venice.api_keys.get(rotation.new_key_id, fresh=True) is not None


def test_rotation_never_deletes_the_old_key_when_the_replacement_is_gone(
    manager_context, admin_context, inference_key, sandbox, sandbox_session, sandbox_url
):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    # Someone deletes the replacement outside the portal during the grace period.
    sandbox_session.delete(sandbox_url("/api_keys"), params={"id": rotation.new_key_id})

    (outcome,) = rotation_finish_due(context=admin_context, now=rotation.retire_at)

    assert not outcome.ok
    rotation.refresh_from_db()
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.GRACE)
    assert sandbox.find_key(inference_key.id) is not None  # left alive
    record = AuditEvent.objects.get(action="key.rotation.old_key_deleted")
    assert record.outcome == "failed"
    assert ROTATION_REPLACEMENT_GONE in record.error
    assert ROTATION_REPLACEMENT_GONE in rotation.last_error
    _assert_chain_intact()


def test_abort_never_deletes_the_replacement_when_the_old_key_is_gone(
    manager_context, inference_key, sandbox, sandbox_session, sandbox_url
):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    sandbox_session.delete(sandbox_url("/api_keys"), params={"id": inference_key.id})

    with pytest.raises(RotationError) as refused:
        rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=True)

    assert refused.value.message == ROTATION_ABORT_OLD_KEY_GONE
    assert sandbox.find_key(rotation.new_key_id) is not None
    rotation.refresh_from_db()
    assert rotation.state == State.GRACE and rotation.last_error == ROTATION_ABORT_OLD_KEY_GONE
    record = AuditEvent.objects.get(action="key.rotation.aborted")
    assert record.outcome == "failed" and ROTATION_ABORT_OLD_KEY_GONE in record.error
    _assert_chain_intact()


# --- 3. a late resume gives the grace period it promised; the portal's own key stays ------------


def test_resuming_after_the_planned_end_plans_the_grace_period_again_from_now(
    manager_context, inference_key, shared_venice, sandbox, authenticates
):
    fault = sandbox.faults.inject("/api_keys", "PATCH", status=500)
    started = timezone.now()
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="1h", now=started
    ).rotation
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.REPLACEMENT_CREATED)
    sandbox.faults.remove(fault)

    later = started + timedelta(hours=2)
    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk, now=later)

    assert resumed.ok and resumed.rotation.state == State.GRACE
    assert resumed.rotation.retire_at == (later + timedelta(hours=1)).replace(microsecond=0)
    assert authenticates(inference_key.secret)  # not deleted: its grace starts now
    old = shared_venice.api_keys.get(inference_key.id, fresh=True)
    assert old.expires_at == resumed.rotation.retire_at
    scheduled = AuditEvent.objects.filter(action="key.rotation.old_key_scheduled").latest("id")
    assert scheduled.outcome == "succeeded"
    assert scheduled.details["replanned_from"] == rotation.retire_at.isoformat()
    _assert_chain_intact()


def _portal_key(shared_venice, sandbox):
    return next(k for k in shared_venice.api_keys.list() if k.last6 == sandbox.admin_key[-6:])


def test_a_late_resume_of_the_portals_own_key_keeps_the_portal_working(
    admin_context, shared_venice, sandbox
):
    portal_key = _portal_key(shared_venice, sandbox)
    fault = sandbox.faults.inject("/api_keys", "PATCH", status=500)
    started = timezone.now()
    rotation = rotation_start(
        context=admin_context, key_id=portal_key.id, grace="1h", now=started
    ).rotation
    sandbox.faults.remove(fault)

    resumed = rotation_resume(
        context=admin_context, rotation_id=rotation.pk, now=started + timedelta(hours=2)
    )

    assert resumed.rotation.state == State.GRACE
    assert sandbox.find_key(portal_key.id) is not None
    assert shared_venice.api_keys.list(fresh=True)  # the portal still gets in


def test_the_portals_own_key_is_never_deleted_while_the_portal_still_uses_it(
    admin_context, shared_venice, sandbox
):
    portal_key = _portal_key(shared_venice, sandbox)
    rotation = rotation_start(context=admin_context, key_id=portal_key.id, grace="1h").rotation

    (outcome,) = rotation_finish_due(context=admin_context, now=rotation.retire_at)

    assert not outcome.ok
    assert outcome.error.message == ROTATION_PORTAL_KEY_STILL_USED
    rotation.refresh_from_db()
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.GRACE)
    assert sandbox.find_key(portal_key.id) is not None
    assert not [r for r in sandbox.received if r.method == "DELETE"]
    _assert_chain_intact()


# --- 4. a failure after the replacement exists never loses its secret ---------------------------


def _update_of_rotation_to(state):
    return lambda sql, params: sql.startswith('UPDATE "accounts_rotation"') and state in params


def _pending_record_of(action):
    return lambda sql, params: (
        sql.startswith('INSERT INTO "accounts_auditevent"') and (action in params)
    )


# The portal runs in autocommit, where a refused statement does not poison the next one:
# these tests run outside a test-wide transaction to match.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(_update_of_rotation_to("replacement_created"), id="the-rotations-new-state"),
        pytest.param(
            _pending_record_of("key.rotation.old_key_scheduled"), id="the-next-steps-record"
        ),
    ],
)
def test_a_database_error_after_the_replacement_exists_hands_over_its_secret_first(
    manager_context, inference_key, shared_venice, sandbox, authenticates, database_fails, refused
):
    with database_fails(refused, times=1) as failures:
        outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")

    assert failures, "the database never refused anything"
    assert outcome.secret and authenticates(outcome.secret)
    assert not outcome.ok and "database" in outcome.error.user_message
    assert not [r for r in sandbox.received if r.method in ("PATCH", "DELETE")]
    assert authenticates(inference_key.secret)
    rotation = Rotation.objects.get()
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.REPLACEMENT_CREATED)
    assert rotation.new_key_id == sandbox.find_key(outcome.secret).id


@pytest.mark.django_db(transaction=True)
def test_a_database_that_stays_down_after_the_create_still_returns_the_secret(
    manager_context, inference_key, sandbox, authenticates, database_fails
):
    posts = len(sandbox.received)

    def after_the_create(sql, params):
        return any(r.method == "POST" for r in sandbox.received[posts:])

    with database_fails(after_the_create):
        outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")

    assert outcome.secret and authenticates(outcome.secret)
    assert not outcome.ok
    assert authenticates(inference_key.secret)
    assert not [r for r in sandbox.received if r.method in ("PATCH", "DELETE")]


# --- 7. an unreadable create answer ------------------------------------------------------------


def test_an_unreadable_replacement_create_leaves_no_key_the_log_does_not_know(
    manager_context, inference_key, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", malformed=True, times=1)

    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")

    assert not outcome.ok and outcome.secret is None
    assert outcome.rotation.failed_step == State.STARTED
    named = [k for k in sandbox.key_ids() if sandbox.find_key(k).description == "Billing worker"]
    assert named == [inference_key.id]  # Venice made one; it is deleted again, and said so
    orphan = AuditEvent.objects.get(action="key.deleted")
    assert orphan.outcome == "succeeded" and orphan.key_id != inference_key.id
    assert orphan.details[SECRET_LOST] is True

    resumed = rotation_resume(context=manager_context, rotation_id=outcome.rotation.pk)
    assert resumed.ok and resumed.secret
    _assert_chain_intact()
