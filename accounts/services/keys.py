"""API key changes: create, update, delete, each recorded before and after its upstream call.

Every function here checks the actor's role again (views check first; this is the second lock),
wraps the one Venice call in `audited(...)` so a pending record is committed before the call and
completed after it, and lets the client's typed `VeniceError` through for the view to show.
A key's secret is returned to the caller once and never written anywhere.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import AuditAction, ChangeRequest
from accounts.roles import Ability
from accounts.selectors.audit import audit_unrecorded_keys
from accounts.selectors.rotation import rotation_open_with_replacement
from accounts.services.audit import SECRET_LOST, AuditContext, audited
from accounts.services.key_ownership import (
    Assignment,
    check_key_in_scope,
    check_new_key_assignment,
    key_assign,
)
from accounts.services.policies import (
    enforce,
    policy_check_create,
    policy_check_delete,
    policy_check_update,
)
from accounts.venice import (
    UNSET,
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    InvalidResponseError,
    LimitPeriod,
    ModelPrivacy,
    NotFoundError,
    UpstreamUnavailableError,
    VeniceClient,
    VeniceError,
    get_client,
)
from accounts.venice.client import _Unset

logger = logging.getLogger(__name__)

KEYS_REFUSED = "Your role may not create, change or delete API keys."
ADMIN_KEYS_REFUSED = "Only Administrators may create, change or delete ADMIN keys."
KEY_ALREADY_GONE = "Venice has no such key: it was already deleted."
CREATE_OUTCOME_UNKNOWN = (
    "The create timed out after it was sent, and the key list could not be read to find out "
    "whether Venice created the key; reconcile_audit will."
)

KEY_IS_A_RUNNING_REPLACEMENT = (
    "This key is the replacement in rotation {rotation} of the key …{old_last6}, which is "
    "still open: deleting it on its own could leave no working key. Abort that rotation on "
    "the old key's page instead, choosing to delete the replacement; the old key then keeps "
    "working."
)


class KeyChangeRefused(Exception):
    """A change the portal will not make to this key as things stand; `message` says why and
    what to do instead. Raised before anything is recorded or sent."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# A create that timed out after sending is looked up by description, type and creation time;
# a key created this long before the attempt (clock skew) or after it still counts.
AMBIGUOUS_CREATE_WINDOW = timedelta(minutes=2)


@sensitive_variables("created")
def api_key_create(
    *,
    context: AuditContext,
    description: str,
    api_key_type: APIKeyType = APIKeyType.INFERENCE,
    consumption_limits: ConsumptionLimits | None = None,
    limit_period: LimitPeriod | None = None,
    model_privacy: ModelPrivacy | None = None,
    expires_at: datetime | date | None = None,
    client: VeniceClient | None = None,
    approval: ChangeRequest | None = None,
    team_id: int | None = None,
    owner_id: int | None = None,
    owner_contact: str = "",
) -> APIKey:
    """Create a key; the returned key carries its one-time `secret`.

    `team_id`, `owner_id` / `owner_contact` set its ownership (services/key_ownership.py) once
    Venice has made it, as a `key.assigned` record after the create's. A scoped Key manager
    must name one of their teams (KeyScopeRefused), and PORTAL_REQUIRE_KEY_TEAM requires a
    team of everyone (OwnershipInvalid), both before anything is recorded or sent.

    Key policies apply (services/policies.py): a change they forbid raises PolicyForbids, one
    that needs a second Administrator raises ApprovalRequired unless `approval` is the
    approved change request that carries it (its requester and approver go on the record).

    When Venice timed out after the request was sent, the key may exist anyway: it is looked up
    and, when found, returned with `secret=None` and recorded as created with `secret_lost`
    (the key page then says so). Not found, or the lookup failing too, re-raises the timeout.
    """
    _check_may_manage(context, api_key_type)
    assignment = Assignment.from_ids(
        team_id=team_id, owner_id=owner_id, owner_contact=owner_contact
    )
    check_new_key_assignment(context.user, assignment)
    enforce(
        policy_check_create(
            api_key_type=api_key_type,
            consumption_limits=consumption_limits,
            expires_at=expires_at,
        ),
        approved=approval is not None,
    )
    client = client or get_client()
    settings = {
        "api_key_type": api_key_type,
        "consumption_limits": consumption_limits,
        "limit_period": limit_period,
        "model_privacy": model_privacy,
        "expires_at": expires_at,
    }
    attempted_at = timezone.now()
    with audited(
        context,
        action=AuditAction.KEY_CREATED,
        description=description,
        details={"settings": _json_settings(settings), **_approved(approval)},
    ) as record:
        try:
            created = client.api_keys.create(description, **settings)
        except (UpstreamUnavailableError, InvalidResponseError) as error:
            if not create_may_have_happened(error):
                raise
            found = _find_created_key(
                client,
                description=description,
                api_key_type=api_key_type,
                attempted_at=attempted_at,
                error=error,
                record=record,
            )
            record.note_key(found)
            record.add_details(**{SECRET_LOST: True}, lost_to=str(error))
            logger.warning("Key %s was created but its secret was lost: %s", found.id, error)
            created = found
        else:
            record.note_key(created)
    _assign_created(context, created, assignment)
    return created


