"""Rotating a key: the form, the one-time result page, and resume/abort for an open rotation.

The result page is the POST's own response (never cached, never redirected to), the only place
the replacement's secret ever appears. Resume and abort are one small POST view each.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import ability_required, refuse
from accounts.forms import RotationAbortForm, RotationForm
from accounts.models import ChangeRequest, Rotation
from accounts.presentation import dates
from accounts.roles import Ability
from accounts.selectors.keys import api_key_get
from accounts.selectors.rotation import rotation_open_for
from accounts.services.audit import audit_context_from_request
from accounts.services.key_ownership import scope_refusal
from accounts.services.policies import ApprovalRequired, policy_check_rotation
from accounts.services.rotation import (
    ROTATION_ADMIN_KEY_REFUSED,
    ROTATION_REFUSED,
    RotationError,
    RotationOutcome,
    RotationRefused,
    is_portal_key,
    may_rotate,
    rotation_abort,
    rotation_resume,
    rotation_start,
)
from accounts.services.rotation_watch import (
    rotation_extend_grace,
    rotation_finish_early,
    rotation_observe,
)
from accounts.venice import APIKeyType, VeniceError
from accounts.views.approvals import approval_context, hold_for_approval


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_variables("outcome")
def key_rotate(request, key_id: str):
    try:
        key = api_key_get(key_id=key_id)
    except VeniceError as error:
        return render(request, "keys/unavailable.html", {"error": error}, status=503)
    if key is None:
        return render(request, "keys/not_found.html", {"key_id": key_id}, status=404)
    if not may_rotate(request.user, key.api_key_type):
        return _refuse(request, key.api_key_type)
    if reason := scope_refusal(request.user, key.id, key.description):
        return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)

    form = RotationForm(request.POST or None, key=key, now=timezone.now())
    error, held = None, {}
    if request.method == "POST" and form.is_valid():
        arguments = form.rotation_arguments()
        try:
            outcome = rotation_start(
                context=audit_context_from_request(request), key_id=key.id, **arguments
            )
        except ApprovalRequired as refused:
            url = hold_for_approval(
                request, refused, action=ChangeRequest.Action.ROTATE, arguments=arguments, key=key
            )
            if url is not None:
                return redirect(url)
            held = approval_context(request, refused)
        except RotationRefused:
            return _refuse(request, key.api_key_type)
        except RotationError as refused:
            form.add_error(None, refused.message)
        except VeniceError as upstream:
            error = upstream
        else:
            return _result_page(request, outcome)

    context = {
        "key": key,
        "form": form,
        "error": error,
        "open_rotation": rotation_open_for(key_id=key.id),
        "portal_key": is_portal_key(key),
        # Shown before submit: the rotations of this key a second Administrator must approve.
        "approval_without_grace": policy_check_rotation(key=key, grace="now").needs_approval,
        "approval_with_grace": policy_check_rotation(key=key, grace="24h").needs_approval,
        **held,
    }
    return render(request, "keys/rotate.html", context)


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_POST
@never_cache
@sensitive_variables("outcome")
def rotation_resume_view(request, key_id: str, rotation_id: int):
    rotation = _rotation(key_id, rotation_id)
    if not may_rotate(request.user, rotation.old_key_type):
        return _refuse(request, rotation.old_key_type)
    if reason := scope_refusal(request.user, rotation.old_key_id, rotation.old_description):
        return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)
    try:
        outcome = rotation_resume(
            context=audit_context_from_request(request), rotation_id=rotation.pk
        )
    except RotationRefused:
        return _refuse(request, rotation.old_key_type)
    except RotationError as refused:
        messages.error(request, refused.message)
        return redirect(_key_page(rotation))
    if outcome.secret:
        return _result_page(request, outcome)
    rotation = outcome.rotation
    if not outcome.ok:
        messages.error(
            request,
            f"The rotation stopped again while {rotation.step_label}: {outcome.error.user_message}",
        )
    elif rotation.state == Rotation.State.COMPLETED:
        messages.success(request, "Rotation completed: the old key is deleted.")
    else:
        messages.success(
            request,
            f"Rotation resumed: the old key stops working at "
            f"{dates.prose(rotation.retire_at)} and is deleted then.",
        )
    return redirect(_key_page(rotation))


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_POST
def rotation_abort_view(request, key_id: str, rotation_id: int):
    rotation = _rotation(key_id, rotation_id)
    if not may_rotate(request.user, rotation.old_key_type):
        return _refuse(request, rotation.old_key_type)
    if reason := scope_refusal(request.user, rotation.old_key_id, rotation.old_description):
        return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)
    form = RotationAbortForm(request.POST, has_replacement=rotation.has_replacement)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["delete_replacement"]))
        return redirect(_key_page(rotation))
    delete_replacement = form.cleaned_data["delete_replacement"]
    try:
        rotation = rotation_abort(
            context=audit_context_from_request(request),
            rotation_id=rotation.pk,
            delete_replacement=delete_replacement,
        )
    except RotationRefused:
        return _refuse(request, rotation.old_key_type)
    except RotationError as refused:
        messages.error(request, refused.message)
    except VeniceError as upstream:
        messages.error(request, f"Aborting failed: {upstream.user_message}")
    else:
        kept = "deleted" if delete_replacement else "kept"
        messages.success(
            request,
            "Rotation aborted; the old key keeps working"
            + (f" and the replacement was {kept}." if rotation.has_replacement else "."),
        )
    return redirect(_key_page(rotation))


@sensitive_variables("outcome", "context")
def _result_page(request, outcome: RotationOutcome):
    """The secret, once: this response is the only place it appears (never_cache on the view;
    the address bar moves to the key's page so a reload cannot post the form again)."""
    rotation = outcome.rotation
    context = {
        "rotation": rotation,
        "secret": outcome.secret,
        "error": outcome.error,
        # The new key is the one to look at next; the old key's page only while it is all
        # there is (no replacement yet).
        "key_url": _new_key_page(rotation),
        "abort_form": RotationAbortForm(has_replacement=rotation.has_replacement),
    }
    return render(request, "keys/rotated.html", context)


def _rotation(key_id: str, rotation_id: int) -> Rotation:
    rotation = Rotation.objects.filter(pk=rotation_id, old_key_id=key_id).first()
    if rotation is None:
        raise Http404("No such rotation of this key.")
    return rotation


def _key_page(rotation: Rotation) -> str:
    """The page to land on: the new key once the old one is gone, else the old key."""
    if rotation.old_key_deleted and rotation.has_replacement:
        return reverse("keys:detail", args=[rotation.new_key_id])
    return reverse("keys:detail", args=[rotation.old_key_id])


def _new_key_page(rotation: Rotation) -> str:
    if rotation.replacement_exists:
        return reverse("keys:detail", args=[rotation.new_key_id])
    return reverse("keys:detail", args=[rotation.old_key_id])


def _refuse(request, key_type: str):
    if key_type == APIKeyType.ADMIN:
        return refuse(request, Ability.MANAGE_ADMIN_KEYS, reason=ROTATION_ADMIN_KEY_REFUSED)
    return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=ROTATION_REFUSED)


