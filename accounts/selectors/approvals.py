"""Reading change requests: which ones a member may see (the approvals pages and the API)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ChangeRequest
from accounts.roles import Ability


def sees_every_request(user) -> bool:
    """Approvers and auditors see every request; anyone else only their own."""
    return user.has_perm(Ability.APPROVE_CHANGES.permission) or user.has_perm(
        Ability.VIEW_AUDIT.permission
    )


def change_requests_visible_to(user, *, open_only: bool) -> QuerySet[ChangeRequest]:
    requests = ChangeRequest.objects.all()
    if not sees_every_request(user):
        requests = requests.filter(requested_by=user)
    if open_only:
        requests = requests.filter(state__in=ChangeRequest.OPEN_STATES)
    return requests


def change_request_visible_to(user, request_id: int) -> ChangeRequest | None:
    change = ChangeRequest.objects.filter(pk=request_id).first()
    if change is None or not (sees_every_request(user) or change.requested_by_id == user.pk):
        return None
    return change
