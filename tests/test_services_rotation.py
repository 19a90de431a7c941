"""accounts/services/rotation.py: the rotation workflow, its failures, resume, abort and cron.

Everything goes through the sandbox over the real requests stack; faults are the sandbox's.
"""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Rotation
from accounts.roles import FINANCE
from accounts.services.audit import SECRET_LOST
from accounts.services.rotation import (
    GRACE_CUSTOM_IN_PAST,
    NEW_EXPIRY_IN_PAST,
    ROTATION_ABORT_WOULD_LEAVE_NO_KEY,
    ROTATION_ADMIN_KEY_REFUSED,
    ROTATION_ALREADY_OPEN,
    ROTATION_BUSY,
    ROTATION_KEY_NOT_FOUND,
    ROTATION_NOT_ABORTABLE,
    ROTATION_PORTAL_KEY_NOW,
    ROTATION_REFUSED,
    RotationError,
    RotationRefused,
    rotation_abort,
    rotation_finish_due,
    rotation_resume,
    rotation_start,
)
from accounts.venice import LimitPeriod, ModelPrivacy, UpstreamUnavailableError
from tests.fixtures.audit import postgres_only

pytestmark = pytest.mark.django_db

State = Rotation.State


def _trail():
    events = AuditEvent.objects.order_by("id")
    return [(event.action, event.outcome) for event in events]


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()
    assert not AuditEvent.objects.filter(outcome="pending").exists()


def _posts(sandbox):
    return [r for r in sandbox.received if r.method == "POST" and r.path == "/api_keys"]


def _calls(sandbox, method):
    return [r for r in sandbox.received if r.method == method and r.path == "/api_keys"]


def _replacements(shared_venice, rotation):
    """The keys at Venice, other than the old key, that could be this rotation's replacement
    (a replacement keeps the old key's description)."""
    return [
        key
        for key in shared_venice.api_keys.list(fresh=True)
        if key.description == rotation.new_description and key.id != rotation.old_key_id
    ]


# --- the happy paths ---------------------------------------------------------------------------


def test_replacement_copies_type_limits_period_privacy_and_gets_the_chosen_expiry(
    manager_context, inference_key, shared_venice, sandbox
):
    expires = timezone.now() + timedelta(days=90)
    outcome = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h", new_expires_at=expires
    )
    rotation = outcome.rotation
    sent = _posts(sandbox)[-1].json
    assert sent["apiKeyType"] == "INFERENCE"
    assert sent["consumptionLimit"] == {"usd": 25, "diem": 3}
    assert sent["limitPeriod"] == "MONTH"
    assert sent["modelPrivacy"] == "PRIVATE_ONLY"
    assert sent["description"] == "Billing worker"
    assert sent["expiresAt"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))
    new = shared_venice.api_keys.get(rotation.new_key_id)
    assert (new.limit_period, new.model_privacy) == (LimitPeriod.MONTH, ModelPrivacy.PRIVATE_ONLY)
    assert new.last6 == rotation.new_last6 == outcome.secret[-6:]


