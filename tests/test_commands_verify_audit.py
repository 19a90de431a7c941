"""manage.py verify_audit: the hash chain holds, or every broken record is named."""

import threading
from contextlib import contextmanager
from dataclasses import replace
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from accounts.models import AuditAction, AuditChainHead
from accounts.selectors.audit import audit_chain_verify
from accounts.services.audit import audit_context_for_command, audit_log
from tests.factories import AuditEventFactory
from tests.fixtures.audit import postgres_only

pytestmark = pytest.mark.django_db


def verify():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.fixture
def chain():
    """Five sealed records and one still pending."""
    events = [AuditEventFactory() for _ in range(5)]
    AuditEventFactory(pending=True)
    return events


def test_intact_chain_is_reported_with_its_length(chain):
    output = verify()
    assert "Audit chain intact: 5 records." in output
    assert "1 pending record(s) are not sealed yet" in output


def test_empty_log_is_intact():
    assert "Audit chain intact: 0 records." in verify()


def test_edited_row_is_named(chain, raw_sql, without_audit_trigger):
    raw_sql(
        "UPDATE accounts_auditevent SET key_description = 'innocent' WHERE id = %s",
        [chain[2].pk],
    )
    with pytest.raises(CommandError, match=rf"record #{chain[2].pk} \(sequence 3") as err:
        verify()
    assert "changed after sealing" in str(err.value)
    assert err.value.returncode == 1


def test_edited_outcome_is_named(chain, raw_sql, without_audit_trigger):
    raw_sql("UPDATE accounts_auditevent SET outcome = 'failed' WHERE id = %s", [chain[0].pk])
    with pytest.raises(CommandError, match=rf"record #{chain[0].pk} .*changed after sealing"):
        verify()


def test_row_edited_and_rehashed_breaks_the_next_link(chain, raw_sql, without_audit_trigger):
    tampered = chain[1]
    tampered.key_description = "innocent"
    new_hash = tampered.compute_hash()
    raw_sql(
        "UPDATE accounts_auditevent SET key_description = 'innocent', hash = %s WHERE id = %s",
        [new_hash, tampered.pk],
    )
    with pytest.raises(CommandError, match=rf"record #{chain[2].pk} .*link to the record before"):
        verify()


def test_deleted_row_is_detected_at_the_next_record(chain, raw_sql, without_audit_trigger):
    raw_sql("DELETE FROM accounts_auditevent WHERE id = %s", [chain[1].pk])
    with pytest.raises(CommandError, match=rf"record #{chain[2].pk} .*1 record\(s\) before it"):
        verify()


def test_deleted_last_row_is_detected(chain, raw_sql, without_audit_trigger):
    raw_sql("DELETE FROM accounts_auditevent WHERE id = %s", [chain[4].pk])
    with pytest.raises(CommandError, match=r"the last 1 record\(s\) of the chain are missing"):
        verify()


def test_every_broken_record_is_named_and_the_records_after_each_are_still_checked(
    chain, raw_sql, without_audit_trigger
):
    second, fourth = chain[1], chain[3]
    raw_sql(
        "UPDATE accounts_auditevent SET key_description = 'innocent' WHERE id IN (%s, %s)",
        [second.pk, fourth.pk],
    )
    with pytest.raises(CommandError) as err:
        verify()
    message = str(err.value)
    assert err.value.returncode == 1
    assert "broken in 2 places (5 sealed records checked)" in message
    assert f"record #{second.pk} (sequence 2, key.updated, " in message
    assert f"record #{fourth.pk} (sequence 4, key.updated, " in message
    assert message.count("changed after sealing") == 2
    # Re-synchronised on each broken record: the ones after it were checked and fit.
    report = audit_chain_verify()
    assert [(b.record_id, b.sequence) for b in report.breaks] == [(second.pk, 2), (fourth.pk, 4)]
    assert (report.count, report.break_count) == (5, 2)


def test_a_break_after_a_break_is_found_too(chain, raw_sql, without_audit_trigger):
    raw_sql("UPDATE accounts_auditevent SET error = 'x' WHERE id = %s", [chain[1].pk])
    raw_sql("DELETE FROM accounts_auditevent WHERE id = %s", [chain[3].pk])
    report = audit_chain_verify()
    assert [(b.record_id, b.problem) for b in report.breaks] == [
        (chain[1].pk, "its content does not match its hash: it was changed after sealing"),
        (chain[4].pk, "1 record(s) before it are missing (sequence 4 expected, 5 found)"),
    ]
    assert report.count == 4