def _assign_created(context: AuditContext, key: APIKey, assignment: Assignment) -> None:
    if assignment.team is None and assignment.owner is None and not assignment.owner_contact:
        return
    key_assign(
        context=context,
        key_id=key.id,
        description=key.description,
        last6=key.last6,
        assignment=assignment,
        check=False,
    )


def api_key_update(
    *,
    context: AuditContext,
    key: APIKey,
    description: str | _Unset = UNSET,
    expires_at: datetime | date | None | _Unset = UNSET,
    consumption_limits: ConsumptionLimits | _Unset = UNSET,
    limit_period: LimitPeriod | _Unset = UNSET,
    model_privacy: ModelPrivacy | _Unset = UNSET,
    client: VeniceClient | None = None,
    approval: ChangeRequest | None = None,
) -> APIKey:
    """Change the given fields of `key` (as it is now). Only fields whose value differs are
    sent and recorded (before → after); with none, nothing is sent or recorded and `key` comes
    back. `expires_at=None` removes the expiry. Key policies apply as to a create."""
    _check_may_manage(context, key.api_key_type, key=key)
    requested = {
        "description": description,
        "expires_at": expires_at,
        "consumption_limits": consumption_limits,
        "limit_period": limit_period,
        "model_privacy": model_privacy,
    }
    patch = {
        name: value
        for name, value in requested.items()
        if value is not UNSET and _json(value) != _json(getattr(key, name))
    }
    if not patch:
        return key
    enforce(policy_check_update(key=key, patch=patch), approved=approval is not None)
    changes = _changes(key, patch)
    with audited(
        context,
        action=AuditAction.KEY_UPDATED,
        key=key,
        changes=changes,
        details=_approved(approval),
    ):
        updated = (client or get_client()).api_keys.update(key.id, **patch)
    return updated


def api_key_delete(
    *,
    context: AuditContext,
    key: APIKey,
    client: VeniceClient | None = None,
    approval: ChangeRequest | None = None,
) -> None:
    """Delete `key` upstream. Venice having no such key is a failure (NotFoundError), recorded
    and raised: the portal did not delete it. The replacement of an open rotation is refused
    (`KeyChangeRefused`): its old key may be about to stop, and aborting the rotation is
    the way to remove it. Key policies apply as to a create."""
    _check_may_manage(context, key.api_key_type, key=key)
    rotation = rotation_open_with_replacement(key_id=key.id)
    if rotation is not None:
        raise KeyChangeRefused(
            KEY_IS_A_RUNNING_REPLACEMENT.format(rotation=rotation.pk, old_last6=rotation.old_last6)
        )
    enforce(policy_check_delete(key=key), approved=approval is not None)
    with audited(context, action=AuditAction.KEY_DELETED, key=key, details=_approved(approval)):
        if not (client or get_client()).api_keys.delete(key.id):
            raise NotFoundError(KEY_ALREADY_GONE, status=404)


