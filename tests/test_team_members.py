"""/team/ and /team/<id>/: members, their roles, deactivation, second factors and sessions."""

import html
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, PortalSession
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER, role_of
from accounts.services.audit import audit_context_for_command
from accounts.services.members import (
    LAST_ADMINISTRATOR,
    OWN_MFA_RESET,
    member_role_change,
)
from tests.factories import UserFactory
from tests.fixtures.access import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


def _records(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_the_members_page_shows_each_member_and_how_they_sign_in(client, admin_user):
    bob = UserFactory(username="bob", first_name="Bob", last_name="Ng", role=FINANCE)
    bob.email = "bob@example.com"
    bob.save()
    Authenticator.objects.create(user=bob, type=Authenticator.Type.WEBAUTHN, data={})
    UserFactory(username="gone", role=AUDITOR, is_active=False)
    client.force_login(admin_user)

    page = client.get(reverse("team:list")).content.decode()

    row = next(row for row in page.split("<tr>") if ">Bob Ng</a>" in row)
    assert "bob@example.com" in row and "Finance" in row
    assert "passkey" in row and "password" in row and "active" in row
    gone = next(row for row in page.split("<tr>") if "gone" in row)
    assert "deactivated" in gone


def test_a_role_change_is_recorded_with_before_and_after(client, admin_user):
    bob = UserFactory(username="bob", role=FINANCE)
    client.force_login(admin_user)

    response = client.post(reverse("team:role", args=[bob.pk]), {"role": AUDITOR}, follow=True)

    assert "is now Auditor" in response.content.decode()
    assert role_of(bob) == AUDITOR
    (record,) = _records("member.role_changed")
    assert record.changes == {"role": [FINANCE, AUDITOR]}
    assert (record.actor_username, record.details["member"]) == ("ada", "bob")
    _assert_chain_intact()


def test_the_last_administrator_can_be_neither_demoted_nor_deactivated(client, admin_user):
    client.force_login(admin_user)

    demoted = client.post(
        reverse("team:role", args=[admin_user.pk]), {"role": FINANCE}, follow=True
    )
    deactivated = client.post(reverse("team:deactivate", args=[admin_user.pk]), follow=True)

    message = LAST_ADMINISTRATOR.format(name=admin_user.get_full_name() or "ada")
    assert message in demoted.content.decode()
    assert message in deactivated.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active and role_of(admin_user) == ADMINISTRATOR
    assert not _records("member.role_changed") and not _records("member.deactivated")


def test_with_a_second_administrator_one_may_step_down(client, admin_user):
    UserFactory(username="ben", role=ADMINISTRATOR)
    client.force_login(admin_user)
    client.post(reverse("team:role", args=[admin_user.pk]), {"role": FINANCE})
    assert role_of(admin_user) == FINANCE


def test_a_deactivated_member_is_out_at_their_next_request(client, admin_user):
    bob = UserFactory(username="bob", role=FINANCE, password=PASSWORD)
    bobs_browser = signed_in(bob.username)
    assert bobs_browser.get(reverse("billing:overview")).status_code == 200
    client.force_login(admin_user)

    client.post(reverse("team:deactivate", args=[bob.pk]))

    assert bobs_browser.get(reverse("billing:overview")).status_code == 302
    assert not PortalSession.objects.filter(user=bob).exists()
    assert not _can_sign_in(bob)
    (record,) = _records("member.deactivated")
    assert record.details["member"] == "bob"
    assert _records("member.sessions_revoked")[0].details["sessions_ended"] == 1

    client.post(reverse("team:reactivate", args=[bob.pk]))
    assert _can_sign_in(bob)
    assert len(_records("member.reactivated")) == 1
    _assert_chain_intact()


def _can_sign_in(user) -> bool:
    browser = Client()
    browser.post(reverse("account_login"), {"login": user.username, "password": PASSWORD})
    return browser.get(reverse("dashboard")).status_code == 200


def test_an_administrator_resets_a_lost_second_factor(client, admin_user):
    kim = UserFactory(username="kim", role=KEY_MANAGER)
    Authenticator.objects.create(user=kim, type=Authenticator.Type.TOTP, data={"secret": "x"})
    Authenticator.objects.create(user=kim, type=Authenticator.Type.RECOVERY_CODES, data={})
    client.force_login(admin_user)

    client.post(reverse("team:mfa_reset", args=[kim.pk]))

    assert not Authenticator.objects.filter(user=kim).exists()
    (record,) = _records("member.mfa_reset")
    assert record.details == {
        "member": "kim",
        "member_id": kim.pk,
        "removed": ["recovery_codes", "totp"],
    }


def test_an_administrator_does_not_reset_their_own_second_factor_here(client, admin_user):
    Authenticator.objects.create(user=admin_user, type=Authenticator.Type.TOTP, data={})
    client.force_login(admin_user)
    response = client.post(reverse("team:mfa_reset", args=[admin_user.pk]), follow=True)
    assert OWN_MFA_RESET in html.unescape(response.content.decode())
    assert Authenticator.objects.filter(user=admin_user).exists()


def test_signing_a_member_out_everywhere_ends_each_session(client, admin_user):
    bob = UserFactory(username="bob", role=FINANCE, password=PASSWORD)
    laptop, phone = signed_in(bob.username), signed_in(bob.username)
    client.force_login(admin_user)
    assert (
        "Sign out everywhere" in client.get(reverse("team:detail", args=[bob.pk])).content.decode()
    )

    client.post(reverse("team:sessions_revoke", args=[bob.pk]))

    assert laptop.get(reverse("dashboard")).status_code == 302
    assert phone.get(reverse("dashboard")).status_code == 302
    assert _records("member.sessions_revoked")[0].details["sessions_ended"] == 2


def test_the_services_refuse_a_member_change_by_a_role_that_may_not(key_manager):
    bob = UserFactory(username="bob", role=FINANCE)
    with pytest.raises(PermissionDenied):
        member_role_change(
            context=audit_context_for_command(key_manager), member=bob, role=ADMINISTRATOR
        )
    assert role_of(bob) == FINANCE and not _records("member.role_changed")