def test_a_long_list_of_broken_records_is_cut_short_and_says_how_many_more(
    raw_sql, without_audit_trigger
):
    events = [AuditEventFactory() for _ in range(25)]
    raw_sql("UPDATE accounts_auditevent SET key_description = 'innocent'")
    with pytest.raises(CommandError) as err:
        verify()
    message = str(err.value)
    assert "broken in 25 places (25 sealed records checked)" in message
    assert f"record #{events[19].pk} (sequence 20," in message
    assert f"record #{events[20].pk} (sequence 21," not in message
    assert "... and 5 more." in message


def test_records_written_by_the_services_verify(admin_user):
    context = audit_context_for_command(admin_user)
    audit_log(context, action=AuditAction.AUDIT_EXPORTED, details={"filters": {"n": 1.0}})
    audit_log(context, action=AuditAction.BILLING_USAGE_EXPORTED, details={"rows": 3})
    assert "Audit chain intact: 2 records." in verify()


@contextmanager
def a_record_sealed_before_every_query():
    """A busy portal, deterministically: before each query the block makes, another record is
    written and sealed (on the same connection, so the order is exact)."""
    context = audit_context_for_command(None, command="busy portal")
    sealing = False

    def seal_first(execute, sql, params, many, query_context):
        nonlocal sealing
        if not sealing:  # not before the writer's own queries
            sealing = True
            try:
                audit_log(context, action=AuditAction.AUDIT_EXPORTED)
            finally:
                sealing = False
        return execute(sql, params, many, query_context)

    with connection.execute_wrapper(seal_first):
        yield


def test_records_sealed_while_verify_runs_are_not_reported_missing(chain):
    with a_record_sealed_before_every_query():
        output = verify()
    assert "Audit chain intact" in output
    # Records sealed after the run read the chain's head are left to the next run.
    head = AuditChainHead.objects.get().sequence
    checked = int(output.split("Audit chain intact: ")[1].split()[0])
    assert 5 < checked < head
    assert f"Audit chain intact: {head} records." in verify()


def test_a_head_moved_back_over_sealed_records_is_detected(chain, raw_sql):
    # A run reads the head first and leaves records beyond it to the next run; a head that
    # was moved back by hand must not hide the records after it.
    raw_sql(
        "UPDATE accounts_auditchainhead SET sequence = 3, hash = %s WHERE id = 1", [chain[2].hash]
    )
    with pytest.raises(CommandError, match=rf"record #{chain[4].pk} \(sequence 5.*head"):
        verify()


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_verify_says_intact_on_every_run_while_eight_writers_seal_records():
    # Each writer has its own connection, like gunicorn workers, and seals as fast as the
    # chain's lock lets it; verify runs meanwhile on the main connection.
    context = audit_context_for_command(None, command="busy portal")
    started, stop, errors = threading.Barrier(9), threading.Event(), []

    def write():
        try:
            started.wait()
            while not stop.is_set():
                audit_log(context, action=AuditAction.AUDIT_EXPORTED)
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            errors.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=write) for _ in range(8)]
    for writer in writers:
        writer.start()
    outputs = []
    try:
        started.wait()
        for _ in range(20):
            try:
                outputs.append(verify())
            except CommandError as error:
                outputs.append(f"CommandError: {error}")
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert errors == []
    assert [output for output in outputs if "Audit chain intact" not in output] == []
    # The writers were sealing throughout: the runs saw the chain grow.
    lengths = [int(output.split("Audit chain intact: ")[1].split()[0]) for output in outputs]
    assert lengths[0] < lengths[-1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs a database other processes can open (SQLite's test database is in memory)",
)
def test_processes_sharing_the_walk_report_exactly_what_one_walk_reports(raw_sql):
    """Forty committed records in eight stretches of five: one edited at a stretch's end,
    one deleted at another's, one edited in the middle of a third."""
    events = [AuditEventFactory() for _ in range(40)]
    by_sequence = {event.sequence: event for event in events}
    first = min(by_sequence)
    raw_sql("ALTER TABLE accounts_auditevent DISABLE TRIGGER USER")
    try:
        raw_sql(
            "UPDATE accounts_auditevent SET key_description = 'innocent' WHERE id IN (%s, %s)",
            [by_sequence[first + 9].pk, by_sequence[first + 26].pk],
        )
        raw_sql("DELETE FROM accounts_auditevent WHERE id = %s", [by_sequence[first + 19].pk])
    finally:
        raw_sql("ALTER TABLE accounts_auditevent ENABLE TRIGGER USER")

    alone = audit_chain_verify()
    shared = audit_chain_verify(workers=2, parallel_from=0)

    assert shared.processes == 2 and alone.processes == 1
    assert replace(shared, processes=1) == alone
    assert alone.break_count == 3 and alone.count == 39
    assert [chain_break.sequence for chain_break in alone.breaks] == [
        first + 9,
        first + 20,
        first + 26,
    ]
