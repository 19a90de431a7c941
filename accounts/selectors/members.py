"""Reading members and invitations, for the team pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.db.models import Prefetch

from accounts.models import Invitation
from accounts.roles import ROLES


@dataclass(frozen=True)
class MemberRow:
    user: object
    name: str
    email: str
    role: str | None
    second_factors: tuple[str, ...]  # "authenticator app", "passkey"
    signs_in_with: str  # "password", "single sign-on", or both
    last_login: datetime | None
    active: bool

    @property
    def mfa_label(self) -> str:
        return " and ".join(self.second_factors) if self.second_factors else "none"


FACTOR_LABELS = {
    Authenticator.Type.TOTP: "authenticator app",
    Authenticator.Type.WEBAUTHN: "passkey",
}


def member_rows(*, user_ids: list[int] | None = None) -> list[MemberRow]:
    """Every member (or these), active ones first, by name; three queries in all."""
    User = get_user_model()
    users = User.objects.prefetch_related(
        "groups",
        Prefetch("authenticator_set", queryset=Authenticator.objects.only("type", "user_id")),
        Prefetch("socialaccount_set", queryset=SocialAccount.objects.only("provider", "user_id")),
    ).order_by("-is_active", "first_name", "last_name", "username")
    if user_ids is not None:
        users = users.filter(pk__in=user_ids)
    return [_row(user) for user in users]


def member_row(user) -> MemberRow:
    (row,) = member_rows(user_ids=[user.pk])
    return row


def _row(user) -> MemberRow:
    names = {group.name for group in user.groups.all()}
    factors = {authenticator.type for authenticator in user.authenticator_set.all()}
    ways = []
    if user.has_usable_password():
        ways.append("password")
    if user.socialaccount_set.all():
        ways.append("single sign-on")
    return MemberRow(
        user=user,
        name=user.get_full_name() or user.username,
        email=user.email,
        role=next((role for role in ROLES if role in names), None),
        second_factors=tuple(FACTOR_LABELS[kind] for kind in FACTOR_LABELS if kind in factors),
        signs_in_with=" and ".join(ways) or "nothing yet",
        last_login=user.last_login,
        active=user.is_active,
    )


def invitations_open() -> list[Invitation]:
    """Invitations neither accepted nor withdrawn (expired ones included: they can be sent
    again), newest first."""
    return list(Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True))
