"""Every route in the URL map, for anonymous users and each role, as DESIGN.md's table says.

Later features add their routes to ROUTES; a route missing here is a route nobody checked.
"""

import pytest
from django.urls import reverse

from accounts.models import Rotation
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from tests.factories import AuditEventFactory
from tests.fixtures.keys import ADMIN_KEY, INFERENCE_KEY, seeded_key_id

ALL = {ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR}
# A person's own account pages: anyone signed in, a member without a role too.
SIGNED_IN = ALL | {None}
AUDIT_READERS = {ADMINISTRATOR, AUDITOR}
KEY_MANAGERS = {ADMINISTRATOR, KEY_MANAGER}
# Seeded sandbox keys (the same ids for the same seed): one of each type.
INFERENCE_KEY_ID = seeded_key_id(INFERENCE_KEY)
ADMIN_KEY_ID = seeded_key_id(ADMIN_KEY)


def _an_audit_record():
    return (AuditEventFactory().pk,)


def _a_member():
    from tests.factories import UserFactory

    return (UserFactory(username="someone-else", role=FINANCE).pk,)


def _an_invitation():
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Invitation

    invitation = Invitation.objects.create(
        email="new@example.com",
        role=FINANCE,
        token_hash="0" * 64,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return (invitation.pk,)


def _a_change_request():
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import ChangeRequest

    change = ChangeRequest.objects.create(
        action="delete",
        key_id=INFERENCE_KEY_ID,
        key_type="INFERENCE",
        reason="test",
        requested_by_username="someone",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return (change.pk,)


def _a_rotation():
    rotation = Rotation.objects.create(
        old_key_id=INFERENCE_KEY_ID,
        old_key_type="INFERENCE",
        grace="24h",
        state=Rotation.State.FAILED,
        failed_step=Rotation.State.STARTED,
        started_by_username="kim",
    )
    return (INFERENCE_KEY_ID, rotation.pk)


ALERT_READERS = ALL
KEY_ALERT_MANAGERS = {ADMINISTRATOR, KEY_MANAGER}
BILLING_ALERT_MANAGERS = {ADMINISTRATOR, FINANCE}
ALERT_MANAGERS = {ADMINISTRATOR, KEY_MANAGER, FINANCE}


def _a_rule(kind):
    """A rule of this kind, made by an operator's command (no role check)."""

    def make():
        from accounts.services.alerts import alert_rule_create
        from accounts.services.alerts.kinds import KINDS
        from accounts.services.audit import audit_context_for_command

        rule = alert_rule_create(
            context=audit_context_for_command(command="test"),
            kind=kind,
            name=f"a {kind} rule",
            params=KINDS[kind].defaults,
        )
        return (rule.pk,)

    return make


def _a_channel():
    from accounts.services.alerts import alert_channel_create
    from accounts.services.audit import audit_context_for_command

    created = alert_channel_create(
        context=audit_context_for_command(command="test"),
        kind="email",
        name="Team mailbox",
        addresses="team@example.com",
    )
    return (created.channel.pk,)


def _an_alert():
    from django.utils import timezone

    from accounts.models import AlertEvent

    event = AlertEvent.objects.create(
        kind="venice_unavailable",
        subject_key="venice",
        dedupe_key="system:test:1",
        severity="warning",
        title="Venice could not be read",
        fired_at=timezone.now(),
    )
    return (event.pk,)


def _a_team():
    from accounts.models import Team

    return (Team.objects.get_or_create(name="Data", slug="data")[0].slug,)


def _a_team_member():
    from accounts.models import Team, TeamMembership
    from tests.factories import UserFactory

    team = Team.objects.get_or_create(name="Data", slug="data")[0]
    member = UserFactory(username="in-the-team", role=KEY_MANAGER)
    TeamMembership.objects.get_or_create(team=team, user=member)
    return (team.slug, member.pk)


# (url name, args, roles that get 200; every other role gets 403, anonymous gets login).
# args may be a callable, called inside the test, for routes that need a row to exist.
ROUTES = [
    ("dashboard", (), ALL),
    ("keys:list", (), ALL),
    ("keys:new", (), KEY_MANAGERS),
    ("keys:detail", (INFERENCE_KEY_ID,), ALL),
    ("keys:detail", (ADMIN_KEY_ID,), ALL),
    ("keys:edit", (INFERENCE_KEY_ID,), KEY_MANAGERS),
    ("keys:delete", (INFERENCE_KEY_ID,), KEY_MANAGERS),
    # A Key manager manages INFERENCE keys only.
    ("keys:edit", (ADMIN_KEY_ID,), {ADMINISTRATOR}),
    ("keys:delete", (ADMIN_KEY_ID,), {ADMINISTRATOR}),
    ("billing:overview", (), {ADMINISTRATOR, FINANCE}),
    ("billing:usage", (), {ADMINISTRATOR, FINANCE}),
    ("billing:usage_csv", (), {ADMINISTRATOR, FINANCE}),
    ("billing:spend_by_key_csv", (), {ADMINISTRATOR, FINANCE}),
    ("billing:spend_by_model_csv", (), {ADMINISTRATOR, FINANCE}),
    ("limits:overview", (), {ADMINISTRATOR, KEY_MANAGER, FINANCE}),
    ("audit:list", (), AUDIT_READERS),
    ("audit:detail", _an_audit_record, AUDIT_READERS),
    ("audit:csv", (), AUDIT_READERS),
    ("audit:jsonl", (), AUDIT_READERS),
    ("keys:rotate", (INFERENCE_KEY_ID,), KEY_MANAGERS),
    ("keys:rotate", (ADMIN_KEY_ID,), {ADMINISTRATOR}),
    ("team:list", (), {ADMINISTRATOR}),
    ("team:invite", (), {ADMINISTRATOR}),
    ("team:detail", _a_member, {ADMINISTRATOR}),
    ("approvals:list", (), {ADMINISTRATOR, KEY_MANAGER, AUDITOR}),
    ("policies:edit", (), ALL),
    ("account:overview", (), SIGNED_IN),
    ("account:sessions", (), SIGNED_IN),
    # Each user's own settings: every role, and a user who has none yet.
    ("account:preferences", (), SIGNED_IN),
    ("account:tokens", (), SIGNED_IN),
    # Alerts: everyone with a role reads; each manages the kinds DESIGN.md gives the role.
    ("alerts:rules", (), ALERT_READERS),
    ("alerts:new", (), ALERT_MANAGERS),
    ("alerts:new_kind", ("balance_below",), BILLING_ALERT_MANAGERS),
    ("alerts:new_kind", ("spend_above",), BILLING_ALERT_MANAGERS),
    # A key's consumption limit is its budget: Finance's spend rules include it.
    ("alerts:new_kind", ("key_limit",), ALERT_MANAGERS),
    ("alerts:new_kind", ("key_expiring",), KEY_ALERT_MANAGERS),
    ("alerts:new_kind", ("key_unused",), KEY_ALERT_MANAGERS),
    ("alerts:new_kind", ("rotation_grace",), KEY_ALERT_MANAGERS),
    ("alerts:new_kind", ("rotation_failed",), KEY_ALERT_MANAGERS),
    ("alerts:new_kind", ("rate_limits",), KEY_ALERT_MANAGERS),
    ("alerts:new_kind", ("audit_integrity",), {ADMINISTRATOR}),
    ("alerts:new_kind", ("team_budget",), BILLING_ALERT_MANAGERS),
    ("alerts:edit", _a_rule("balance_below"), BILLING_ALERT_MANAGERS),
    ("alerts:edit", _a_rule("key_limit"), ALERT_MANAGERS),
    ("alerts:edit", _a_rule("key_unused"), KEY_ALERT_MANAGERS),
    ("alerts:edit", _a_rule("audit_integrity"), {ADMINISTRATOR}),
    ("alerts:edit", _a_rule("team_budget"), BILLING_ALERT_MANAGERS),
    ("alerts:delete", _a_rule("spend_above"), BILLING_ALERT_MANAGERS),
    ("alerts:delete", _a_rule("key_expiring"), KEY_ALERT_MANAGERS),
    ("alerts:channels", (), ALERT_READERS),
    ("alerts:channel_new", (), ALERT_MANAGERS),
    ("alerts:log", (), ALERT_READERS),
    ("alerts:event", _an_alert, ALERT_READERS),
    ("alerts:notifications", (), ALERT_READERS),
    # Teams, key ownership and cost allocation.
    ("teams:list", (), ALL),
    ("teams:new", (), {ADMINISTRATOR}),
    ("teams:detail", _a_team, ALL),
    ("teams:edit", _a_team, {ADMINISTRATOR}),
    ("keys:owner", (INFERENCE_KEY_ID,), KEY_MANAGERS),
    ("keys:spend", (INFERENCE_KEY_ID,), {ADMINISTRATOR, FINANCE}),
    ("billing:allocation", (), {ADMINISTRATOR, FINANCE}),
    ("billing:allocation_csv", (), {ADMINISTRATOR, FINANCE}),
]

# POST-only routes: the role is checked first (403), then the method (405 for a GET), so a
# GET tells whether the role gets through without changing anything.
POST_ROUTES = [
    ("keys:rotation_resume", _a_rotation, KEY_MANAGERS),
    ("keys:rotation_abort", _a_rotation, KEY_MANAGERS),
    ("team:role", _a_member, {ADMINISTRATOR}),
    ("team:deactivate", _a_member, {ADMINISTRATOR}),
    ("team:reactivate", _a_member, {ADMINISTRATOR}),
    ("team:mfa_reset", _a_member, {ADMINISTRATOR}),
    ("team:sessions_revoke", _a_member, {ADMINISTRATOR}),
    ("team:invitation_resend", _an_invitation, {ADMINISTRATOR}),
    ("team:invitation_revoke", _an_invitation, {ADMINISTRATOR}),
    ("account:session_end", ("0" * 64,), SIGNED_IN),
    ("account:token_revoke", (1,), SIGNED_IN),
    ("approvals:approve", _a_change_request, {ADMINISTRATOR}),
    ("approvals:reject", _a_change_request, {ADMINISTRATOR}),
    ("approvals:withdraw", _a_change_request, {ADMINISTRATOR, KEY_MANAGER, AUDITOR}),
    ("approvals:execute", _a_change_request, {ADMINISTRATOR, KEY_MANAGER, AUDITOR}),
    ("alerts:starter", (), ALERT_MANAGERS),
    ("alerts:toggle", _a_rule("balance_below"), BILLING_ALERT_MANAGERS),
    ("alerts:toggle", _a_rule("rate_limits"), KEY_ALERT_MANAGERS),
    ("alerts:channel_test", _a_channel, ALERT_MANAGERS),
    # The channel's creator (an operator here) or an Administrator.
    ("alerts:channel_delete", _a_channel, {ADMINISTRATOR}),
    ("alerts:notifications_read", (), ALERT_READERS),
    ("keys:assign", (), KEY_MANAGERS),
    ("teams:delete", _a_team, {ADMINISTRATOR}),
    ("teams:member_add", _a_team, {ADMINISTRATOR}),
    ("teams:member_remove", _a_team_member, {ADMINISTRATOR}),
    ("team:key_scope", _a_member, {ADMINISTRATOR}),
    ("audit:adopt", (), {ADMINISTRATOR}),
]


def _args(args):
    return args() if callable(args) else args


def _refusal(role) -> bytes:
    # A member with no role at all is told that, rather than what one page needs.
    return b"You have no role in this portal yet" if role is None else b"have access to this"


def _cases():
    for url_name, args, allowed in ROUTES:
        for role in (ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR, None):
            expected = 200 if role in allowed else 403
            shown = "" if callable(args) else "".join(f"-{arg[:8]}" for arg in args)
            name = f"{url_name}{shown}-{role}"
            yield pytest.param(url_name, args, role, expected, id=name)


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "args", "role", "expected"), list(_cases()))
def test_role_may_open_route_only_as_design_says(
    client, user_with_role, url_name, args, role, expected
):
    client.force_login(user_with_role(role))
    response = client.get(reverse(url_name, args=_args(args)))
    assert response.status_code == expected
    if expected == 403:
        assert _refusal(role) in response.content