def test_grace_period_sets_the_old_keys_expiry_so_venice_itself_stops_it(
    manager_context, inference_key, shared_venice, sandbox, authenticates
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    rotation = outcome.rotation
    assert outcome.ok and rotation.state == State.GRACE
    patch = _calls(sandbox, "PATCH")[-1].json
    assert patch == {
        "id": inference_key.id,
        "expiresAt": rotation.retire_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    assert authenticates(inference_key.secret) and authenticates(outcome.secret)

    sandbox.clock.set(rotation.retire_at + timedelta(seconds=1))
    assert not authenticates(inference_key.secret)
    assert authenticates(outcome.secret)


@pytest.mark.parametrize(
    ("grace", "delta"),
    [("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))],
)
def test_each_grace_choice_retires_the_old_key_that_much_later(
    manager_context, inference_key, grace, delta
):
    now = timezone.now().replace(microsecond=0)
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace=grace, now=now
    ).rotation
    assert rotation.retire_at == now + delta
    assert rotation.grace == grace


def test_custom_grace_retires_the_old_key_at_the_chosen_time(manager_context, inference_key):
    ends = (timezone.now() + timedelta(hours=5)).replace(microsecond=0)
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="custom", grace_ends_at=ends
    ).rotation
    assert (rotation.grace, rotation.retire_at, rotation.state) == ("custom", ends, State.GRACE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grace": "custom", "grace_ends_at": timezone.now() - timedelta(hours=1)}, None),
        ({"grace": "24h", "new_expires_at": timezone.now() - timedelta(days=1)}, None),
    ],
    ids=["grace-end-in-the-past", "new-expiry-in-the-past"],
)
def test_times_in_the_past_are_refused_before_anything_happens(
    manager_context, inference_key, sandbox, kwargs, message
):
    posts = len(_posts(sandbox))
    with pytest.raises(RotationError) as refused:
        rotation_start(context=manager_context, key_id=inference_key.id, **kwargs)
    assert refused.value.message in (GRACE_CUSTOM_IN_PAST, NEW_EXPIRY_IN_PAST)
    assert not Rotation.objects.exists()
    assert not AuditEvent.objects.exists()
    assert len(_posts(sandbox)) == posts


def test_grace_never_lengthens_the_life_of_a_key_that_expires_sooner(
    manager_context, shared_venice, sandbox
):
    soon = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    key = shared_venice.api_keys.create("Short lived", expires_at=soon)
    rotation = rotation_start(context=manager_context, key_id=key.id, grace="7d").rotation
    assert rotation.retire_at == soon
    assert rotation.old_expires_at == soon


def test_rotating_without_grace_deletes_the_old_key_and_completes(
    manager_context, inference_key, shared_venice, authenticates
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="now")
    rotation = outcome.rotation
    assert rotation.state == State.COMPLETED
    assert rotation.old_key_deleted_at is not None and rotation.finished_at is not None
    assert shared_venice.api_keys.get(inference_key.id) is None
    assert not authenticates(inference_key.secret)
    assert authenticates(outcome.secret)
    assert _trail() == [
        ("key.rotation.started", "succeeded"),
        ("key.rotation.replacement_created", "succeeded"),
        ("key.rotation.old_key_deleted", "succeeded"),
        ("key.rotation.completed", "succeeded"),
    ]
    _assert_chain_intact()


def test_audit_records_name_who_which_key_and_the_rotation(manager_context, inference_key):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    started, created, scheduled = AuditEvent.objects.order_by("id")
    for event in (started, created, scheduled):
        assert (event.actor_username, event.actor_role) == ("kim", "Key manager")
        assert (event.ip, event.request_id) == ("198.51.100.7", "req-rotation-0001")
        assert event.details["rotation"] == rotation.pk
    assert (started.key_id, started.key_last6) == (inference_key.id, inference_key.last6)
    assert (created.key_id, created.key_last6) == (rotation.new_key_id, rotation.new_last6)
    assert created.details["old_key_id"] == inference_key.id
    assert scheduled.key_id == inference_key.id
    assert scheduled.changes == {"expires_at": [None, rotation.retire_at.isoformat()]}
    _assert_chain_intact()


def test_the_secret_is_returned_once_and_never_stored_cached_or_logged(
    manager_context, inference_key, database_text, cache_text, all_logs
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="now")
    assert outcome.secret and outcome.secret not in repr(outcome)
    for text in (database_text(), cache_text(), all_logs.text):
        assert outcome.secret not in text
        assert outcome.secret[:-6] not in text


# --- descriptions ------------------------------------------------------------------------------


def test_the_replacement_of_a_64_character_description_fits_venices_limit(
    manager_context, shared_venice, sandbox
):
    key = shared_venice.api_keys.create("d" * 64)
    outcome = rotation_start(context=manager_context, key_id=key.id, grace="1h")
    assert outcome.ok
    assert len(_posts(sandbox)[-1].json["description"]) == 64


# --- who may rotate what, and one open rotation per key --------------------------------------


def test_key_manager_cannot_rotate_an_admin_key(manager_context, admin_api_key, sandbox):
    posts = len(_posts(sandbox))
    with pytest.raises(RotationRefused) as refused:
        rotation_start(context=manager_context, key_id=admin_api_key.id, grace="24h")
    assert refused.value.message == ROTATION_ADMIN_KEY_REFUSED
    assert not Rotation.objects.exists() and not AuditEvent.objects.exists()
    assert len(_posts(sandbox)) == posts


def test_administrator_may_rotate_an_admin_key(admin_context, admin_api_key, sandbox):
    outcome = rotation_start(context=admin_context, key_id=admin_api_key.id, grace="24h")
    assert outcome.ok
    assert _posts(sandbox)[-1].json["apiKeyType"] == "ADMIN"


def test_finance_cannot_rotate_any_key(user_with_role, inference_key):
    from accounts.services.audit import audit_context_for_command

    context = audit_context_for_command(user_with_role(FINANCE))
    with pytest.raises(RotationRefused) as refused:
        rotation_start(context=context, key_id=inference_key.id, grace="24h")
    assert refused.value.message == ROTATION_REFUSED


def test_an_unknown_key_is_refused(manager_context):
    with pytest.raises(RotationError) as refused:
        rotation_start(context=manager_context, key_id="no-such-key", grace="24h")
    assert refused.value.message == ROTATION_KEY_NOT_FOUND


def test_the_portals_own_key_is_never_deleted_at_once(admin_context, shared_venice, sandbox):
    portal_key = next(k for k in shared_venice.api_keys.list() if k.last6 == sandbox.admin_key[-6:])
    with pytest.raises(RotationError) as refused:
        rotation_start(context=admin_context, key_id=portal_key.id, grace="now")
    assert refused.value.message == ROTATION_PORTAL_KEY_NOW


def test_a_second_rotation_of_a_key_is_refused_while_the_first_is_open(
    manager_context, inference_key, sandbox
):
    rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    posts = len(_posts(sandbox))
    with pytest.raises(RotationError) as refused:
        rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    assert refused.value.message == ROTATION_ALREADY_OPEN
    assert Rotation.objects.count() == 1
    assert len(_posts(sandbox)) == posts
    refused_record = AuditEvent.objects.order_by("id").last()
    assert (refused_record.action, refused_record.outcome) == ("key.rotation.started", "failed")
    assert ROTATION_ALREADY_OPEN in refused_record.error
    _assert_chain_intact()


def test_a_failed_rotation_still_holds_the_key(manager_context, inference_key, sandbox):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    assert not rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").ok
    with pytest.raises(RotationError, match="already has a rotation"):
        rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")


def test_after_an_abort_the_key_can_be_rotated_again(manager_context, inference_key):
    first = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    rotation_abort(context=manager_context, rotation_id=first.rotation.pk, delete_replacement=True)
    second = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    assert second.ok and second.rotation.pk != first.rotation.pk


def test_the_database_refuses_a_second_open_rotation_of_one_key(db):
    fields = {"old_key_id": "k1", "old_key_type": "INFERENCE", "grace": "1h"}
    Rotation.objects.create(**fields, state=State.COMPLETED, started_by_username="a")
    Rotation.objects.create(**fields, state=State.FAILED, started_by_username="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Rotation.objects.create(**fields, state=State.GRACE, started_by_username="b")


def test_the_database_refuses_an_unknown_state(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rotation.objects.create(
            old_key_id="k1",
            old_key_type="INFERENCE",
            grace="1h",
            state="half-done",
            started_by_username="a",
        )


# --- each step failing in turn, and resuming --------------------------------------------------


def test_a_failed_replacement_create_changes_nothing_and_resumes(
    manager_context, inference_key, shared_venice, sandbox, authenticates
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    rotation = outcome.rotation
    assert not outcome.ok and outcome.secret is None
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.STARTED)
    assert rotation.last_error == outcome.error.user_message
    assert not rotation.new_key_id
    assert not _calls(sandbox, "PATCH")
    assert _trail() == [
        ("key.rotation.started", "succeeded"),
        ("key.rotation.replacement_created", "failed"),
        ("key.rotation.failed", "failed"),
    ]

    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert resumed.ok and resumed.secret and authenticates(resumed.secret)
    assert resumed.rotation.state == State.GRACE
    assert len(_replacements(shared_venice, resumed.rotation)) == 1
    _assert_chain_intact()


def test_a_create_that_timed_out_never_leaves_two_replacements(
    manager_context, inference_key, shared_venice, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    rotation = outcome.rotation
    assert isinstance(outcome.error, UpstreamUnavailableError)
    assert rotation.state == State.FAILED and not rotation.new_key_id
    # Venice did create it, and nobody ever saw its secret: it is deleted at once, and said so.
    assert _replacements(shared_venice, rotation) == []
    deleted = AuditEvent.objects.get(action="key.deleted")
    assert deleted.outcome == "succeeded" and deleted.details[SECRET_LOST] is True
    assert sandbox.find_key(deleted.key_id) is None

    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert resumed.ok and resumed.secret
    (replacement,) = _replacements(shared_venice, rotation)
    assert replacement.id == resumed.rotation.new_key_id != deleted.key_id
    _assert_chain_intact()


def test_a_failed_expiry_change_still_hands_over_the_secret_and_resumes_to_grace(
    manager_context, inference_key, shared_venice, sandbox, authenticates
):
    fault = sandbox.faults.inject("/api_keys", "PATCH", status=500)
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    rotation = outcome.rotation
    assert not outcome.ok
    assert outcome.secret and authenticates(outcome.secret)  # shown now, or lost
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.REPLACEMENT_CREATED)
    assert shared_venice.api_keys.get(inference_key.id).expires_at is None

    sandbox.faults.remove(fault)
    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert resumed.ok and resumed.secret is None
    assert resumed.rotation.state == State.GRACE
    assert shared_venice.api_keys.get(inference_key.id).expires_at == resumed.rotation.retire_at
    assert len(_posts(sandbox)) == 2  # the fixture's key and the one replacement
    _assert_chain_intact()


def test_a_failed_delete_of_the_old_key_resumes_to_completion(
    manager_context, inference_key, shared_venice, sandbox
):
    fault = sandbox.faults.inject("/api_keys", "DELETE", status=500)
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="now")
    rotation = outcome.rotation
    assert not outcome.ok and outcome.secret
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.REPLACEMENT_CREATED)
    assert shared_venice.api_keys.get(inference_key.id) is not None

    sandbox.faults.remove(fault)
    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert resumed.ok and resumed.rotation.state == State.COMPLETED
    assert shared_venice.api_keys.get(inference_key.id) is None
    assert [a for a, _ in _trail()] == [
        "key.rotation.started",
        "key.rotation.replacement_created",
        "key.rotation.old_key_deleted",
        "key.rotation.failed",
        "key.rotation.old_key_deleted",
        "key.rotation.completed",
    ]
    _assert_chain_intact()


def test_a_failed_delete_at_the_end_of_grace_waits_for_a_person(
    manager_context, admin_context, inference_key, shared_venice, sandbox
):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    later = rotation.retire_at + timedelta(minutes=1)
    fault = sandbox.faults.inject("/api_keys", "DELETE", status=500)
    (outcome,) = rotation_finish_due(context=admin_context, now=later)
    assert not outcome.ok
    rotation.refresh_from_db()
    assert (rotation.state, rotation.failed_step) == (State.FAILED, State.GRACE)
    deletes = len(_calls(sandbox, "DELETE"))
    assert rotation_finish_due(context=admin_context, now=later) == []
    assert len(_calls(sandbox, "DELETE")) == deletes  # not retried every minute

    sandbox.faults.remove(fault)
    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk, now=later)
    assert resumed.ok and resumed.rotation.state == State.COMPLETED
    assert shared_venice.api_keys.get(inference_key.id) is None
    _assert_chain_intact()


