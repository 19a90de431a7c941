"""Logging in and out through the real form, in Chromium."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.roles import ADMINISTRATOR, KEY_MANAGER
from tests.factories import UserFactory
from tests.fixtures.browser import PASSWORD

pytestmark = pytest.mark.browser


def test_logging_in_lands_on_the_dashboard_with_name_and_role(page):
    UserFactory(username="ada", first_name="Ada", last_name="Lovelace", role=ADMINISTRATOR)

    page.goto(reverse("account_login"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    expect(page).to_have_url(re.compile(re.escape(reverse("dashboard")) + "$"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    banner = page.get_by_role("banner")
    expect(banner).to_contain_text("Ada Lovelace")
    expect(banner).to_contain_text(ADMINISTRATOR)


def test_a_wrong_password_shows_the_error_and_keeps_the_username(page):
    UserFactory(username="ada", role=ADMINISTRATOR)

    page.goto(reverse("account_login"))
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text(
        "The username and/or password you specified are not correct."
    )
    expect(page.get_by_label("Username")).to_have_value("ada")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_an_anonymous_visitor_is_sent_to_login_and_then_back(page):
    UserFactory(username="kim", role=KEY_MANAGER)
    page.goto(reverse("dashboard"))

    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("kim")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_logging_out_ends_the_session(login_as):
    page = login_as(KEY_MANAGER)

    page.get_by_role("button", name="Log out").click()

    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    page.goto(reverse("dashboard"))
    expect(page).to_have_url(re.compile(re.escape(f"{reverse('account_login')}?next=/") + "$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
