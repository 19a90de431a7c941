"""/team/invite/ and /team/join/<token>/: an invitation by email over real SMTP, and joining.

The email goes through Django's SMTP backend to an aiosmtpd server on 127.0.0.1; the tests
follow the link it carries, as the invitee would.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Invitation
from accounts.roles import FINANCE, KEY_MANAGER, role_of
from accounts.services.invitations import (
    ALREADY_A_MEMBER,
    ALREADY_INVITED,
    LINK_EXPIRED,
    LINK_REVOKED,
    LINK_USED,
)
from tests.factories import UserFactory
from tests.fixtures.access import NEW_PASSWORD, invite, join, link_path, reset_password_by_email

pytestmark = pytest.mark.django_db


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_an_invitation_is_emailed_over_smtp_with_a_one_time_link(
    client, admin_user, smtp_server, database_text, all_logs
):
    client.force_login(admin_user)
    response = invite(client)

    assert "Invitation sent to bea@example.com" in response.content.decode()
    message = smtp_server.only_message_to("bea@example.com")
    assert "invites you to the Venice account portal" in smtp_server.body(message)
    assert "as Finance" in smtp_server.body(message)
    link = smtp_server.link_in(message)
    token = link_path(link).rstrip("/").rsplit("/", 1)[-1]
    # Stored as a hash only: the token (and so the link) is in no table, record or log.
    invitation = Invitation.objects.get()
    assert invitation.token_hash != token and len(invitation.token_hash) == 64
    for text in (database_text(), all_logs.text):
        assert token not in text
    record = AuditEvent.objects.get(action="member.invited")
    assert record.details["email"] == "bea@example.com" and record.details["role"] == FINANCE
    assert record.actor_username == admin_user.username


def test_the_link_makes_a_member_with_the_invited_role_and_signs_them_in(
    client, admin_user, smtp_server
):
    client.force_login(admin_user)
    invite(client, role=KEY_MANAGER)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    client.logout()

    page = client.get(link_path(link))
    assert page.status_code == 200
    assert "invited <strong>bea@example.com</strong> as <strong>Key manager</strong>" in (
        page.content.decode()
    )
    response = join(client, link, first_name="Bea", last_name="Ortiz")

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    bea = get_user_model().objects.get(username="bea")
    assert (bea.email, bea.get_full_name(), role_of(bea)) == (
        "bea@example.com",
        "Bea Ortiz",
        KEY_MANAGER,
    )
    assert client.get(reverse("keys:new")).status_code == 200  # signed in, with the role
    joined = AuditEvent.objects.get(action="member.joined")
    assert joined.changes == {"role": [None, KEY_MANAGER]}
    assert joined.details["member"] == "bea" and joined.details["invited_by"] == "ada"
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()
    _assert_chain_intact()


def test_a_link_cannot_be_used_twice(client, admin_user, smtp_server):
    client.force_login(admin_user)
    invite(client)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    client.logout()
    join(client, link)
    client.logout()

    again = client.get(link_path(link))
    assert again.status_code == 410
    assert LINK_USED in again.content.decode()
    assert join(client, link, username="mallory").status_code == 410
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_an_expired_link_says_so_and_who_can_send_it_again(client, admin_user, smtp_server):
    client.force_login(admin_user)
    invite(client)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    client.logout()

    page = client.get(link_path(link))
    invitation.refresh_from_db()
    assert page.status_code == 410
    assert LINK_EXPIRED.format(expires=invitation.expires_at, invited_by="ada") in (
        page.content.decode()
    )
    assert join(client, link).status_code == 410


def test_sending_again_makes_a_new_link_and_the_old_one_stops_working(
    client, admin_user, smtp_server
):
    client.force_login(admin_user)
    invite(client)
    old = smtp_server.link_in(smtp_server.messages[0])
    invitation = Invitation.objects.get()

    client.post(reverse("team:invitation_resend", args=[invitation.pk]))

    new = smtp_server.link_in(smtp_server.messages[1])
    assert new != old
    client.logout()
    assert client.get(link_path(old)).status_code == 410
    assert client.get(link_path(new)).status_code == 200
    assert AuditEvent.objects.filter(action="member.invitation_resent").count() == 1


def test_a_withdrawn_invitation_says_so(client, admin_user, smtp_server):
    client.force_login(admin_user)
    invite(client)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    client.post(reverse("team:invitation_revoke", args=[Invitation.objects.get().pk]))
    client.logout()
    page = client.get(link_path(link))
    assert page.status_code == 410 and LINK_REVOKED in page.content.decode()
    assert AuditEvent.objects.filter(action="member.invitation_revoked").count() == 1


def test_an_email_that_cannot_be_sent_leaves_the_invitation_to_send_again(
    client, admin_user, smtp_nowhere
):
    client.force_login(admin_user)
    response = invite(client)
    page = response.content.decode()
    assert "could not be sent (ConnectionRefusedError" in page
    invitation = Invitation.objects.get()
    assert invitation.send_error.startswith("ConnectionRefusedError")
    assert invitation.sent_at is None
    assert AuditEvent.objects.filter(action="member.invited").count() == 1
    assert "not sent" in client.get(reverse("team:list")).content.decode()


def test_an_address_already_invited_or_a_member_is_refused_on_the_field(
    client, admin_user, smtp_server
):
    UserFactory(username="carl", email="carl@example.com", role=FINANCE)
    client.force_login(admin_user)
    invite(client)
    twice = invite(client).content.decode()
    member = invite(client, email="carl@example.com").content.decode()
    assert ALREADY_INVITED.format(email="bea@example.com") in twice
    assert ALREADY_A_MEMBER.format(email="carl@example.com") in member
    assert len(smtp_server.messages) == 1


def test_a_weak_password_or_a_taken_username_is_refused_and_the_link_still_works(
    client, admin_user, smtp_server
):
    UserFactory(username="taken")
    client.force_login(admin_user)
    invite(client)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    client.logout()

    weak = join(client, link, password="password")
    taken = join(client, link, username="taken")

    assert weak.status_code == 200 and "too common" in weak.content.decode()
    assert taken.status_code == 200 and "That username is taken" in taken.content.decode()
    assert join(client, link).status_code == 302


def test_nobody_but_administrators_may_invite(client, key_manager, smtp_server):
    client.force_login(key_manager)
    assert invite(client).status_code == 403
    assert not Invitation.objects.exists() and not smtp_server.messages


def test_a_forgotten_password_is_reset_by_an_emailed_link(client, smtp_server):
    from accounts.roles import AUDITOR

    user = UserFactory(username="aud", role=AUDITOR)
    user.email = "aud@example.com"
    user.save()

    done = reset_password_by_email(client, smtp_server, "aud@example.com")
    assert done.status_code == 200
    assert (
        Client()
        .post(reverse("account_login"), {"login": "aud", "password": NEW_PASSWORD})
        .status_code
        == 302
    )
    record = AuditEvent.objects.get(action="auth.password_changed")
    assert record.details["how"] == "reset by email" and record.details["member"] == "aud"
    assert NEW_PASSWORD not in str(list(AuditEvent.objects.values())) + smtp_server.raw_text()
