"""Each role sees the sections its abilities open, and each of them opens.

The expectation is computed from NAV_ITEMS and ROLE_ABILITIES, so a section added to the
navigation is checked here for every role without editing this test.
"""

import pytest
from playwright.sync_api import expect

from accounts.navigation import NAV_ITEMS
from accounts.roles import ADMINISTRATOR, ROLE_ABILITIES, ROLES

pytestmark = pytest.mark.browser

REFUSAL = "You don't have access to this"


def _expected_sections(role):
    return [item.label for item in NAV_ITEMS if item.ability in ROLE_ABILITIES[role]]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_the_sections_it_may_open(login_as, role):
    page = login_as(role)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(_expected_sections(role))
    expect(page.get_by_role("banner")).to_contain_text(role)


@pytest.mark.parametrize("role", ROLES)
def test_every_section_a_role_sees_opens_for_it(login_as, role):
    page = login_as(role)

    for item in NAV_ITEMS:
        if item.ability not in ROLE_ABILITIES[role]:
            continue
        page.get_by_role("navigation", name="Main").get_by_role("link", name=item.label).click()
        current = page.get_by_role("navigation", name="Main").get_by_role("link", name=item.label)
        expect(current).to_have_attribute("aria-current", "page")
        expect(page.get_by_role("heading", name=REFUSAL)).to_have_count(0)


def test_the_administrator_reaches_user_management(login_as):
    page = login_as(ADMINISTRATOR)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()

    # The portal's own members page, not the Django admin (a different application).
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Invite someone")).to_be_visible()
    assert page.url.endswith("/team/")


def test_a_user_without_a_role_sees_no_sections_and_the_refusal(login_as):
    page = login_as(None)

    expect(page.get_by_role("heading", name="You have no role in this portal yet")).to_be_visible()
    expect(page.get_by_role("button", name="Log out").first).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    expect(page.get_by_role("banner")).to_contain_text("No role")
