"""Personal access tokens (/account/tokens/, services/tokens.py): made by a member, shown
once, stored as a hash, no more powerful than the member, revocable; each step on the chain."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessToken, AuditEvent
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from accounts.services.audit import audit_context_for_command
from accounts.services.tokens import (
    EXPIRY_TOO_FAR,
    ROLE_TOO_HIGH,
    TokenError,
    roles_a_token_may_have,
    token_authenticate,
    token_create,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("account:tokens")


def test_a_member_makes_a_token_sees_it_once_and_only_its_hash_is_kept(client):
    kim = UserFactory(username="kim", role=KEY_MANAGER)
    client.force_login(kim)

    page = client.post(URL, {"name": "CI deploys", "role": KEY_MANAGER, "lifetime": "30d"})

    assert page.status_code == 200
    html = page.content.decode()
    token = AccessToken.objects.get()
    secret = html.split('id="new-token-secret" aria-label="The new token">')[1].split("<")[0]
    assert secret.startswith(f"vpt_{token.prefix}_")
    assert token_authenticate(secret) == token
    assert secret not in str(list(AccessToken.objects.values()))
    assert token.name == "CI deploys" and token.role == KEY_MANAGER
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    # Shown once: the page again lists the token, never its secret.
    again = client.get(URL).content.decode()
    assert "CI deploys" in again and secret not in again
    record = AuditEvent.objects.get(action="token.created")
    assert record.actor_username == "kim" and record.details["prefix"] == token.prefix
    assert secret not in str(record.details)


def test_a_token_role_is_one_the_members_role_covers():
    assert roles_a_token_may_have(UserFactory(username="ada", role=ADMINISTRATOR)) == [
        ADMINISTRATOR,
        KEY_MANAGER,
        FINANCE,
        AUDITOR,
    ]
    kim = UserFactory(username="kim", role=KEY_MANAGER)
    assert roles_a_token_may_have(kim) == [KEY_MANAGER]
    with pytest.raises(TokenError) as refused:
        token_create(
            context=audit_context_for_command(kim),
            name="escalate",
            role=ADMINISTRATOR,
            expires_at=timezone.now() + timedelta(days=1),
        )
    assert refused.value.message == ROLE_TOO_HIGH.format(role=KEY_MANAGER)
    assert not AccessToken.objects.exists()


def test_the_page_refuses_a_token_for_longer_than_a_year_naming_the_field(client):
    client.force_login(UserFactory(username="fran", role=FINANCE))
    far = (timezone.now() + timedelta(days=400)).date().isoformat()
    page = client.post(
        URL, {"name": "Forever", "role": FINANCE, "lifetime": "date", "expires_on": far}
    )
    assert EXPIRY_TOO_FAR in page.content.decode()
    assert not AccessToken.objects.exists()


def test_revoking_a_token_stops_it_and_is_recorded(client):
    fran = UserFactory(username="fran", role=FINANCE)
    client.force_login(fran)
    client.post(URL, {"name": "Sheets", "role": FINANCE, "lifetime": "90d"})
    token = AccessToken.objects.get()

    client.post(reverse("account:token_revoke", args=[token.pk]))

    token.refresh_from_db()
    assert token.revoked_at is not None and token.state == "revoked"
    assert AuditEvent.objects.filter(action="token.revoked", actor_username="fran").exists()
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_nobody_revokes_another_members_token(client):
    fran = UserFactory(username="fran", role=FINANCE)
    token = token_create(
        context=audit_context_for_command(fran),
        name="mine",
        role=FINANCE,
        expires_at=timezone.now() + timedelta(days=1),
    ).token
    client.force_login(UserFactory(username="mallory", role=ADMINISTRATOR))
    assert client.post(reverse("account:token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_member_without_a_role_is_told_a_token_could_do_nothing(client):
    client.force_login(UserFactory(username="newbie"))
    assert "a token could do nothing" in client.get(URL).content.decode()
