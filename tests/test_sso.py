"""Single sign-on through a real OpenID Connect provider (tests/oidc_provider/, in its own
process): the portal's django-allauth client does discovery, the code exchange with PKCE and
the ID token's signature check against the provider's JWKS; the provider's groups become
roles at each login."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.auth.adapters import SSO_ONLY_REFUSAL
from accounts.models import AuditEvent
from accounts.roles import ADMINISTRATOR, FINANCE, role_of
from tests.factories import UserFactory
from tests.fixtures.access import PASSWORD
from tests.fixtures.oidc import sign_in_with_sso

pytestmark = pytest.mark.django_db


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_an_sso_login_makes_a_member_whose_group_maps_to_their_role(client, portal_sso):
    response = sign_in_with_sso(client, portal_sso, "olga")

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    olga = get_user_model().objects.get(email="olga@venice.example")
    assert role_of(olga) == FINANCE and olga.get_full_name() == "Olga Marchetti"
    assert not olga.has_usable_password()
    assert client.get(reverse("billing:overview")).status_code == 200
    login = AuditEvent.objects.get(action="auth.sso_login")
    assert login.details["provider"] == "sso" and login.actor_username == olga.username
    role = AuditEvent.objects.get(action="member.role_changed")
    assert role.changes == {"role": [None, FINANCE]}
    assert role.actor_username == "Venice SSO (identity provider)"
    _assert_chain_intact()


def test_the_highest_mapped_role_wins_and_follows_the_idp_at_each_login(client, portal_sso):
    sign_in_with_sso(client, portal_sso, "piero")  # administrators and finance
    piero = get_user_model().objects.get(email="piero@venice.example")
    assert role_of(piero) == ADMINISTRATOR

    # An Administrator moves him to Finance in the portal; the IdP still says administrators.
    UserFactory(username="other-admin", role=ADMINISTRATOR)
    call_command("assign_role", piero.username, "Finance", stdout=StringIO())
    client.logout()
    sign_in_with_sso(client, portal_sso, "piero")

    assert role_of(piero) == ADMINISTRATOR
    changes = AuditEvent.objects.filter(action="member.role_changed").order_by("id")
    assert [c.changes["role"] for c in changes] == [
        [None, ADMINISTRATOR],
        [ADMINISTRATOR, FINANCE],
        [FINANCE, ADMINISTRATOR],
    ]


def test_a_person_whose_groups_map_to_no_role_is_told_so(client, portal_sso):
    sign_in_with_sso(client, portal_sso, "nina")

    page = client.get(reverse("dashboard"))
    assert page.status_code == 403
    text = page.content.decode()
    assert "You have no role in this portal yet" in text
    assert "Log out" in text
    nina = get_user_model().objects.get(email="nina@venice.example")
    assert role_of(nina) is None


def test_sso_only_turns_password_logins_off_except_the_break_glass_account(
    client, portal_sso, settings
):
    settings.PORTAL_SSO_ONLY = True
    settings.PORTAL_SSO_BREAK_GLASS = "breakglass"
    UserFactory(username="ada", role=ADMINISTRATOR, password=PASSWORD)
    UserFactory(username="breakglass", role=ADMINISTRATOR, password=PASSWORD)

    refused = client.post(reverse("account_login"), {"login": "ada", "password": PASSWORD})
    assert refused.status_code == 200
    assert SSO_ONLY_REFUSAL.format(name="Venice SSO") in refused.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302

    allowed = Client().post(reverse("account_login"), {"login": "breakglass", "password": PASSWORD})
    assert allowed.status_code == 302 and allowed["Location"] == reverse("dashboard")


def test_joining_by_invitation_with_sso_accepts_the_invitation(client, portal_sso, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Invitation
    from accounts.services.invitations import invitation_hash

    Invitation.objects.create(
        email="nina@venice.example",
        role=FINANCE,
        token_hash=invitation_hash("a-token-only-this-test-knows"),
        invited_by_username="ada",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert (
        client.get(reverse("team:join", args=["a-token-only-this-test-knows"])).status_code == 200
    )

    sign_in_with_sso(client, portal_sso, "nina")  # in no group the map knows

    nina = get_user_model().objects.get(email="nina@venice.example")
    assert Invitation.objects.get().accepted_by == nina
    joined = AuditEvent.objects.get(action="member.joined")
    assert joined.details["how"] == "single sign-on"
    # With a role map the IdP decides: nina is in no mapped group, so the invitation's role
    # is removed again, and both steps are on the record.
    assert [c.changes["role"] for c in AuditEvent.objects.filter(action="member.role_changed")] == [
        [FINANCE, None]
    ]
