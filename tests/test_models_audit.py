"""AuditEvent is append-only: the ORM refuses changes, and on PostgreSQL so does the database."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connections, transaction

from accounts.models import (
    GENESIS_HASH,
    AppendOnlyError,
    AuditAction,
    AuditChainHead,
    AuditEvent,
    AuditOutcome,
)
from accounts.selectors.audit import audit_chain_verify
from accounts.services.audit import audit_context_for_command, audit_log
from tests.factories import AuditEventFactory
from tests.fixtures.audit import postgres_only

pytestmark = pytest.mark.django_db


def test_finished_record_cannot_be_saved_again():
    event = AuditEventFactory()
    event.key_description = "Something else"
    with pytest.raises(AppendOnlyError, match="is finished"):
        event.save()
    event.refresh_from_db()
    assert event.key_description != "Something else"


def test_pending_record_may_be_finished_once_and_is_then_sealed():
    event = AuditEventFactory(pending=True)
    assert (event.sequence, event.hash) == (None, "")
    event.outcome = AuditOutcome.SUCCEEDED
    event.save()
    event.refresh_from_db()
    assert event.sequence == 1
    assert event.previous_hash == GENESIS_HASH
    assert event.hash == event.compute_hash()
    event.outcome = AuditOutcome.FAILED
    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).outcome == AuditOutcome.SUCCEEDED


def test_pending_record_cannot_change_who_or_what():
    event = AuditEventFactory(pending=True)
    event.action = AuditAction.KEY_DELETED
    event.outcome = AuditOutcome.SUCCEEDED
    with pytest.raises(AppendOnlyError, match="only its outcome"):
        event.save()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.outcome) == (AuditAction.KEY_UPDATED, AuditOutcome.PENDING)
    # The refused seal was rolled back with it: the chain did not move.
    assert AuditChainHead.objects.get().sequence == 0


def test_a_stale_copy_cannot_finish_a_record_twice():
    event = AuditEventFactory(pending=True)
    other_copy = AuditEvent.objects.get(pk=event.pk)
    event.outcome = AuditOutcome.SUCCEEDED
    event.save()
    other_copy.outcome = AuditOutcome.FAILED
    with pytest.raises(AppendOnlyError):
        other_copy.save()
    assert AuditEvent.objects.get(pk=event.pk).outcome == AuditOutcome.SUCCEEDED
    assert AuditChainHead.objects.get().sequence == 1


@pytest.mark.parametrize("pending", [False, True])
def test_no_record_can_be_deleted(pending):
    event = AuditEventFactory(pending=pending)
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_querysets_refuse_update_delete_and_bulk_writes():
    event = AuditEventFactory()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(outcome=AuditOutcome.FAILED)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["error"])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action=AuditAction.KEY_CREATED)])
    with pytest.raises(AppendOnlyError):
        AuditEvent._base_manager.filter(pk=event.pk).update(error="x")
    assert AuditEvent.objects.get().outcome == AuditOutcome.SUCCEEDED


def test_deleting_a_user_keeps_their_records_and_the_chain(admin_user):
    audit_log(audit_context_for_command(admin_user), action=AuditAction.AUDIT_EXPORTED)
    get_user_model().objects.filter(pk=admin_user.pk).delete()
    event = AuditEvent.objects.get()
    assert event.actor is None
    assert event.actor_username == "ada"
    assert audit_chain_verify().intact


@pytest.mark.parametrize("pending", [False, True], ids=["sealed-on-insert", "finished-later"])
def test_the_ip_hashed_is_the_ip_stored_when_it_came_with_an_ipv6_zone_id(pending):
    # The database drops "%eth0" (PostgreSQL's inet cannot hold it, Django strips it on the way
    # in), so a hash taken over it could never be checked against the stored record again.
    event = AuditEventFactory(ip="fe80::1%eth0", pending=pending)
    if pending:
        event.outcome = AuditOutcome.SUCCEEDED
        event.save()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.ip == event.ip == "fe80::1"
    assert stored.hash == event.hash == stored.compute_hash()
    assert audit_chain_verify().intact


@postgres_only
def test_trigger_refuses_raw_update_of_a_finished_record(raw_sql):
    event = AuditEventFactory()
    with pytest.raises(DatabaseError, match="finished and cannot be changed"):
        with transaction.atomic():
            raw_sql("UPDATE accounts_auditevent SET outcome = 'failed' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get().outcome == AuditOutcome.SUCCEEDED


@postgres_only
def test_trigger_refuses_raw_delete(raw_sql):
    finished = AuditEventFactory()
    pending = AuditEventFactory(pending=True)
    for event in (finished, pending):
        with pytest.raises(DatabaseError, match="cannot be deleted"):
            with transaction.atomic():
                raw_sql("DELETE FROM accounts_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.count() == 2


@postgres_only
def test_trigger_refuses_raw_rewrite_of_a_pending_records_identity(raw_sql):
    event = AuditEventFactory(pending=True)
    with pytest.raises(DatabaseError, match="only its outcome"):
        with transaction.atomic():
            raw_sql(
                "UPDATE accounts_auditevent SET actor_username = 'mallory' WHERE id = %s",
                [event.pk],
            )
    assert AuditEvent.objects.get().actor_username == event.actor_username


def _append_concurrently(threads: int, per_thread: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)
    context = audit_context_for_command(None, command="test")

    def work():
        try:
            start.wait()
            for _ in range(per_thread):
                audit_log(context, action=AuditAction.AUDIT_EXPORTED)
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_concurrent_appends_keep_one_valid_chain():
    # Each thread has its own connection, like gunicorn workers: without the head's lock two
    # of them would read the same head and fork the chain (the unique sequence would refuse
    # one, or the hashes would no longer link).
    assert _append_concurrently(threads=4, per_thread=15) == []
    report = audit_chain_verify()
    assert report.intact, report.problem
    assert report.count == 60
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 61))
