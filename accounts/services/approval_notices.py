"""Telling people about change requests: the Administrators who may approve one, and its
requester when it is decided or made. Each is told in the portal (the alerts' bell, an
AlertEvent of the system kind "approval") and by email, sent at once: a request waits for a
person, not for the next check_alerts run. A mail server that is down costs the email, never
the request (the bell still has it)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AlertSeverity, AlertSystemKind, ChangeRequest
from accounts.roles import ADMINISTRATOR
from accounts.services.alerts.fire import event_record
from accounts.services.alerts.messages import absolute

logger = logging.getLogger(__name__)


def tell_approvers(request: ChangeRequest) -> None:
    approvers = list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=ADMINISTRATOR)
        .exclude(pk=request.requested_by_id)
    )
    change = f"{request.get_action_display().lower()} “{request.key_description}”"
    _tell(
        request,
        approvers,
        stage="requested",
        title=f"Approval needed: {request.requested_by_username} asks to {change}",
        body=(
            f"The reason given: “{request.reason}”. The policy that holds it: "
            f"{'; '.join(request.policies)}. Approve or reject it within 24 hours."
        ),
    )


def tell_requester(request: ChangeRequest, what: str) -> None:
    requester = request.requested_by
    if requester is None or not requester.is_active:
        return
    change = f"{request.get_action_display().lower()} “{request.key_description}”"
    _tell(
        request,
        [requester],
        stage=what.split(":")[0],
        title=f"Your request to {change} was {what.split(':')[0]}",
        body=f"Your request to {change} was {what}.",
    )


def _tell(request: ChangeRequest, users: list, *, stage: str, title: str, body: str) -> None:
    if not users:
        return
    path = reverse("approvals:detail", args=[request.pk])
    now = timezone.now()
    event_record(
        rule=None,
        kind=AlertSystemKind.APPROVAL,
        subject_key=f"change_request:{request.pk}",
        dedupe_key=f"change_request:{request.pk}:{stage}:{now.isoformat()}",
        severity=AlertSeverity.INFO,
        title=title,
        body=body,
        facts={"change_request": request.pk, "key_id": request.key_id},
        link=path,
        now=now,
        users=users,
        email_users=[],
        channels=(),
    )
    recipients = [user.email for user in users if user.email]
    if not recipients:
        return
    text = f"{title}.\n\n{body}\n\nSee {absolute(path)}"
    try:
        send_mail(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + title, text, None, recipients)
    except (OSError, ValueError) as failure:
        logger.warning("An approval email could not be sent: %s", type(failure).__name__)
