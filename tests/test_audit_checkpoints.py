"""verify_audit from signed checkpoints: only new records are read, and neither a rewrite of
old records nor of the checkpoints themselves goes unnoticed."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditCheckpoint, AuditEvent, chain_hash
from accounts.models.audit_checkpoint import checkpoint_signature
from accounts.selectors.audit_chain import CHECKPOINT_REWRITTEN
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

KEY = "checkpoint-key-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _checkpoint_key(settings):
    settings.AUDIT_CHECKPOINT_KEY = KEY


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def verified():
    """Five records, verified once: a signed checkpoint at sequence 5."""
    events = [AuditEventFactory() for _ in range(5)]
    assert "Audit chain intact: 5 records." in verify()
    return events


def test_an_intact_run_signs_a_checkpoint_at_the_head(verified):
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.sequence, checkpoint.hash) == (5, verified[-1].hash)
    assert checkpoint.full
    assert checkpoint.signature_holds(KEY)
    assert not checkpoint.signature_holds("another key")


def test_the_next_run_reads_only_the_records_sealed_since(verified):
    AuditEventFactory()
    AuditEventFactory()
    assert "Audit chain intact: 2 records after the checkpoint at sequence 5." in verify()
    newest = AuditCheckpoint.objects.order_by("-id").first()
    assert (newest.sequence, newest.full) == (7, False)


def test_full_reads_every_record(verified):
    AuditEventFactory()
    assert "Audit chain intact: 6 records." in verify("--full")


def test_a_tampered_record_older_than_the_checkpoint_is_caught_by_full(
    verified, raw_sql, without_audit_trigger
):
    raw_sql(
        "UPDATE accounts_auditevent SET key_description = 'innocent' WHERE id = %s",
        [verified[1].pk],
    )
    AuditEventFactory()
    # The daily run reads from the checkpoint on, so it cannot see this one...
    assert "Audit chain intact: 1 records after the checkpoint" in verify()
    # ...which is what --full is for.
    with pytest.raises(CommandError, match=rf"record #{verified[1].pk} .*changed after sealing"):
        verify("--full")


def test_a_tampered_checkpoint_is_caught(verified, raw_sql):
    checkpoint = AuditCheckpoint.objects.get()
    # Move it back so that a rewrite before it would not be re-read: the signature breaks.
    raw_sql("UPDATE accounts_auditcheckpoint SET sequence = 2 WHERE id = %s", [checkpoint.pk])
    with pytest.raises(CommandError, match="is not signed with AUDIT_CHECKPOINT_KEY") as err:
        verify()
    assert err.value.returncode == 1
    assert AuditCheckpoint.objects.count() == 1  # a failed run signs nothing


def test_a_checkpoint_signed_with_another_key_is_caught(verified):
    forged = AuditCheckpoint.objects.get()
    AuditCheckpoint.objects.create(
        sequence=forged.sequence,
        hash=forged.hash,
        verified_at=forged.verified_at,
        signature=checkpoint_signature(
            "a guessed key", sequence=5, hash=forged.hash, verified_at=forged.verified_at
        ),
    )
    with pytest.raises(CommandError, match="is not signed with AUDIT_CHECKPOINT_KEY"):
        verify()


def _rechain(raw_sql, start_pk: int) -> None:
    """What someone with the database but not the key could do: change a record and
    recompute every hash after it, and the head, so the chain itself holds again."""
    previous = None
    for event in AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence"):
        if previous is not None:
            event.previous_hash = previous
        if event.pk == start_pk:
            event.key_description = "rewritten"
        event.hash = chain_hash(event.previous_hash, event.canonical_content())
        raw_sql(
            "UPDATE accounts_auditevent SET key_description = %s, previous_hash = %s, hash = %s "
            "WHERE id = %s",
            [event.key_description, event.previous_hash, event.hash, event.pk],
        )
        previous = event.hash
    raw_sql("UPDATE accounts_auditchainhead SET hash = %s WHERE id = 1", [previous])


def test_old_records_rewritten_and_rechained_are_caught_by_the_daily_run(
    verified, raw_sql, without_audit_trigger
):
    _rechain(raw_sql, verified[1].pk)
    assert "Audit chain intact: 5 records." in verify_without_checkpoints()
    with pytest.raises(CommandError, match="no longer carries the hash") as err:
        verify()
    assert CHECKPOINT_REWRITTEN.format(sequence=5) in str(err.value)


def test_rewriting_the_records_and_the_checkpoint_is_still_caught(
    verified, raw_sql, without_audit_trigger
):
    _rechain(raw_sql, verified[1].pk)
    head = AuditEvent.objects.get(sequence=5).hash
    checkpoint = AuditCheckpoint.objects.get()
    raw_sql("UPDATE accounts_auditcheckpoint SET hash = %s WHERE id = %s", [head, checkpoint.pk])
    with pytest.raises(CommandError, match="is not signed with AUDIT_CHECKPOINT_KEY"):
        verify()


def verify_without_checkpoints() -> str:
    """The chain alone, as a run without the key sees it."""
    from django.test import override_settings

    with override_settings(AUDIT_CHECKPOINT_KEY=""):
        return verify()


def test_without_a_key_every_run_reads_everything_and_signs_nothing(settings):
    settings.AUDIT_CHECKPOINT_KEY = ""
    AuditEventFactory()
    output = verify()
    assert "AUDIT_CHECKPOINT_KEY is not set" in output
    assert "Audit chain intact: 1 records." in output
    assert not AuditCheckpoint.objects.exists()


def test_the_key_is_never_stored(verified, database_text):
    assert KEY not in database_text()


def test_after_a_change_of_key_full_signs_a_checkpoint_again(verified, settings):
    settings.AUDIT_CHECKPOINT_KEY = "the new key, after a rotation of secrets"
    with pytest.raises(CommandError, match="is not signed with AUDIT_CHECKPOINT_KEY"):
        verify()
    output = verify("--full")
    assert "is not signed with AUDIT_CHECKPOINT_KEY (the key changed" in output
    assert "Audit chain intact: 5 records." in output
    AuditEventFactory()
    assert "Audit chain intact: 1 records after the checkpoint at sequence 5." in verify()