@ability_required(Ability.VIEW_KEYS)
@require_GET
def rotation_traffic_view(request, key_id: str, rotation_id: int):
    """The grace panel's traffic, polled by HTMX while the key's page is open."""
    rotation = _rotation(key_id, rotation_id)
    try:
        traffic = rotation_observe(rotation)
    except VeniceError as error:
        return render(request, "keys/_rotation_traffic.html", {"traffic_error": error}, status=200)
    context = {
        "rotation": rotation,
        "traffic": traffic,
        "may_rotate": may_rotate(request.user, rotation.old_key_type),
    }
    return render(request, "keys/_rotation_traffic.html", context)


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_POST
def rotation_finish_early_view(request, key_id: str, rotation_id: int):
    rotation = _rotation(key_id, rotation_id)
    if not may_rotate(request.user, rotation.old_key_type):
        return _refuse(request, rotation.old_key_type)
    if reason := scope_refusal(request.user, rotation.old_key_id, rotation.old_description):
        return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)
    try:
        rotation = rotation_finish_early(
            context=audit_context_from_request(request), rotation_id=rotation.pk
        )
    except RotationRefused:
        return _refuse(request, rotation.old_key_type)
    except RotationError as refused:
        messages.error(request, refused.message)
    except VeniceError as upstream:
        messages.error(request, f"The old key was not deleted: {upstream.user_message}")
    else:
        messages.success(request, "The old key went quiet and is deleted: the rotation is done.")
    return redirect(_key_page(rotation))


@ability_required(Ability.MANAGE_INFERENCE_KEYS)
@require_POST
def rotation_extend_view(request, key_id: str, rotation_id: int):
    rotation = _rotation(key_id, rotation_id)
    if not may_rotate(request.user, rotation.old_key_type):
        return _refuse(request, rotation.old_key_type)
    if reason := scope_refusal(request.user, rotation.old_key_id, rotation.old_description):
        return refuse(request, Ability.MANAGE_INFERENCE_KEYS, reason=reason)
    more = EXTENSIONS.get(request.POST.get("extend_by", ""))
    if more is None:
        messages.error(request, "Choose how much longer the old key keeps working.")
        return redirect(_key_page(rotation))
    try:
        rotation = rotation_extend_grace(
            context=audit_context_from_request(request),
            rotation_id=rotation.pk,
            until=rotation.retire_at + more,
        )
    except RotationRefused:
        return _refuse(request, rotation.old_key_type)
    except RotationError as refused:
        messages.error(request, refused.message)
    except VeniceError as upstream:
        messages.error(request, f"The grace period was not extended: {upstream.user_message}")
    else:
        messages.success(
            request, f"The old key now keeps working until {dates.prose(rotation.retire_at)}."
        )
    return redirect(_key_page(rotation))


EXTENSIONS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
