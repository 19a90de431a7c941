"""Team administration in Chromium: an invitation by email, joining by its link, a passkey on
Chromium's virtual authenticator, the audit log's account of it; and a single sign-on login
through the test OpenID Connect provider."""

import re

import pytest
from playwright.sync_api import expect

from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a long and unusual passphrase 42"


def _virtual_authenticator(page):
    """A platform authenticator that says yes at once (Chrome DevTools' WebAuthn domain)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def test_an_invited_colleague_joins_by_the_emailed_link_and_adds_a_passkey(
    login_as, browser, portal, smtp_server, settings
):
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # the live server is plain HTTP
    admin = login_as(ADMINISTRATOR)
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    admin.get_by_role("link", name="Invite someone").click()
    admin.get_by_label("Email address").fill("bea@example.com")
    admin.get_by_role("radio", name=re.compile(r"^\s*Key manager")).check()
    admin.get_by_role("button", name="Send the invitation").click()
    expect(admin.get_by_role("status").filter(has_text="Invitation sent")).to_be_visible()
    expect(admin.get_by_role("row").filter(has_text="bea@example.com")).to_contain_text(KEY_MANAGER)

    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    assert link.startswith(portal.url)
    colleague_context = browser.new_context(base_url=portal.url)
    colleague = colleague_context.new_page()
    colleague.goto(link)
    expect(colleague.get_by_role("heading", name="Join the Venice account portal")).to_be_visible()
    colleague.get_by_label("Username").fill("bea")
    colleague.get_by_label("First name").fill("Bea")
    colleague.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    colleague.get_by_label("Password again").fill(NEW_PASSWORD)
    colleague.get_by_role("button", name="Join").click()
    expect(
        colleague.get_by_role("status").filter(has_text="you joined as Key manager")
    ).to_be_visible()
    expect(colleague.get_by_role("banner")).to_contain_text(KEY_MANAGER)

    _virtual_authenticator(colleague)
    colleague.get_by_role("link", name="Your account").click()
    colleague.get_by_role("link", name="Manage two-factor authentication").click()
    colleague.get_by_role("link", name="Add").click()
    if colleague.get_by_label("Password").count():  # allauth asks again before this change
        colleague.get_by_label("Password").fill(NEW_PASSWORD)
        colleague.get_by_role("button", name="Confirm").click()
    colleague.get_by_label("Name").fill("Laptop")
    colleague.get_by_label("Passwordless").check()
    colleague.get_by_role("button", name="Add").click()
    expect(colleague.get_by_text("Security key added.")).to_be_visible()

    # The next login is with the passkey alone.
    colleague.context.clear_cookies()
    colleague.goto("/accounts/login/")
    colleague.get_by_role("button", name="Log in with a passkey").click()
    expect(colleague.get_by_role("banner")).to_contain_text("Bea")

    admin.context.clear_cookies()  # the same browser, now the auditor's
    auditor = login_as(AUDITOR, username="aud")
    auditor.goto("/audit/")
    log = auditor.get_by_role("table", name="Audit records")
    for action in ("member.invited", "member.joined", "auth.mfa_enrolled", "auth.login_succeeded"):
        expect(log).to_contain_text(action)
    colleague_context.close()  # its open connections must not outlive the live server


def test_a_single_sign_on_login_maps_the_group_to_its_role(page, portal_sso):
    UserFactory(username="ada", role=ADMINISTRATOR)
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with Venice SSO").click()

    # The provider's own login page, in its own process.
    expect(page).to_have_url(re.compile(re.escape(portal_sso.origin)))
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(portal_sso.users["olga"].password)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("banner")).to_contain_text("Olga Marchetti")
    expect(page.get_by_role("banner")).to_contain_text(FINANCE)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Billing and usage")).to_be_visible()
    # Let the page's last requests finish before the live server stops.
    page.wait_for_load_state("networkidle")