def _post_cases():
    for url_name, args, allowed in POST_ROUTES:
        for role in (ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR, None):
            expected = 405 if role in allowed else 403
            yield pytest.param(url_name, args, role, expected, id=f"{url_name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "args", "role", "expected"), list(_post_cases()))
def test_role_may_post_to_route_only_as_design_says(
    client, user_with_role, url_name, args, role, expected
):
    client.force_login(user_with_role(role))
    response = client.get(reverse(url_name, args=_args(args)))
    assert response.status_code == expected
    if expected == 403:
        assert _refusal(role) in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "args", "allowed"), ROUTES + POST_ROUTES)
def test_anonymous_user_is_sent_to_login(client, url_name, args, allowed):
    url = reverse(url_name, args=_args(args))
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


@pytest.mark.django_db
def test_htmx_refusal_is_a_fragment(client, user_with_role):
    client.force_login(user_with_role(FINANCE))
    response = client.get(reverse("audit:list"), HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert b"have access to this" in response.content
    assert b"<html" not in response.content


@pytest.mark.django_db
def test_a_refusal_names_the_administrators_to_ask_and_never_their_addresses(
    client, user_with_role
):
    from tests.factories import UserFactory

    UserFactory(username="ada", first_name="Ada", last_name="Byron", role=ADMINISTRATOR)
    ada = UserFactory(username="ada")
    ada.email = "ada@example.com"
    ada.save()
    client.force_login(user_with_role(FINANCE))
    page = client.get(reverse("audit:list")).content.decode()
    assert "ask an Administrator: Ada Byron." in page
    assert "ada@example.com" not in page
    assert 'href="/">Back to the dashboard' in page


@pytest.mark.django_db
def test_a_member_without_a_role_is_offered_to_log_out_not_sent_in_a_circle(client, user_with_role):
    client.force_login(user_with_role(None))
    page = client.get(reverse("dashboard")).content.decode()
    assert "You have no role in this portal yet" in page
    assert "Back to the dashboard" not in page
    assert f'action="{reverse("account_logout")}"' in page
