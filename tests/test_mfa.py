"""Second factors (django-allauth's MFA): enrolling an authenticator app, logging in with it,
recovery codes, PORTAL_REQUIRE_MFA, and what the database keeps of them.

Codes are computed with pyotp from the secret the enrolment page shows, as an authenticator
app would from its QR code.
"""

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, PortalSession
from accounts.roles import FINANCE, KEY_MANAGER
from tests.factories import UserFactory
from tests.fixtures.access import PASSWORD, enrol_totp, log_in, recovery_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def require_mfa(settings):
    settings.PORTAL_REQUIRE_MFA = ["Administrator", "Key manager"]


def test_a_required_second_factor_comes_before_any_other_page_and_then_lets_through(
    require_mfa, client
):
    UserFactory(username="kim", role=KEY_MANAGER, password=PASSWORD)
    log_in(client, "kim")

    refused = client.get(reverse("keys:new"))
    assert refused.status_code == 302 and refused["Location"] == reverse("mfa_index")
    assert "needs a second factor" in client.get(refused["Location"]).content.decode()

    enrol_totp(client)
    assert client.get(reverse("keys:new")).status_code == 200


def test_a_role_that_needs_no_second_factor_is_not_sent_to_enrol(require_mfa, client):
    UserFactory(username="fran", role=FINANCE, password=PASSWORD)
    log_in(client, "fran")
    assert client.get(reverse("billing:overview")).status_code == 200


def test_logging_in_with_an_authenticator_app_asks_for_its_code(client):
    UserFactory(username="kim", role=KEY_MANAGER, password=PASSWORD)
    log_in(client, "kim")
    secret = enrol_totp(client)
    client.logout()

    laptop = Client()
    after_password = log_in(laptop, "kim")
    assert after_password["Location"] == reverse("mfa_authenticate")
    assert laptop.get(reverse("keys:list")).status_code == 302  # not in yet
    wrong = laptop.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
    right = laptop.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert right.status_code == 302
    assert laptop.get(reverse("keys:list")).status_code == 200

    login = AuditEvent.objects.filter(action="auth.login_succeeded").latest("id")
    assert login.details["factors"] == ["password", "totp"]
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.details["factor"] == "second factor"


def test_a_recovery_code_works_once(client):
    UserFactory(username="kim", role=KEY_MANAGER, password=PASSWORD)
    log_in(client, "kim")
    enrol_totp(client)
    code = recovery_codes(client)[0]
    client.logout()

    first = Client()
    log_in(first, "kim")
    assert first.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert first.get(reverse("keys:list")).status_code == 200

    second = Client()
    log_in(second, "kim")
    reused = second.post(reverse("mfa_authenticate"), {"code": code})
    assert reused.status_code == 200 and "Incorrect code" in reused.content.decode()


def test_enrolling_and_removing_a_second_factor_are_recorded(
    client, django_capture_on_commit_callbacks
):
    # allauth announces these once the change commits.
    kim = UserFactory(username="kim", role=KEY_MANAGER, password=PASSWORD)
    log_in(client, "kim")
    with django_capture_on_commit_callbacks(execute=True):
        enrol_totp(client)
    enrolled = AuditEvent.objects.filter(action="auth.mfa_enrolled")
    assert {record.details["factor"] for record in enrolled} == {"totp", "recovery_codes"}

    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=kim, type=Authenticator.Type.TOTP).exists()
    # With no second factor left, allauth removes the recovery codes too: both are recorded.
    removed = AuditEvent.objects.filter(action="auth.mfa_removed")
    assert {record.details["factor"] for record in removed} == {"totp", "recovery_codes"}
    assert {record.details["member"] for record in removed} == {kim.username}


def test_no_totp_secret_or_recovery_code_is_kept_in_the_clear(client, database_text, all_logs):
    UserFactory(username="kim", role=KEY_MANAGER, password=PASSWORD)
    log_in(client, "kim")
    secret = enrol_totp(client)
    codes = recovery_codes(client)
    assert len(codes) >= 10

    raw_tables = "\n".join(
        [str(data) for data in Authenticator.objects.values_list("data", flat=True)]
        + list(PortalSession.objects.values_list("session_data", flat=True))
    )
    for text in (raw_tables, str(list(AuditEvent.objects.values())), all_logs.text):
        assert secret not in text
        for code in codes:
            assert code not in text
    assert secret not in database_text()  # the decoded sessions too
    # Encrypted, not lost: the app's codes still sign in.
    laptop = Client()
    log_in(laptop, "kim")
    laptop.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert laptop.get(reverse("keys:list")).status_code == 200
