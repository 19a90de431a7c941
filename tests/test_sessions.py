"""Sessions: stored by key hash and encrypted, listed with device and address, ended by their
owner; the idle timeout and the absolute lifetime (accounts/sessions.py, the middleware)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import sessions
from accounts.models import AuditEvent, PortalSession
from accounts.roles import FINANCE
from accounts.sessions import session_key_hash
from tests.factories import UserFactory
from tests.fixtures.access import FIREFOX, IPHONE, PASSWORD, signed_in

pytestmark = pytest.mark.django_db


def _browser(user_agent: str, address: str) -> Client:
    return signed_in("fran", user_agent=user_agent, address=address)


@pytest.fixture
def fran(db):
    return UserFactory(username="fran", role=FINANCE, password=PASSWORD)


def test_the_database_keeps_a_hash_of_the_session_key_and_encrypted_data(fran, all_logs):
    laptop = _browser(FIREFOX, "203.0.113.5")
    key = laptop.cookies[settings.SESSION_COOKIE_NAME].value
    assert key not in all_logs.text
    assert key not in str(list(AuditEvent.objects.values()))
    assert PASSWORD not in all_logs.text + str(list(AuditEvent.objects.values()))

    (row,) = PortalSession.objects.all()
    assert row.session_key == session_key_hash(key) != key
    assert key not in row.session_data and "_auth_user_id" not in row.session_data
    assert (row.user, row.ip) == (fran, "203.0.113.5")
    assert row.user_agent == FIREFOX and row.last_seen_at is not None


def test_a_member_sees_where_they_are_signed_in_and_ends_another_session(fran):
    laptop = _browser(FIREFOX, "203.0.113.5")
    phone = _browser(IPHONE, "198.51.100.9")

    page = laptop.get(reverse("account:sessions")).content.decode()
    assert "Firefox on Linux" in page and "Safari on iPhone" in page
    assert "203.0.113.5" in page and "198.51.100.9" in page
    current = next(row for row in page.split("<tr>") if "Firefox on Linux" in row)
    assert "this browser" in current
    phone_row = next(row for row in page.split("<tr>") if "iPhone" in row)
    phone_id = phone_row.split("/account/sessions/")[1].split("/end/")[0]

    laptop.post(reverse("account:session_end", args=[phone_id]))

    assert phone.get(reverse("dashboard")).status_code == 302  # back to login
    assert laptop.get(reverse("dashboard")).status_code == 200
    (record,) = AuditEvent.objects.filter(action="auth.session_ended")
    assert record.details["device"] == "Safari on iPhone" and record.details["current"] is False


def test_nobody_ends_another_persons_session_from_their_own_page(fran):
    _browser(FIREFOX, "203.0.113.5")
    other = UserFactory(username="olga", role=FINANCE, password=PASSWORD)
    olga = Client()
    olga.post(reverse("account_login"), {"login": other.username, "password": PASSWORD})
    frans_session = PortalSession.objects.get(user=fran)

    olga.post(reverse("account:session_end", args=[frans_session.session_key]))

    assert PortalSession.objects.filter(pk=frans_session.pk).exists()
    assert not AuditEvent.objects.filter(action="auth.session_ended").exists()


def test_use_moves_the_idle_expiry_and_an_idle_session_ends(fran):
    laptop = _browser(FIREFOX, "203.0.113.5")
    row = PortalSession.objects.get()
    idle = settings.PORTAL_SESSION_IDLE_TIMEOUT
    assert abs(row.expire_date - (timezone.now() + idle)) < timedelta(minutes=1)

    PortalSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert laptop.get(reverse("dashboard")).status_code == 302


def test_a_session_ends_at_its_absolute_lifetime_however_busy(fran):
    laptop = _browser(FIREFOX, "203.0.113.5")
    session = laptop.session
    started = timezone.now() - settings.PORTAL_SESSION_MAX_AGE - timedelta(minutes=1)
    session[sessions.STARTED] = started.isoformat()
    session.save()

    response = laptop.get(reverse("dashboard"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not PortalSession.objects.filter(user=fran).exists()
