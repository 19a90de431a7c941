"""/account/preferences/: each user's time zone, applied to every page they read."""

import re

import pytest
from django.urls import reverse

from accounts.models import TIME_ZONE_UNKNOWN, UserPreferences
from accounts.roles import AUDITOR, FINANCE
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

URL = reverse("account:preferences")


def test_a_new_user_reads_times_in_utc(as_role):
    page = as_role(FINANCE).get(URL).content.decode()
    assert '<option value="UTC" selected>UTC</option>' in page


def test_choosing_a_zone_saves_it_and_says_so(as_role):
    client = as_role(FINANCE)
    response = client.post(URL, {"time_zone": "Europe/Berlin"}, follow=True)
    assert response.redirect_chain[-1][0] == URL
    page = response.content.decode()
    assert "Times now show in Europe/Berlin." in page
    assert '<option value="Europe/Berlin" selected>' in page
    assert UserPreferences.objects.get().time_zone == "Europe/Berlin"


def test_an_unknown_zone_is_refused_on_its_field(as_role):
    response = as_role(FINANCE).post(URL, {"time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert TIME_ZONE_UNKNOWN in response.content.decode()
    assert not UserPreferences.objects.exists()


def test_the_chosen_zone_applies_to_the_pages(as_role):
    from datetime import UTC, datetime

    AuditEventFactory(time=datetime(2026, 12, 2, 4, 17, tzinfo=UTC))
    client = as_role(AUDITOR)
    client.post(URL, {"time_zone": "Asia/Tokyo"})
    page = client.get(reverse("dashboard")).content.decode()
    # 04:17 UTC is 13:17 in Tokyo; hovering still gives the UTC time.
    assert re.search(r'title="2026-12-02 04:17:00 UTC">Dec 2, 2026, 13:17 JST</time>', page)


def test_your_account_links_to_the_preferences_and_names_the_zone(as_role):
    client = as_role(FINANCE)
    client.post(URL, {"time_zone": "Asia/Tokyo"})
    page = client.get(reverse("account:overview")).content.decode()
    assert f'href="{URL}">Change your time zone</a>' in page
    assert "shown in Asia/Tokyo" in page


def test_preferences_are_post_or_get_only(as_role):
    assert as_role(FINANCE).delete(URL).status_code == 405
