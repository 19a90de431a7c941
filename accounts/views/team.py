"""The team pages: members, their roles, sessions and second factors; invitations; joining.

Administrators only (Ability.MANAGE_MEMBERS), except the join page, which the invitation's
link opens for someone who is not signed in yet. One small POST view per action.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import ability_required
from accounts.forms.members import InviteForm, JoinForm, MemberRoleForm
from accounts.forms.teams import KeyScopeForm
from accounts.models import Invitation, KeyManagerScope, Team
from accounts.roles import Ability
from accounts.selectors.members import invitations_open, member_row, member_rows
from accounts.selectors.sessions import sessions_of
from accounts.services.audit import audit_context_from_request
from accounts.services.invitations import (
    EMAIL_NOT_SENT,
    INVITATION_LIFETIME,
    InvitationError,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_hash,
    invitation_resend,
    invitation_revoke,
)
from accounts.services.members import (
    MemberChangeRefused,
    member_deactivate,
    member_mfa_reset,
    member_reactivate,
    member_role_change,
    member_sessions_revoke,
)
from accounts.services.sso import PENDING_INVITATION


@ability_required(Ability.MANAGE_MEMBERS)
@require_GET
def member_list(request):
    context = {"members": member_rows(), "invitations": invitations_open()}
    return render(request, "team/list.html", context)


@ability_required(Ability.MANAGE_MEMBERS)
@require_GET
def member_detail(request, user_id: int):
    member = _member(user_id)
    context = {
        "member": member_row(member),
        "role_form": MemberRoleForm(initial={"role": member_row(member).role or ""}),
        "sessions": sessions_of(member),
        "is_self": member.pk == request.user.pk,
        # Teams (views/teams.py `member_key_scope` saves it).
        "scope_everyone": settings.PORTAL_SCOPE_KEY_MANAGERS,
        "scope_form": KeyScopeForm(
            initial={"scoped": KeyManagerScope.objects.filter(user=member).exists()}
        ),
        "member_teams": Team.objects.filter(memberships__user=member),
    }
    return render(request, "team/detail.html", context)


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def member_role(request, user_id: int):
    member = _member(user_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("team:detail", member.pk)
    role = form.role_or_none()
    return _act(
        request,
        member,
        lambda context: member_role_change(context=context, member=member, role=role),
        done=f"{_name(member)} is now {role or 'without a role'}.",
    )


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def member_deactivate_view(request, user_id: int):
    member = _member(user_id)
    return _act(
        request,
        member,
        lambda context: member_deactivate(context=context, member=member),
        done=f"{_name(member)} is deactivated and signed out everywhere.",
    )


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def member_reactivate_view(request, user_id: int):
    member = _member(user_id)
    return _act(
        request,
        member,
        lambda context: member_reactivate(context=context, member=member),
        done=f"{_name(member)} may sign in again.",
    )


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def member_mfa_reset_view(request, user_id: int):
    member = _member(user_id)
    return _act(
        request,
        member,
        lambda context: member_mfa_reset(context=context, member=member),
        done=f"{_name(member)}'s second factors are removed: they set one up at their next login.",
    )


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def member_sessions_revoke_view(request, user_id: int):
    member = _member(user_id)
    return _act(
        request,
        member,
        lambda context: member_sessions_revoke(context=context, member=member),
        done=f"{_name(member)} is signed out of every browser.",
    )


@ability_required(Ability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sent = invitation_create(
                context=audit_context_from_request(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                base_url=request.build_absolute_uri("/"),
            )
        except InvitationError as refused:
            form.add_error(refused.field, refused.message)
        else:
            _say_how_it_went(request, sent)
            return redirect("team:list")
    return render(request, "team/invite.html", {"form": form})


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def invitation_resend_view(request, invitation_id: int):
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    try:
        sent = invitation_resend(
            context=audit_context_from_request(request),
            invitation=invitation,
            base_url=request.build_absolute_uri("/"),
        )
    except InvitationError as refused:
        messages.error(request, refused.message)
    else:
        _say_how_it_went(request, sent)
    return redirect("team:list")


@ability_required(Ability.MANAGE_MEMBERS)
@require_POST
def invitation_revoke_view(request, invitation_id: int):
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    try:
        invitation_revoke(context=audit_context_from_request(request), invitation=invitation)
    except InvitationError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, f"The invitation of {invitation.email} is withdrawn.")
    return redirect("team:list")


@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_post_parameters("password1", "password2")
def join(request, token: str):
    """The invitation's link: choose a username and password (or sign in with SSO)."""
    try:
        invitation = invitation_for_token(token)
    except InvitationError as unusable:
        return render(request, "team/join_unusable.html", {"reason": unusable.message}, status=410)
    if request.user.is_authenticated:
        messages.info(request, "You are already signed in; log out first to join as someone new.")
        return redirect("dashboard")
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation_accept(
                context=audit_context_from_request(request),
                token=token,
                username=data["username"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                request=request,
            )
        except InvitationError as refused:
            if refused.field is None:
                return render(
                    request, "team/join_unusable.html", {"reason": refused.message}, status=410
                )
            form.add_error(refused.field, refused.message)
        except ValidationError as weak:
            form.add_error("password1", weak)
        else:
            messages.success(request, f"Welcome: you joined as {invitation.role}.")
            return redirect("dashboard")
    # Signing in with SSO from here joins with this invitation (accounts/services/sso.py).
    request.session[PENDING_INVITATION] = invitation_hash(token)
    context = {"form": form, "invitation": invitation, "sso": bool(settings.PORTAL_OIDC_ISSUER)}
    return render(request, "team/join.html", context)


def _act(request, member, change, *, done: str):
    """Run one member change and say how it went on the member's page."""
    try:
        change(audit_context_from_request(request))
    except MemberChangeRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, done)
    return redirect("team:detail", member.pk)


def _say_how_it_went(request, sent) -> None:
    email = sent.invitation.email
    if sent.email_error:
        messages.warning(request, EMAIL_NOT_SENT.format(reason=sent.email_error))
    else:
        hours = int(INVITATION_LIFETIME.total_seconds() // 3600)
        messages.success(request, f"Invitation sent to {email}; the link works for {hours} hours.")


def _member(user_id: int):
    member = get_user_model().objects.filter(pk=user_id).first()
    if member is None:
        raise Http404("No such member.")
    return member


def _name(member) -> str:
    return member.get_full_name() or member.get_username()
