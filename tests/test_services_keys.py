"""accounts/services/keys.py against the sandbox: each change audited, faults recorded."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.roles import FINANCE, KEY_MANAGER
from accounts.services.audit import SECRET_LOST, UNRESOLVED, audit_context_for_command
from accounts.services.keys import (
    ADMIN_KEYS_REFUSED,
    CREATE_OUTCOME_UNKNOWN,
    KEY_ALREADY_GONE,
    KEYS_REFUSED,
    api_key_create,
    api_key_delete,
    api_key_update,
)
from accounts.venice import (
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VeniceClient,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def venice(sandbox):
    """A client on this test's sandbox that never really sleeps between retries, and gives up
    reading after 50 ms (so an injected slow answer is a timeout after sending)."""
    return VeniceClient(sandbox=sandbox, sleep=lambda seconds: None, read_timeout=0.05)


@pytest.fixture
def key_manager_context(key_manager):
    return audit_context_for_command(key_manager, command="test")


def _posts(sandbox):
    return [request for request in sandbox.received if request.method == "POST"]


def _only_record():
    records = list(AuditEvent.objects.all())
    assert len(records) == 1, records
    return records[0]


# --- create ----------------------------------------------------------------------------------


def test_create_sends_every_field_and_returns_the_secret_once(sandbox, venice, audit_context):
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)

    key = api_key_create(
        context=audit_context,
        description="Billing exporter",
        api_key_type=APIKeyType.INFERENCE,
        consumption_limits=ConsumptionLimits(usd=Decimal("25.50"), diem=None),
        limit_period=LimitPeriod.MONTH,
        model_privacy=ModelPrivacy.PRIVATE_ONLY,
        expires_at=expires,
        client=venice,
    )

    assert key.secret and key.secret.endswith(key.last6)
    assert _posts(sandbox)[-1].json == {
        "apiKeyType": "INFERENCE",
        "description": "Billing exporter",
        "consumptionLimit": {"usd": 25.5, "diem": None},
        "limitPeriod": "MONTH",
        "modelPrivacy": "PRIVATE_ONLY",
        "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    assert sandbox.find_key(key.id).description == "Billing exporter"


def test_create_records_the_new_key_but_never_its_secret(sandbox, venice, audit_context):
    key = api_key_create(context=audit_context, description="CI deploys", client=venice)

    record = _only_record()
    assert record.action == AuditAction.KEY_CREATED
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert (record.key_id, record.key_description, record.key_last6) == (
        key.id,
        "CI deploys",
        key.secret[-6:],
    )
    assert record.details["settings"]["api_key_type"] == "INFERENCE"
    assert record.actor_username == audit_context.username
    assert key.secret not in repr(record.__dict__)


def test_create_rejected_by_venice_is_recorded_failed_with_field_details(
    sandbox, venice, audit_context
):
    keys_before = sandbox.key_ids()

    with pytest.raises(ValidationError) as caught:
        api_key_create(context=audit_context, description="x" * 65, client=venice)

    assert "description" in caught.value.details
    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert "ValidationError" in record.error
    assert record.key_id == ""
    assert sandbox.key_ids() == keys_before


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, UnauthorizedError), (403, UnauthorizedError), (429, RateLimitedError)],
)
def test_create_refused_upstream_is_recorded_failed_and_raised_typed(
    sandbox, venice, audit_context, status, error_class
):
    sandbox.faults.inject("/api_keys", "POST", status=status, times=1)
    keys_before = sandbox.key_ids()

    with pytest.raises(error_class) as caught:
        api_key_create(context=audit_context, description="Refused", client=venice)

    assert caught.value.user_message
    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert f"HTTP {status}" in record.error
    assert sandbox.key_ids() == keys_before


def test_create_rate_limited_says_when_to_try_again(sandbox, venice, audit_context):
    sandbox.faults.inject("/api_keys", "POST", status=429, reset_after=42, times=1)

    with pytest.raises(RateLimitedError) as caught:
        api_key_create(context=audit_context, description="Too fast", client=venice)

    assert caught.value.reset_at is not None
    assert "Wait until" in caught.value.user_message


def test_create_answered_500_is_looked_up_and_recorded_failed_when_absent(
    sandbox, venice, audit_context
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)

    with pytest.raises(UpstreamUnavailableError):
        api_key_create(context=audit_context, description="Server error", client=venice)

    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert record.details["looked_up"] is True and record.details["found"] is False
    # POST is never retried: one attempt, then one look at the list.
    assert len(_posts(sandbox)) == 1


def test_create_timing_out_before_sending_fails_without_a_lookup(sandbox, venice, audit_context):
    sandbox.faults.inject("/api_keys", "POST", timeout="before", times=1)

    with pytest.raises(UpstreamUnavailableError) as caught:
        api_key_create(context=audit_context, description="Never sent", client=venice)

    assert caught.value.request_sent is False
    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert "looked_up" not in record.details
    assert sandbox.received == []  # not even a lookup: nothing can have been created


def test_create_timing_out_after_sending_finds_the_key_and_flags_its_secret_lost(
    sandbox, venice, audit_context
):
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)

    key = api_key_create(context=audit_context, description="Slow answer", client=venice)

    upstream = sandbox.find_key(key.id)
    assert upstream is not None and upstream.description == "Slow answer"
    assert key.secret is None
    assert key.last6 == upstream.last6
    # The secret Venice sent before the answer was lost (the sandbox keeps only its hash).
    lost = next(e for e in sandbox.exchanges if e.method == "POST").response.json()
    assert lost["data"]["id"] == key.id
    record = _only_record()
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.key_id == key.id
    assert record.details[SECRET_LOST] is True
    assert lost["data"]["apiKey"] not in repr(record.__dict__)


def test_an_unreadable_create_answer_finds_the_key_and_flags_its_secret_lost(
    sandbox, venice, audit_context
):
    sandbox.faults.inject("/api_keys", "POST", malformed=True, times=1)

    key = api_key_create(context=audit_context, description="Garbled answer", client=venice)

    assert key.secret is None
    (made,) = [k for k in sandbox.key_ids() if sandbox.find_key(k).description == "Garbled answer"]
    assert key.id == made
    record = _only_record()
    assert (record.outcome, record.key_id) == (AuditOutcome.SUCCEEDED, made)
    assert record.details[SECRET_LOST] is True
    # A second try by the person is not needed: the page says the key exists.
    assert len(_posts(sandbox)) == 1


def test_create_timing_out_after_sending_without_a_key_made_is_recorded_failed(
    sandbox, venice, audit_context
):
    # Venice was slower than the client waits, and then failed: no key was made.
    sandbox.faults.inject("/api_keys", "POST", status=503, latency=0.2, times=1)
    keys_before = sandbox.key_ids()

    with pytest.raises(UpstreamUnavailableError) as caught:
        api_key_create(context=audit_context, description="Slow failure", client=venice)

    assert caught.value.request_sent is True
    assert sandbox.key_ids() == keys_before
    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert record.details["found"] is False


def test_create_with_a_dropped_connection_and_no_key_made_is_recorded_failed(
    sandbox, venice, audit_context
):
    sandbox.faults.inject("/api_keys", "POST", drop=True, times=1)

    with pytest.raises(UpstreamUnavailableError):
        api_key_create(context=audit_context, description="Dropped", client=venice)

    assert _only_record().outcome == AuditOutcome.FAILED


def test_ambiguous_create_ignores_a_same_named_key_the_portal_already_recorded(
    sandbox, venice, audit_context
):
    first = api_key_create(context=audit_context, description="Twin", client=venice)
    # The second create times out before sending: the first "Twin" must not be claimed as it.
    sandbox.faults.inject("/api_keys", "POST", status=503, latency=0.2, times=1)

    with pytest.raises(UpstreamUnavailableError):
        api_key_create(context=audit_context, description="Twin", client=venice)

    failed = AuditEvent.objects.get(outcome=AuditOutcome.FAILED)
    assert failed.key_id == ""
    assert AuditEvent.objects.get(outcome=AuditOutcome.SUCCEEDED).key_id == first.id


def test_ambiguous_create_whose_lookup_fails_stays_pending_for_reconcile(
    sandbox, venice, audit_context
):
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)
    sandbox.faults.inject("/api_keys", "GET", status=401)

    with pytest.raises(UpstreamUnavailableError):
        api_key_create(context=audit_context, description="Unknowable", client=venice)

    record = _only_record()
    assert record.outcome == AuditOutcome.PENDING
    assert record.details[UNRESOLVED] == CREATE_OUTCOME_UNKNOWN
    assert "lookup_error" in record.details


def test_key_manager_may_not_create_an_admin_key(sandbox, venice, key_manager_context):
    with pytest.raises(PermissionDenied, match=ADMIN_KEYS_REFUSED):
        api_key_create(
            context=key_manager_context,
            description="Sneaky admin",
            api_key_type=APIKeyType.ADMIN,
            client=venice,
        )
    assert _posts(sandbox) == []
    assert not AuditEvent.objects.exists()


def test_key_manager_may_create_an_inference_key(sandbox, venice, key_manager_context):
    key = api_key_create(context=key_manager_context, description="Allowed", client=venice)
    assert key.api_key_type == APIKeyType.INFERENCE


def test_finance_may_not_create_any_key(sandbox, venice, user_with_role):
    context = audit_context_for_command(user_with_role(FINANCE), command="test")
    with pytest.raises(PermissionDenied, match=KEYS_REFUSED):
        api_key_create(context=context, description="Nope", client=venice)
    assert _posts(sandbox) == []


def test_a_context_without_a_user_may_not_change_keys(sandbox, venice):
    with pytest.raises(PermissionDenied, match=KEYS_REFUSED):
        api_key_create(context=audit_context_for_command(None), description="Nobody", client=venice)


# --- update ----------------------------------------------------------------------------------


def test_update_sends_and_records_only_the_changed_fields(
    sandbox, venice, audit_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)
    assert key.consumption_limits.usd == Decimal(500)

    updated = api_key_update(
        context=audit_context,
        key=key,
        description="Production backend v2",
        consumption_limits=ConsumptionLimits(usd=Decimal(750), diem=None),
        limit_period=key.limit_period,  # unchanged: neither sent nor recorded
        client=venice,
    )

    patch = [request for request in sandbox.received if request.method == "PATCH"][-1]
    assert patch.json == {
        "id": key.id,
        "description": "Production backend v2",
        "consumptionLimit": {"usd": 750, "diem": None},
    }
    assert updated.description == "Production backend v2"
    record = _only_record()
    assert record.action == AuditAction.KEY_UPDATED
    assert record.outcome == AuditOutcome.SUCCEEDED
    assert record.changes == {
        "description": ["Production backend", "Production backend v2"],
        "consumption_limits.usd": ["500", "750"],
    }
    assert (record.key_id, record.key_last6) == (key.id, key.last6)


def test_update_can_remove_the_expiry(sandbox, venice, audit_context):
    key = next(k for k in venice.api_keys.list() if k.description == "Data pipeline (nightly)")
    assert key.expires_at is not None

    updated = api_key_update(context=audit_context, key=key, expires_at=None, client=venice)

    assert updated.expires_at is None
    assert _only_record().changes["expires_at"] == [key.expires_at.isoformat(), None]


def test_update_without_changes_sends_and_records_nothing(
    sandbox, venice, audit_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)
    sandbox.received.clear()

    same = api_key_update(
        context=audit_context, key=key, description=key.description, client=venice
    )

    assert same is key
    assert sandbox.received == []
    assert not AuditEvent.objects.exists()


def test_update_rejected_by_venice_is_recorded_failed_and_changes_nothing(
    sandbox, venice, audit_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)

    with pytest.raises(ValidationError):
        api_key_update(context=audit_context, key=key, description="y" * 65, client=venice)

    assert sandbox.find_key(key.id).description == "Production backend"
    record = _only_record()
    assert record.outcome == AuditOutcome.FAILED
    assert record.changes == {"description": ["Production backend", "y" * 65]}


def test_key_manager_may_not_change_an_admin_key(
    sandbox, venice, key_manager_context, admin_key_id
):
    key = venice.api_keys.get(admin_key_id)
    with pytest.raises(PermissionDenied, match=ADMIN_KEYS_REFUSED):
        api_key_update(context=key_manager_context, key=key, description="Mine", client=venice)
    assert not [request for request in sandbox.received if request.method == "PATCH"]


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_the_key_and_records_it(sandbox, venice, audit_context, inference_key_id):
    key = venice.api_keys.get(inference_key_id)

    api_key_delete(context=audit_context, key=key, client=venice)

    assert sandbox.find_key(key.id) is None
    record = _only_record()
    assert (record.action, record.outcome) == (AuditAction.KEY_DELETED, AuditOutcome.SUCCEEDED)
    assert (record.key_id, record.key_description, record.key_last6) == (
        key.id,
        key.description,
        key.last6,
    )


def test_deleting_a_key_venice_no_longer_has_is_recorded_failed(
    sandbox, venice, audit_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)
    api_key_delete(context=audit_context, key=key, client=venice)

    with pytest.raises(NotFoundError, match=KEY_ALREADY_GONE):
        api_key_delete(context=audit_context, key=key, client=venice)

    assert AuditEvent.objects.filter(outcome=AuditOutcome.FAILED).count() == 1


def test_delete_failing_upstream_is_recorded_failed_and_keeps_the_key(
    sandbox, venice, audit_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)
    sandbox.faults.inject("/api_keys", "DELETE", status=401, times=1)

    with pytest.raises(UnauthorizedError):
        api_key_delete(context=audit_context, key=key, client=venice)

    assert sandbox.find_key(key.id) is not None
    assert _only_record().outcome == AuditOutcome.FAILED


def test_key_manager_may_not_delete_an_admin_key(
    sandbox, venice, key_manager_context, admin_key_id
):
    key = venice.api_keys.get(admin_key_id)
    with pytest.raises(PermissionDenied, match=ADMIN_KEYS_REFUSED):
        api_key_delete(context=key_manager_context, key=key, client=venice)
    assert sandbox.find_key(admin_key_id) is not None


def test_key_manager_may_delete_an_inference_key(
    sandbox, venice, key_manager_context, inference_key_id
):
    key = venice.api_keys.get(inference_key_id)
    api_key_delete(context=key_manager_context, key=key, client=venice)
    assert sandbox.find_key(inference_key_id) is None


# --- the secret ------------------------------------------------------------------------------


def test_the_secret_is_nowhere_after_a_create(
    sandbox, venice, audit_context, database_text, cache_text, all_logs
):
    key = api_key_create(context=audit_context, description="Secret keeper", client=venice)
    venice.api_keys.list()  # fill the GET cache, which must not hold it either

    assert key.secret not in database_text()
    assert key.secret not in cache_text()
    assert key.secret not in all_logs.text
    assert key.secret not in repr(key)


def test_key_manager_role_name_is_on_its_records(sandbox, venice, key_manager_context):
    api_key_create(context=key_manager_context, description="Who did it", client=venice)
    assert _only_record().actor_role == KEY_MANAGER