def test_resuming_before_the_grace_period_ends_is_refused(manager_context, inference_key):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    with pytest.raises(RotationError, match="waiting for its grace period"):
        rotation_resume(context=manager_context, rotation_id=rotation.pk)


def test_resuming_a_rotation_another_request_is_working_on_is_refused(
    manager_context, inference_key, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    Rotation.objects.filter(pk=rotation.pk).update(
        lease_until=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(RotationError) as refused:
        rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert refused.value.message == ROTATION_BUSY


def test_a_rotation_whose_worker_died_mid_create_resumes_without_a_second_replacement(
    manager_context, inference_key, shared_venice
):
    # A crash between Venice creating the key and the portal hearing of it: the row still says
    # "started", the lease has run out, and the key exists upstream.
    rotation = Rotation.objects.create(
        old_key_id=inference_key.id,
        old_description=inference_key.description,
        old_last6=inference_key.last6,
        old_key_type="INFERENCE",
        grace="1h",
        retire_at=timezone.now() + timedelta(hours=1),
        started_by_username="kim",
        replacement_requested_at=timezone.now() - timedelta(minutes=1),
        lease_until=timezone.now() - timedelta(seconds=1),
        new_description=inference_key.description,
    )
    orphan = shared_venice.api_keys.create(rotation.new_description)

    resumed = rotation_resume(context=manager_context, rotation_id=rotation.pk)
    assert resumed.ok and resumed.secret
    (replacement,) = _replacements(shared_venice, rotation)
    assert replacement.id == resumed.rotation.new_key_id != orphan.id


# --- abort ------------------------------------------------------------------------------------


def test_abort_in_grace_gives_the_old_key_back_its_life_and_keeps_the_replacement(
    manager_context, inference_key, shared_venice, sandbox, authenticates
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h")
    rotation = rotation_abort(
        context=manager_context, rotation_id=outcome.rotation.pk, delete_replacement=False
    )
    assert rotation.state == State.ABORTED and rotation.finished_at is not None
    assert _calls(sandbox, "PATCH")[-1].json == {"id": inference_key.id, "expiresAt": None}
    assert shared_venice.api_keys.get(rotation.new_key_id) is not None
    sandbox.clock.set(outcome.rotation.retire_at + timedelta(hours=1))
    assert authenticates(inference_key.secret) and authenticates(outcome.secret)
    aborted = AuditEvent.objects.get(action="key.rotation.aborted")
    assert aborted.outcome == "succeeded"
    assert aborted.details["delete_replacement"] is False
    _assert_chain_intact()


def test_abort_with_delete_replacement_deletes_it(
    manager_context, inference_key, shared_venice, authenticates
):
    outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    rotation_abort(
        context=manager_context, rotation_id=outcome.rotation.pk, delete_replacement=True
    )
    assert shared_venice.api_keys.get(outcome.rotation.new_key_id) is None
    assert not authenticates(outcome.secret)
    assert authenticates(inference_key.secret)
    assert AuditEvent.objects.get(action="key.rotation.aborted").details["replacement_deleted"]
    _assert_chain_intact()


def test_abort_after_a_create_that_timed_out_deletes_the_orphan(
    manager_context, inference_key, shared_venice, sandbox, sandbox_session, sandbox_url
):
    sandbox.faults.inject("/api_keys", "POST", status=504, times=1)
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    # Venice finishes the create after the portal stopped looking.
    orphan = sandbox_session.post(
        sandbox_url("/api_keys"),
        json={"apiKeyType": "INFERENCE", "description": rotation.new_description},
    ).json()["data"]
    rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=False)
    assert shared_venice.api_keys.get(orphan["id"]) is None
    assert shared_venice.api_keys.get(inference_key.id) is not None
    _assert_chain_intact()


def test_abort_refuses_to_delete_the_only_key_left(manager_context, inference_key):
    rotation = Rotation.objects.create(
        old_key_id=inference_key.id,
        old_key_type="INFERENCE",
        grace="now",
        state=State.FAILED,
        failed_step=State.GRACE,
        new_key_id="new-key",
        old_key_deleted_at=timezone.now(),
        started_by_username="kim",
    )
    with pytest.raises(RotationError) as refused:
        rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=True)
    assert refused.value.message == ROTATION_ABORT_WOULD_LEAVE_NO_KEY


def test_a_finished_rotation_cannot_be_aborted(manager_context, inference_key):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="now"
    ).rotation
    with pytest.raises(RotationError) as refused:
        rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=True)
    assert refused.value.message == ROTATION_NOT_ABORTABLE.format(state="Completed")


