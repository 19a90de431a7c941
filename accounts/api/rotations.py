"""/api/v1/keys/{id}/rotate and /api/v1/rotations: rotation as the key page offers it, over
services/rotation.py and rotation_watch.py. The new secret is in the rotate (or resume)
response that created the replacement, and nowhere else."""

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from ninja import Router, Status

from accounts.api import idempotency
from accounts.api.auth import audit_context, require
from accounts.api.errors import ApiError, check_form
from accounts.api.keys import ERRORS, hold, key_to_manage
from accounts.api.schemas import AbortRequest, Held, Rotation, RotationRequest, RotationResult
from accounts.forms import RotationForm
from accounts.models import ChangeRequest
from accounts.models import Rotation as RotationRecord
from accounts.roles import Ability
from accounts.services.policies import ApprovalRequired
from accounts.services.rotation import (
    RotationOutcome,
    may_rotate,
    rotation_abort,
    rotation_resume,
    rotation_start,
)
from accounts.services.rotation_watch import rotation_finish_early

router = Router(tags=["rotations"])

NO_SUCH_ROTATION = "There is no such rotation."
ROTATION_REFUSED = "This token may not rotate this key."


@router.post(
    "/keys/{key_id}/rotate",
    response={201: RotationResult, 202: Held, **ERRORS},
    summary="Rotate a key",
)
@sensitive_variables("outcome")
def rotate_key(request, key_id: str, body: RotationRequest):
    """Create the replacement (same settings, the old key's lifetime again by default) and
    retire the old key now or after the grace period. With an `Idempotency-Key` header, the
    same request sent again answers with the same rotation (and no secret)."""
    require(request, Ability.MANAGE_INFERENCE_KEYS)
    key = key_to_manage(request, key_id)
    if not may_rotate(request.user, key.api_key_type):
        raise ApiError(403, "forbidden", ROTATION_REFUSED)
    return idempotency.once(request, body, lambda: _rotate(request, key, body))


def _rotate(request, key, body: RotationRequest):
    form = RotationForm(_form_data(body), key=key, now=timezone.now())
    check_form(form)
    arguments = form.rotation_arguments()
    try:
        outcome = rotation_start(context=audit_context(request), key_id=key.id, **arguments)
    except ApprovalRequired as held:
        return hold(
            request,
            held,
            body.reason,
            action=ChangeRequest.Action.ROTATE,
            arguments=arguments,
            key=key,
        )
    return Status(201, _result(outcome))


@router.get("/rotations/{rotation_id}", response={200: Rotation, **ERRORS})
def get_rotation(request, rotation_id: int):
    require(request, Ability.VIEW_KEYS)
    return rotation_out(_rotation(rotation_id))


@router.post("/rotations/{rotation_id}/resume", response={200: RotationResult, **ERRORS})
@sensitive_variables("outcome")
def resume_rotation(request, rotation_id: int):
    """Pick a failed or stalled rotation up where it stopped (never a second replacement)."""
    rotation = _rotation_to_manage(request, rotation_id)
    outcome = rotation_resume(context=audit_context(request), rotation_id=rotation.pk)
    return Status(200, _result(outcome))


@router.post("/rotations/{rotation_id}/abort", response={200: Rotation, **ERRORS})
def abort_rotation(request, rotation_id: int, body: AbortRequest):
    """Close an open rotation; the old key gets back the expiry it had."""
    rotation = _rotation_to_manage(request, rotation_id)
    aborted = rotation_abort(
        context=audit_context(request),
        rotation_id=rotation.pk,
        delete_replacement=body.delete_replacement,
    )
    return Status(200, rotation_out(aborted))


@router.post("/rotations/{rotation_id}/finish", response={200: Rotation, **ERRORS})
def finish_rotation(request, rotation_id: int):
    """Delete the old key before its grace ends: only once its traffic has moved (the new
    key used, the old one idle for the rotation's quiet period), as the key page offers."""
    rotation = _rotation_to_manage(request, rotation_id)
    finished = rotation_finish_early(context=audit_context(request), rotation_id=rotation.pk)
    return Status(200, rotation_out(finished))


def rotation_out(rotation: RotationRecord, **extra) -> dict:
    return {
        "id": rotation.pk,
        "state": rotation.state,
        "old_key_id": rotation.old_key_id,
        "new_key_id": rotation.new_key_id,
        "grace": rotation.grace,
        "retire_at": rotation.retire_at,
        "finish_when_quiet": rotation.finish_when_quiet,
        "last_error": rotation.last_error,
        "failed_step": rotation.failed_step,
        "created_at": rotation.created_at,
        "finished_at": rotation.finished_at,
        **extra,
    }


def _result(outcome: RotationOutcome) -> dict:
    error = outcome.error.user_message if outcome.error is not None else None
    return rotation_out(outcome.rotation, secret=outcome.secret, error=error)


def _rotation(rotation_id: int) -> RotationRecord:
    rotation = RotationRecord.objects.filter(pk=rotation_id).first()
    if rotation is None:
        raise ApiError(404, "not_found", NO_SUCH_ROTATION)
    return rotation


def _rotation_to_manage(request, rotation_id: int) -> RotationRecord:
    require(request, Ability.MANAGE_INFERENCE_KEYS)
    rotation = _rotation(rotation_id)
    if not may_rotate(request.user, rotation.old_key_type):
        raise ApiError(403, "forbidden", ROTATION_REFUSED)
    return rotation


def _form_data(body: RotationRequest) -> dict:
    data = {
        "grace": body.grace,
        "finish_when_quiet": "on" if body.finish_when_quiet else "",
        "quiet_period": body.quiet_period,
    }
    if body.grace_ends_at is not None:
        data["grace_ends_at"] = body.grace_ends_at.isoformat()
    if body.new_expiry is not None:
        data["new_expiry"] = body.new_expiry
    if body.new_expires_at is not None:
        data["new_expires_at"] = body.new_expires_at.isoformat()
    return data
