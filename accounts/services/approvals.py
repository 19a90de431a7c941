"""Change requests: a key change a policy holds back until a second Administrator approves it.

    requested ─approve─▶ approved ─(update, delete: at once)─────────▶ executed | failed
        │                   └──(create, rotate: the requester, "Make it now")─┘
        ├─reject─▶ rejected      ├─withdraw─▶ withdrawn      └─(24 h)─▶ expired

A request holds the exact call (`payload`) and the key as it was (`before`). Nothing reaches
Venice before approval. On approval the key is read again, past the cache: if it changed
since the request, the request fails as stale and must be asked again. The change itself
goes through the same service as a direct one, whose audit record names the requester and
the approver. A create or a rotation makes a one-time secret: it is made when the requester
opens the approved request and clicks "Make it now", so the secret is shown to them alone,
on that response, and stored nowhere — the approver never sees it.

Every state change is a conditional UPDATE on the row's current state, so a double click or
two approvers at once make exactly one approval and one execution. Each is an audit record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditAction, AuditOutcome, ChangeRequest
from accounts.roles import Ability
from accounts.services.approval_notices import tell_approvers, tell_requester
from accounts.services.audit import AuditContext, audit_log
from accounts.services.policies import PolicyHit
from accounts.venice import (
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    VeniceError,
    get_client,
)

logger = logging.getLogger(__name__)

State = ChangeRequest.State
Action = ChangeRequest.Action
REQUEST_LIFETIME = timedelta(hours=24)

REASON_REQUIRED = "Say why this change is needed: the approver reads it."
APPROVALS_REFUSED = "Only Administrators may approve or reject change requests."
OWN_REQUEST = (
    "You asked for this change, so you cannot approve it: a second Administrator must. "
    "(With only one Administrator, make someone else an Administrator first.)"
)
NOT_PENDING = "This request is {state}: it can no longer be decided."
NOT_APPROVED = "This request is {state}: there is nothing to make."
ONLY_REQUESTER = "Only the person who asked for this change ({name}) may do that."
STALE = (
    "The key changed after the request was made ({fields}), so the approved change was not "
    "made. Ask again with the key as it is now."
)
KEY_GONE = "Venice no longer has this key, so the approved change was not made."


@dataclass
class RequestOutcome:
    """What deciding or making a request did. `secret` is a created key's one-time secret,
    for the requester's response only; `error` says why the change was not made."""

    request: ChangeRequest
    secret: str | None = field(default=None, repr=False)
    key: APIKey | None = None
    error: str = ""
    # For a rotation: the rotation's own outcome (its rotation, secret and error).
    rotation: object = None


# --- asking --------------------------------------------------------------------------------


def change_request_create(
    *,
    context: AuditContext,
    action: str,
    hits: tuple[PolicyHit, ...],
    reason: str,
    payload: dict,
    key: APIKey | None = None,
    key_type: str = "",
    description: str = "",
) -> ChangeRequest:
    """Hold a change for approval. `payload` is the service's keyword arguments, made
    JSON-safe with `encode_payload`; `key` the key as it is now (None for a create)."""
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError(REASON_REQUIRED, field="reason")
    now = timezone.now()
    with transaction.atomic():
        request = ChangeRequest.objects.create(
            action=action,
            key_id=key.id if key else "",
            key_description=(key.description if key else description)[:128],
            key_last6=key.last6 if key else "",
            key_type=str(key.api_key_type if key else key_type),
            payload=payload,
            before=key_snapshot(key) if key else {},
            policies=[hit.policy for hit in hits],
            reason=reason,
            requested_by=context.user,
            requested_by_username=context.username,
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
        )
        audit_log(
            context,
            action=AuditAction.CHANGE_REQUESTED,
            key_id=request.key_id,
            description=request.key_description,
            last6=request.key_last6,
            details={
                **_request_details(request),
                "policies": [str(hit) for hit in hits],
                "reason": reason,
                "payload": payload,
            },
        )
    tell_approvers(request)
    return request


# --- deciding ------------------------------------------------------------------------------


def change_request_approve(
    *, context: AuditContext, request_id: int, comment: str = ""
) -> RequestOutcome:
    """Approve (never one's own), and make an update or a delete at once."""
    request = _decide(context, request_id, State.APPROVED, AuditAction.CHANGE_APPROVED, comment)
    if request.action in (Action.UPDATE, Action.DELETE):
        return _execute(context, request)
    tell_requester(request, "approved: open it to make the change")
    return RequestOutcome(request=request)


def change_request_reject(
    *, context: AuditContext, request_id: int, comment: str = ""
) -> ChangeRequest:
    request = _decide(context, request_id, State.REJECTED, AuditAction.CHANGE_REJECTED, comment)
    tell_requester(request, "rejected")
    return request