def test_a_failed_abort_leaves_the_rotation_open_to_try_again(
    manager_context, inference_key, sandbox
):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    fault = sandbox.faults.inject("/api_keys", "DELETE", status=500)
    with pytest.raises(UpstreamUnavailableError):
        rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=True)
    rotation.refresh_from_db()
    assert rotation.state == State.GRACE and rotation.last_error
    assert AuditEvent.objects.get(action="key.rotation.aborted").outcome == "failed"

    sandbox.faults.remove(fault)
    rotation_abort(context=manager_context, rotation_id=rotation.pk, delete_replacement=True)
    rotation.refresh_from_db()
    assert rotation.state == State.ABORTED
    _assert_chain_intact()


# --- finishing grace periods (cron) ------------------------------------------------------------


def test_finish_due_deletes_only_the_old_keys_whose_grace_has_ended(
    manager_context, admin_context, inference_key, shared_venice
):
    other = shared_venice.api_keys.create("Reporting job")
    due = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    later = rotation_start(context=manager_context, key_id=other.id, grace="7d").rotation

    outcomes = rotation_finish_due(context=admin_context, now=due.retire_at)
    assert [o.rotation.pk for o in outcomes] == [due.pk]
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.state == State.COMPLETED and later.state == State.GRACE
    assert shared_venice.api_keys.get(inference_key.id) is None
    assert shared_venice.api_keys.get(other.id) is not None
    _assert_chain_intact()


