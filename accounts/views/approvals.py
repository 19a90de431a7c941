"""Change requests (/approvals/): the list, one request, and approve / reject / withdraw / make.

Administrators see every request and decide other people's; a Key manager sees their own;
an Auditor reads them all. The key pages hold a change for approval with `hold_for_approval`.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from accounts.access import ability_required
from accounts.models import ChangeRequest
from accounts.roles import Ability
from accounts.selectors.approvals import change_request_visible_to, change_requests_visible_to
from accounts.services.approvals import (
    ApprovalError,
    change_request_approve,
    change_request_create,
    change_request_execute,
    change_request_reject,
    change_request_withdraw,
    change_requests_expire,
    encode_payload,
)
from accounts.services.audit import audit_context_from_request

REASON_FIELD = "approval_reason"


def hold_for_approval(
    request, refused, *, action: str, arguments: dict, key=None, key_type="", description=""
) -> str | None:
    """A key page's answer to ApprovalRequired: with a reason in the POST, the change becomes
    a request, and the URL of its page comes back to redirect to; without one, None, and the
    page shows the approval notice and asks for a reason (`approval_context`)."""
    reason = request.POST.get(REASON_FIELD, "").strip()
    if not reason:
        return None
    change = change_request_create(
        context=audit_context_from_request(request),
        action=action,
        hits=refused.hits,
        reason=reason,
        payload=encode_payload(arguments),
        key=key,
        key_type=key_type,
        description=description,
    )
    messages.success(
        request, f"The change waits for a second Administrator's approval (request {change.pk})."
    )
    return reverse("approvals:detail", args=[change.pk])


def approval_context(request, refused) -> dict:
    """What a key page shows when its change needs approval."""
    return {
        "approval_needed": refused.hits,
        "approval_reason": request.POST.get(REASON_FIELD, ""),
        "approval_reason_missing": request.method == "POST" and REASON_FIELD in request.POST,
    }


@ability_required(Ability.VIEW_CHANGE_REQUESTS)
@require_GET
def approval_list(request):
    change_requests_expire()
    state = request.GET.get("state", "open")
    requests = change_requests_visible_to(request.user, open_only=state == "open")
    context = {"requests": list(requests[:200]), "state": state}
    return render(request, "approvals/list.html", context)


@ability_required(Ability.VIEW_CHANGE_REQUESTS)
@require_GET
@never_cache
def approval_detail(request, request_id: int):
    change = _visible(request, request_id)
    context = {
        "change": change,
        "rows": _payload_rows(change),
        "is_requester": change.requested_by_id == request.user.pk,
        "may_decide": request.user.has_perm(Ability.APPROVE_CHANGES.permission)
        and change.requested_by_id != request.user.pk,
    }
    return render(request, "approvals/detail.html", context)


@ability_required(Ability.APPROVE_CHANGES)
@require_POST
def approval_approve(request, request_id: int):
    try:
        outcome = change_request_approve(
            context=audit_context_from_request(request),
            request_id=request_id,
            comment=request.POST.get("comment", ""),
        )
    except (ApprovalError, PermissionDenied) as refused:
        messages.error(request, getattr(refused, "message", str(refused)))
    else:
        if outcome.error:
            messages.error(request, f"Approved, but the change was not made: {outcome.error}")
        elif outcome.request.state == ChangeRequest.State.EXECUTED:
            messages.success(request, "Approved, and the change is made.")
        else:
            messages.success(request, "Approved: the requester can now make the change.")
    return redirect("approvals:detail", request_id)


@ability_required(Ability.APPROVE_CHANGES)
@require_POST
def approval_reject(request, request_id: int):
    try:
        change_request_reject(
            context=audit_context_from_request(request),
            request_id=request_id,
            comment=request.POST.get("comment", ""),
        )
    except (ApprovalError, PermissionDenied) as refused:
        messages.error(request, getattr(refused, "message", str(refused)))
    else:
        messages.success(request, "Rejected: nothing was changed.")
    return redirect("approvals:detail", request_id)


@ability_required(Ability.VIEW_CHANGE_REQUESTS)
@require_POST
def approval_withdraw(request, request_id: int):
    try:
        change_request_withdraw(context=audit_context_from_request(request), request_id=request_id)
    except ApprovalError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "Withdrawn.")
    return redirect("approvals:detail", request_id)


@ability_required(Ability.VIEW_CHANGE_REQUESTS)
@require_POST
@never_cache
@sensitive_variables("outcome")
def approval_execute(request, request_id: int):
    """The requester makes an approved create or rotation: the new secret is on this
    response only."""
    try:
        outcome = change_request_execute(
            context=audit_context_from_request(request), request_id=request_id
        )
    except ApprovalError as refused:
        messages.error(request, refused.message)
        return redirect("approvals:detail", request_id)
    if outcome.error and not outcome.secret:
        messages.error(request, f"The change was not made: {outcome.error}")
        return redirect("approvals:detail", request_id)
    context = {
        "change": outcome.request,
        "secret": outcome.secret,
        "key": outcome.key,
        "error": outcome.error,
    }
    return render(request, "approvals/made.html", context)


PAYLOAD_LABELS = {
    "description": "Description",
    "api_key_type": "Type",
    "consumption_limits": "Limits",
    "limit_period": "Limit period",
    "model_privacy": "Model privacy",
    "expires_at": "Expires",
    "grace": "Grace period",
    "grace_ends_at": "Grace ends",
    "new_expires_at": "New key expires",
    "finish_when_quiet": "Finish when quiet",
    "quiet_period": "Quiet for (seconds)",
}


def _payload_rows(change: ChangeRequest) -> list[dict]:
    """The intended call in words: each field as requested, and as the key had it then."""
    rows = []
    for name, value in change.payload.items():
        before = change.before
        if name == "consumption_limits":
            after = _limits_text(value)
            now = (
                _limits_text({"usd": before.get("usd"), "diem": before.get("diem")})
                if before
                else ""
            )
        else:
            after = "none" if value is None else str(value)
            now = "" if not before or name not in before else str(before[name] or "none")
        rows.append({"label": PAYLOAD_LABELS.get(name, name), "after": after, "before": now})
    return rows


def _limits_text(limits: dict) -> str:
    parts = []
    if limits.get("usd") is not None:
        parts.append(f"${limits['usd']} USD")
    if limits.get("diem") is not None:
        parts.append(f"{limits['diem']} DIEM")
    return " · ".join(parts) or "no limit"


def _visible(request, request_id: int) -> ChangeRequest:
    change = change_request_visible_to(request.user, request_id)
    if change is None:
        raise Http404("No such change request.")
    return change
