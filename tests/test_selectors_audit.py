"""accounts/selectors/audit.py: keyset walks, a key's trail, lost secrets, drift."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from accounts.models import AuditAction, AuditOutcome
from accounts.selectors.audit import (
    AuditFilters,
    Cursor,
    InvalidCursor,
    audit_drift,
    audit_events_filtered,
    audit_events_for_key,
    audit_events_iter,
    audit_key_ids_with_lost_secret,
    audit_page,
)
from accounts.services.audit import SECRET_LOST
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_cursor_round_trips_to_the_microsecond():
    cursor = Cursor(time=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), id=42)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", "abc", "12", "1.x", "99999999999999999999999.1"])
def test_malformed_cursor_is_refused(text):
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_records_sharing_a_timestamp_are_split_by_id():
    same = [AuditEventFactory(time=T0) for _ in range(3)]
    first = audit_page(AuditFilters(), size=2)
    second = audit_page(AuditFilters(), before=first.next_cursor, size=2)
    assert [e.pk for e in first.events + second.events] == [e.pk for e in reversed(same)]
    assert second.next_cursor is None


def test_iter_walks_every_chunk_newest_first():
    events = [AuditEventFactory(time=T0 + timedelta(seconds=i)) for i in range(7)]
    walked = list(audit_events_iter(AuditFilters(), chunk=3))
    assert [e.pk for e in walked] == [e.pk for e in reversed(events)]


def test_iter_stops_at_until():
    old = AuditEventFactory(time=T0)
    AuditEventFactory(time=T0 + timedelta(hours=1))
    assert list(audit_events_iter(AuditFilters(), until=T0 + timedelta(minutes=1))) == [old]


def test_a_keys_trail_is_its_records_newest_first():
    first = AuditEventFactory(key_id="k1", time=T0)
    second = AuditEventFactory(key_id="k1", time=T0 + timedelta(minutes=1))
    AuditEventFactory(key_id="k2")
    assert audit_events_for_key("k1") == [second, first]


def test_keys_whose_secret_was_lost_are_found():
    AuditEventFactory(action=AuditAction.KEY_CREATED, key_id="lost", details={SECRET_LOST: True})
    AuditEventFactory(action=AuditAction.KEY_CREATED, key_id="fine")
    assert audit_key_ids_with_lost_secret() == {"lost"}
    assert audit_key_ids_with_lost_secret(["fine"]) == set()


def test_drift_ignores_failed_creates_and_counts_beyond_what_it_lists(sandbox):
    from accounts.venice import get_client

    keys = get_client().api_keys.list()
    AuditEventFactory(action=AuditAction.KEY_CREATED, key_id=keys[0].id, failed=True)
    drift = audit_drift(keys)
    assert keys[0] in drift.unrecorded
    assert drift.unrecorded_total == len(keys)
    assert drift.vanished_total == 0


sqlite_plans = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL plans an empty table as a sequential scan"
)


@sqlite_plans
def test_an_actor_and_action_filter_reads_one_index_range():
    # Without a (actor, action, time, id) index, a pair that matches nothing reads every record
    # of the action (bench/audit.py); with it, the page is one range of one index, in order.
    plan = audit_events_filtered(AuditFilters(actor="kim", actions=("key.deleted",)))[:51].explain()
    assert "audit_actor_action_time_id" in plan
    assert "TEMP B-TREE" not in plan  # no sort: the index gives the page's order


@sqlite_plans
def test_sqlite_starts_a_key_and_outcome_filter_from_the_key():
    # Without the statistics of migration 0007 SQLite walks the outcome index instead: 96 % of
    # the records are "succeeded", so it reads nearly all of them to find one key's few.
    plan = audit_events_filtered(AuditFilters(key_ids=("k",), outcome="succeeded"))[:51].explain()
    assert "audit_key_time_id" in plan


@sqlite_plans
def test_every_index_of_the_audit_table_has_planner_statistics():
    # An index the statistics do not describe is rated by SQLite's defaults, as selective as
    # any: migration 0020's (action, outcome, ...) index then won an action-only filter and
    # the page sorted 83,000 records (bench/audit.py's worst combination, 260 ms).
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA index_list(accounts_auditevent)")
        indexes = {row[1] for row in cursor.fetchall()}
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'accounts_auditevent'")
        described = {row[0] for row in cursor.fetchall()}
    assert indexes - described == set()


@sqlite_plans
def test_an_action_filter_reads_the_actions_range_in_order():
    plan = audit_events_filtered(AuditFilters(actions=("key.updated",)))[:51].explain()
    assert "audit_action_time_id" in plan
    assert "TEMP B-TREE" not in plan


def test_drift_is_reused_while_nothing_changed(sandbox, django_assert_num_queries):
    keys = sandbox_keys()
    AuditEventFactory(action=AuditAction.KEY_UPDATED, key_id="gone")
    first = audit_drift(keys)
    # Only the two lookups that name the records' state: the comparison is not run again.
    with django_assert_num_queries(2):
        assert audit_drift(keys) == first


def test_drift_is_computed_again_when_a_pending_record_is_finished():
    AuditEventFactory(action=AuditAction.KEY_UPDATED, key_id="gone")
    pending = AuditEventFactory(
        action=AuditAction.KEY_DELETED, key_id="gone", outcome=AuditOutcome.PENDING
    )
    assert [key_id for key_id, _ in audit_drift([]).vanished] == ["gone"]
    pending.outcome = AuditOutcome.SUCCEEDED
    pending.save()
    assert audit_drift([]).vanished == []


def test_drift_is_computed_again_when_a_record_is_added(sandbox):
    keys = sandbox_keys()
    assert keys[0] in audit_drift(keys).unrecorded
    AuditEventFactory(action=AuditAction.KEY_CREATED, key_id=keys[0].id)
    assert keys[0] not in audit_drift(keys).unrecorded


def test_drift_shows_what_venice_says_now_about_a_key(sandbox):
    keys = sandbox_keys()
    assert audit_drift(keys).unrecorded[0].description == keys[0].description
    renamed = [dataclasses.replace(keys[0], description="Renamed at Venice"), *keys[1:]]
    assert audit_drift(renamed).unrecorded[0].description == "Renamed at Venice"


def sandbox_keys():
    from accounts.venice import get_client

    return sorted(get_client().api_keys.list(), key=lambda key: (key.created_at, key.id))


def test_pending_delete_does_not_count_as_recorded():
    AuditEventFactory(action=AuditAction.KEY_UPDATED, key_id="gone")
    AuditEventFactory(action=AuditAction.KEY_DELETED, key_id="gone", outcome=AuditOutcome.PENDING)
    drift = audit_drift([])
    assert [key_id for key_id, _ in drift.vanished] == ["gone"]