def test_finish_due_run_twice_deletes_once(manager_context, admin_context, inference_key, sandbox):
    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    later = rotation.retire_at + timedelta(minutes=5)
    assert len(rotation_finish_due(context=admin_context, now=later)) == 1
    assert rotation_finish_due(context=admin_context, now=later) == []
    assert len(_calls(sandbox, "DELETE")) == 1
    assert AuditEvent.objects.filter(action="key.rotation.old_key_deleted").count() == 1
    assert AuditEvent.objects.filter(action="key.rotation.completed").count() == 1


# --- races between connections (PostgreSQL) ---------------------------------------------------


def _in_threads(count, work):
    """Run `work(i)` in `count` threads that start together; each has its own connection."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_rotations_racing_for_one_key_leave_exactly_one(
    manager_context, inference_key, shared_venice, sandbox
):
    results = _in_threads(
        2,
        lambda i: rotation_start(context=manager_context, key_id=inference_key.id, grace="1h"),
    )
    refused = [r for r in results if isinstance(r, RotationError)]
    started = [r for r in results if not isinstance(r, Exception)]
    assert len(started) == 1 and started[0].ok
    assert len(refused) == 1 and refused[0].message == ROTATION_ALREADY_OPEN
    assert Rotation.objects.count() == 1
    assert len(_posts(sandbox)) == 2  # the fixture's key and one replacement
    starts = AuditEvent.objects.filter(action="key.rotation.started")
    assert sorted(starts.values_list("outcome", flat=True)) == ["failed", "succeeded"]
    assert ROTATION_ALREADY_OPEN in starts.get(outcome="failed").error
    _assert_chain_intact()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_finish_runs_delete_each_old_key_once(
    manager_context, admin_context, shared_venice, sandbox
):
    rotations = []
    for n in range(3):
        key = shared_venice.api_keys.create(f"Worker {n}")
        rotations.append(
            rotation_start(context=manager_context, key_id=key.id, grace="1h").rotation
        )
    later = max(r.retire_at for r in rotations) + timedelta(minutes=1)
    results = _in_threads(3, lambda i: rotation_finish_due(context=admin_context, now=later))
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(len(r) for r in results) == 3
    assert len(_calls(sandbox, "DELETE")) == 3
    assert AuditEvent.objects.filter(action="key.rotation.old_key_deleted").count() == 3
    assert set(Rotation.objects.values_list("state", flat=True)) == {State.COMPLETED}