def _approved(approval: ChangeRequest | None) -> dict:
    from accounts.services.approvals import approval_details

    return approval_details(approval) if approval is not None else {}


def may_manage_key_type(user, api_key_type: APIKeyType) -> bool:
    """Whether `user` may create, change or delete keys of this type (views ask this too)."""
    if user is None or not user.has_perm(Ability.MANAGE_INFERENCE_KEYS.permission):
        return False
    return api_key_type != APIKeyType.ADMIN or user.has_perm(Ability.MANAGE_ADMIN_KEYS.permission)


def _check_may_manage(context: AuditContext, api_key_type: APIKeyType, key=None) -> None:
    if may_manage_key_type(context.user, api_key_type):
        if key is not None:
            check_key_in_scope(context.user, key.id, key.description)
        return
    if api_key_type == APIKeyType.ADMIN and may_manage_key_type(context.user, APIKeyType.INFERENCE):
        raise PermissionDenied(ADMIN_KEYS_REFUSED)
    raise PermissionDenied(KEYS_REFUSED)


def create_may_have_happened(error: VeniceError) -> bool:
    """Whether the failed request may have been acted on: a timeout after it was sent (or a
    dropped connection while waiting for the answer), as opposed to one that never left; or
    an answer that came but could not be read (Venice made the key, the secret is lost)."""
    if isinstance(error, InvalidResponseError):
        return True
    return bool(getattr(error, "request_sent", False))


@sensitive_variables()
def _find_created_key(
    client: VeniceClient,
    *,
    description: str,
    api_key_type: APIKeyType,
    attempted_at: datetime,
    error: VeniceError,
    record,
) -> APIKey:
    """The key a create with no usable answer made, from the upstream list; re-raises
    `error` if none."""
    try:
        keys = client.api_keys.list(fresh=True)
    except VeniceError as lookup_error:
        # Neither answer is known: the record stays pending, and reconcile_audit resolves it
        # against the key list later. Nothing is silently orphaned.
        record.add_details(lookup_error=str(lookup_error))
        record.keep_pending(CREATE_OUTCOME_UNKNOWN)
        raise error from lookup_error
    now = timezone.now()
    earliest, latest = attempted_at - AMBIGUOUS_CREATE_WINDOW, now + AMBIGUOUS_CREATE_WINDOW
    candidates = [
        key
        for key in keys
        if key.description == description
        and key.api_key_type == api_key_type
        and key.created_at is not None
        and earliest <= key.created_at <= latest
    ]
    candidates = audit_unrecorded_keys(candidates)
    if not candidates:
        record.add_details(looked_up=True, found=False)
        raise error
    # Two portal creates of the same description in the same minute, both timing out, is the one
    # case this cannot tell apart; the newest key unrecorded so far is the likelier.
    candidates.sort(key=lambda key: key.created_at, reverse=True)
    if len(candidates) > 1:
        record.add_details(candidates=[key.id for key in candidates])
    return candidates[0]


def _changes(key: APIKey, patch: dict) -> dict:
    """{field: [before, after]} for each changed field, limits per currency."""
    changes = {}
    for name, after in patch.items():
        before = getattr(key, name)
        if name == "consumption_limits":
            for currency in ("usd", "diem"):
                old, new = getattr(before, currency), getattr(after, currency)
                if _json(old) != _json(new):
                    changes[f"consumption_limits.{currency}"] = [_json(old), _json(new)]
        else:
            changes[name] = [_json(before), _json(after)]
    return changes


def _json_settings(settings: dict) -> dict:
    out = {}
    for name, value in settings.items():
        if isinstance(value, ConsumptionLimits):
            out["usd_limit"] = _json(value.usd)
            out["diem_limit"] = _json(value.diem)
        else:
            out[name] = _json(value)
    return out


def _json(value):
    """A JSON-safe form of a key field's value, also used to compare values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ConsumptionLimits):
        return {"usd": _json(value.usd), "diem": _json(value.diem)}
    return value