def change_request_withdraw(*, context: AuditContext, request_id: int) -> ChangeRequest:
    request = _get(request_id)
    _check_requester(context, request)
    if not _move(
        request,
        from_states=ChangeRequest.OPEN_STATES,
        to=State.WITHDRAWN,
        decided_at=timezone.now(),
    ):
        raise ApprovalError(NOT_PENDING.format(state=_state_name(request)))
    audit_log(
        context,
        action=AuditAction.CHANGE_WITHDRAWN,
        key_id=request.key_id,
        description=request.key_description,
        last6=request.key_last6,
        details=_request_details(request),
    )
    return request


def change_request_execute(*, context: AuditContext, request_id: int) -> RequestOutcome:
    """The requester makes an approved create or rotation; the secret is in the outcome."""
    request = _get(request_id)
    _check_requester(context, request)
    _expire_if_due(request)
    if request.state != State.APPROVED:
        raise ApprovalError(NOT_APPROVED.format(state=_state_name(request)))
    return _execute(context, request)


def change_requests_expire(*, now: datetime | None = None) -> int:
    """Expire open requests past their time (each an audit record). Returns how many."""
    now = now or timezone.now()
    count = 0
    for request in ChangeRequest.objects.filter(
        state__in=ChangeRequest.OPEN_STATES, expires_at__lte=now
    ):
        count += _expire_if_due(request, now=now)
    return count


# --- payloads --------------------------------------------------------------------------------


def encode_payload(arguments: dict) -> dict:
    """A service's keyword arguments (enums, Decimals, limits, datetimes) as JSON values."""
    out = {}
    for name, value in arguments.items():
        if isinstance(value, timedelta):
            value = int(value.total_seconds())
        elif isinstance(value, ConsumptionLimits):
            value = {"usd": _text(value.usd), "diem": _text(value.diem)}
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = _text(value)
        elif hasattr(value, "value"):
            value = value.value
        out[name] = value
    return out


def decode_payload(payload: dict) -> dict:
    """The inverse of encode_payload, for the fields key services take."""
    out = dict(payload)
    if "consumption_limits" in out and out["consumption_limits"] is not None:
        limits = out["consumption_limits"]
        out["consumption_limits"] = ConsumptionLimits(
            usd=_decimal(limits.get("usd")), diem=_decimal(limits.get("diem"))
        )
    for name in ("expires_at", "new_expires_at", "grace_ends_at"):
        if out.get(name):
            out[name] = datetime.fromisoformat(out[name])
    if "quiet_period" in out:
        out["quiet_period"] = timedelta(seconds=out["quiet_period"])
    if "api_key_type" in out:
        out["api_key_type"] = APIKeyType(out["api_key_type"])
    if out.get("limit_period"):
        out["limit_period"] = LimitPeriod(out["limit_period"])
    if out.get("model_privacy"):
        out["model_privacy"] = ModelPrivacy(out["model_privacy"])
    return out


def key_snapshot(key: APIKey) -> dict:
    """What an approved change must find unchanged."""
    return {
        "description": key.description,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "usd": _text(key.consumption_limits.usd),
        "diem": _text(key.consumption_limits.diem),
        "limit_period": key.limit_period.value,
        "model_privacy": key.model_privacy.value,
    }


def approval_details(request: ChangeRequest) -> dict:
    """For the change's own audit record: who asked, who approved, under which request."""
    return {
        "change_request": request.pk,
        "requested_by": request.requested_by_username,
        "approved_by": request.decided_by_username,
    }


class ApprovalError(Exception):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ChangeRequestNotFound(ApprovalError):
    pass


NO_SUCH_REQUEST = "There is no such change request."


# --- internals -------------------------------------------------------------------------------


def _decide(context, request_id, to_state, action, comment) -> ChangeRequest:
    if context.user is None or not context.user.has_perm(Ability.APPROVE_CHANGES.permission):
        raise PermissionDenied(APPROVALS_REFUSED)
    request = _get(request_id)
    if request.requested_by_id == context.user.pk:
        raise ApprovalError(OWN_REQUEST)
    _expire_if_due(request)
    moved = _move(
        request,
        from_states=(State.PENDING,),
        to=to_state,
        decided_by=context.user,
        decided_by_username=context.username,
        decided_at=timezone.now(),
        decision_comment=(comment or "").strip(),
    )
    if not moved:
        raise ApprovalError(NOT_PENDING.format(state=_state_name(request)))
    audit_log(
        context,
        action=action,
        key_id=request.key_id,
        description=request.key_description,
        last6=request.key_last6,
        details={**_request_details(request), "comment": request.decision_comment},
    )
    return request


