"""/api/v1/approvals: change requests, and deciding them (never one's own)."""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.views.decorators.debug import sensitive_variables
from ninja import Router, Schema

from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError
from accounts.api.keys import ERRORS
from accounts.models import ChangeRequest
from accounts.roles import Ability
from accounts.selectors.approvals import change_request_visible_to, change_requests_visible_to
from accounts.services.approvals import (
    NO_SUCH_REQUEST,
    ApprovalError,
    ChangeRequestNotFound,
    change_request_approve,
    change_request_execute,
    change_request_reject,
    change_requests_expire,
)

router = Router(tags=["approvals"])


class ChangeRequestOut(Schema):
    id: int
    action: str
    state: str
    key_id: str
    key_description: str
    payload: dict[str, Any]
    policies: list[str]
    reason: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    decided_by: str
    decided_at: datetime | None
    error: str


class ChangeRequests(Schema):
    requests: list[ChangeRequestOut]


class Decision(Schema):
    comment: str = ""


class Made(ChangeRequestOut):
    secret: str | None = None
    key_id_made: str | None = None


@router.get("/approvals", response={200: ChangeRequests, **ERRORS})
def approval_list(request, open_only: bool = True):
    """Requests waiting (or all, `open_only=false`): every one for approvers and auditors,
    a requester's own for anyone else."""
    require(request, Ability.VIEW_CHANGE_REQUESTS)
    change_requests_expire()
    requests = change_requests_visible_to(request.user, open_only=open_only)[:200]
    return {"requests": [request_out(change) for change in requests]}


@router.get("/approvals/{request_id}", response={200: ChangeRequestOut, **ERRORS})
def approval_get(request, request_id: int):
    require(request, Ability.VIEW_CHANGE_REQUESTS)
    return request_out(_visible(request, request_id))


@router.post("/approvals/{request_id}/approve", response={200: ChangeRequestOut, **ERRORS})
def approval_approve(request, request_id: int, body: Decision):
    """Approve another member's request; an update or delete is made at once."""
    require(request, Ability.APPROVE_CHANGES)
    outcome = _decided(
        lambda: change_request_approve(
            context=audit_context(request), request_id=request_id, comment=body.comment
        )
    )
    return request_out(outcome.request)


@router.post("/approvals/{request_id}/reject", response={200: ChangeRequestOut, **ERRORS})
def approval_reject(request, request_id: int, body: Decision):
    require(request, Ability.APPROVE_CHANGES)
    change = _decided(
        lambda: change_request_reject(
            context=audit_context(request), request_id=request_id, comment=body.comment
        )
    )
    return request_out(change)


@router.post("/approvals/{request_id}/make", response={200: Made, **ERRORS})
@sensitive_variables("outcome")
def approval_make(request, request_id: int):
    """The requester makes an approved create or rotation: the new secret is in this
    response only."""
    require(request, Ability.VIEW_CHANGE_REQUESTS)
    outcome = _decided(
        lambda: change_request_execute(context=audit_context(request), request_id=request_id)
    )
    key_id = outcome.key.id if outcome.key is not None else None
    return {**request_out(outcome.request), "secret": outcome.secret, "key_id_made": key_id}


def request_out(change: ChangeRequest) -> dict:
    return {
        "id": change.pk,
        "action": change.action,
        "state": change.state,
        "key_id": change.key_id,
        "key_description": change.key_description,
        "payload": change.payload,
        "policies": list(change.policies),
        "reason": change.reason,
        "requested_by": change.requested_by_username,
        "created_at": change.created_at,
        "expires_at": change.expires_at,
        "decided_by": change.decided_by_username,
        "decided_at": change.decided_at,
        "error": change.error,
    }


def _visible(request, request_id: int) -> ChangeRequest:
    change = change_request_visible_to(request.user, request_id)
    if change is None:
        raise ApiError(404, "not_found", NO_SUCH_REQUEST)
    return change


def _decided(decide):
    try:
        return decide()
    except ChangeRequestNotFound as missing:
        raise ApiError(404, "not_found", missing.message) from None
    except ApprovalError as refused:
        raise ApiError(409, "approval_conflict", refused.message) from None
    except PermissionDenied as refused:
        raise ApiError(403, "forbidden", str(refused)) from None
