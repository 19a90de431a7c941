"""accounts/selectors/audit_keys.py: finding keys by name, kept up to date record by record."""

import pytest

from accounts.models import AuditAction, AuditOutcome
from accounts.selectors.audit_keys import audit_key_names, audit_keys_matching
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


def test_a_pending_create_is_found_by_name_once_its_key_is_noted_and_sealed():
    AuditEventFactory(key_description="Staging")
    assert not audit_keys_matching("nightly").matches
    pending = AuditEventFactory(
        action=AuditAction.KEY_CREATED,
        key_id="",
        key_description="Nightly reports",
        key_last6="",
        outcome=AuditOutcome.PENDING,
        completed_at=None,
    )
    assert not audit_keys_matching("nightly").matches  # no key id yet: nothing to find
    pending.key_id, pending.key_last6 = "k-nightly", "Ab12Cd"
    pending.outcome = AuditOutcome.SUCCEEDED
    pending.save()
    (match,) = audit_keys_matching("nightly").matches
    assert (match.key_id, match.description, match.last6) == (
        "k-nightly",
        "Nightly reports",
        "Ab12Cd",
    )


def test_a_renamed_key_is_found_by_either_name_and_shown_by_its_newest(
    django_assert_max_num_queries,
):
    AuditEventFactory(key_id="k1", key_description="Old name", key_last6="aaaaaa")
    AuditEventFactory(key_id="k1", key_description="New name", key_last6="aaaaaa")
    for text in ("old name", "new name", "aaaaaa"):
        (match,) = audit_keys_matching(text).matches
        assert (match.key_id, match.description) == ("k1", "New name")
    audit_key_names()
    # Nothing changed since: the directory is reused, not read again.
    with django_assert_max_num_queries(3):
        audit_key_names()