def _execute(context: AuditContext, request: ChangeRequest) -> RequestOutcome:
    """Make the change once: the row moves to `executing` first (one winner), then the
    service runs with the request as its approval."""
    if not _move(request, from_states=(State.APPROVED,), to=State.EXECUTING):
        raise ApprovalError(NOT_APPROVED.format(state=_state_name(request)))
    outcome = RequestOutcome(request=request)
    try:
        outcome = _perform(context, request)
    except (VeniceError, PermissionDenied) as error:
        outcome.error = getattr(error, "user_message", None) or str(error)
    except Exception as error:  # a refusal from a service (policy, rule) names itself
        outcome.error = getattr(error, "message", None) or type(error).__name__
        if not hasattr(error, "message"):
            logger.exception("Change request %s failed", request.pk)
    if outcome.error:
        _move(request, from_states=(State.EXECUTING,), to=State.FAILED, error=outcome.error[:2000])
        audit_log(
            context,
            action=AuditAction.CHANGE_FAILED,
            key_id=request.key_id,
            description=request.key_description,
            last6=request.key_last6,
            details=_request_details(request),
            outcome=AuditOutcome.FAILED,
            error=outcome.error,
        )
        tell_requester(request, f"failed: {outcome.error}")
        return outcome
    result_key = outcome.key.id if outcome.key else request.key_id
    _move(
        request,
        from_states=(State.EXECUTING,),
        to=State.EXECUTED,
        executed_at=timezone.now(),
        result_key_id=result_key,
    )
    audit_log(
        context,
        action=AuditAction.CHANGE_EXECUTED,
        key_id=result_key,
        description=request.key_description,
        last6=outcome.key.last6 if outcome.key else request.key_last6,
        details=_request_details(request),
    )
    if request.action in (Action.UPDATE, Action.DELETE):
        tell_requester(request, "approved and made")
    return outcome


def _perform(context: AuditContext, request: ChangeRequest) -> RequestOutcome:
    from accounts.services.keys import api_key_create, api_key_delete, api_key_update
    from accounts.services.rotation import rotation_start

    arguments = decode_payload(request.payload)
    if request.action == Action.CREATE:
        key = api_key_create(context=context, approval=request, **arguments)
        return RequestOutcome(request=request, secret=key.secret, key=key)
    current = get_client().api_keys.get(request.key_id, fresh=True)
    if current is None:
        return RequestOutcome(request=request, error=KEY_GONE)
    changed = _changed_since(request, current)
    if changed:
        return RequestOutcome(request=request, error=STALE.format(fields=", ".join(changed)))
    if request.action == Action.UPDATE:
        key = api_key_update(context=context, key=current, approval=request, **arguments)
        return RequestOutcome(request=request, key=key)
    if request.action == Action.DELETE:
        api_key_delete(context=context, key=current, approval=request)
        return RequestOutcome(request=request)
    rotated = rotation_start(context=context, key_id=request.key_id, approval=request, **arguments)
    if not rotated.ok and not rotated.secret:
        return RequestOutcome(request=request, error=rotated.error.user_message, rotation=rotated)
    return RequestOutcome(
        request=request,
        secret=rotated.secret,
        error=rotated.error.user_message if rotated.error else "",
        rotation=rotated,
    )


def _changed_since(request: ChangeRequest, key: APIKey) -> list[str]:
    now = key_snapshot(key)
    return [name for name, value in request.before.items() if now.get(name) != value]


def _move(request: ChangeRequest, *, from_states, to: str, **fields) -> bool:
    """The one way a request changes state: UPDATE ... WHERE state IN from_states."""
    updated = ChangeRequest.objects.filter(pk=request.pk, state__in=from_states).update(
        state=to, **fields
    )
    request.refresh_from_db()
    return updated == 1


def _expire_if_due(request: ChangeRequest, *, now: datetime | None = None) -> int:
    now = now or timezone.now()
    if not request.is_open or request.expires_at > now:
        return 0
    if not _move(request, from_states=ChangeRequest.OPEN_STATES, to=State.EXPIRED):
        return 0
    from accounts.services.audit import audit_context_for_system

    audit_log(
        audit_context_for_system(command="change request expiry"),
        action=AuditAction.CHANGE_EXPIRED,
        key_id=request.key_id,
        description=request.key_description,
        last6=request.key_last6,
        details=_request_details(request),
    )
    return 1


def _get(request_id: int) -> ChangeRequest:
    request = ChangeRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise ChangeRequestNotFound(NO_SUCH_REQUEST)
    return request


def _check_requester(context: AuditContext, request: ChangeRequest) -> None:
    if context.user is None or context.user.pk != request.requested_by_id:
        raise ApprovalError(ONLY_REQUESTER.format(name=request.requested_by_username))


def _state_name(request: ChangeRequest) -> str:
    return request.get_state_display().lower()


def _request_details(request: ChangeRequest) -> dict:
    return {
        "change_request": request.pk,
        "request_action": request.action,
        "requested_by": request.requested_by_username,
        **({"decided_by": request.decided_by_username} if request.decided_by_username else {}),
    }


def _text(value) -> str | None:
    return None if value is None else format(Decimal(value).normalize(), "f")


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))
