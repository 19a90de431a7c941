"""Managing keys as a person clicks through it, in Chromium: create and see the secret once,
edit, rotate with a grace period, delete after confirming, and an upstream outage in the
middle of a form."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Rotation
from accounts.roles import KEY_MANAGER
from accounts.venice import get_client

pytestmark = pytest.mark.browser

SECRET_LABEL = "The new key's secret"


def _shown_secret(page):
    # The secret's card is labelled like the secret itself; the secret is the code in it.
    return page.locator("code").and_(page.get_by_label(SECRET_LABEL))


def _main_nav(page):
    return page.get_by_role("navigation", name="Main")


def _inference_key(description: str):
    """A key made at Venice behind the portal's back (as the test's setup, not a flow)."""
    return get_client().api_keys.create(description)


def test_a_new_keys_secret_is_shown_once_and_is_gone_on_reload(login_as, sandbox):
    page = login_as(KEY_MANAGER)
    _main_nav(page).get_by_role("link", name="API keys").click()
    page.get_by_role("link", name="New key").click()

    page.get_by_label("Description").fill("CI deploy bot")
    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_role("heading", name="Key “CI deploy bot” created")).to_be_visible()
    expect(page.get_by_text("this will not be shown again")).to_be_visible()
    secret = _shown_secret(page).inner_text().strip()
    created = sandbox.find_key(secret)
    assert created is not None and created.description == "CI deploy bot"

    page.reload()

    expect(page).to_have_url(re.compile(re.escape(reverse("keys:detail", args=[created.id]))))
    expect(page.get_by_role("heading", name="CI deploy bot")).to_be_visible()
    expect(_shown_secret(page)).to_have_count(0)
    assert secret not in page.content()


def test_editing_a_key_saves_the_change_at_venice(login_as, sandbox):
    key = _inference_key("Staging worker")
    page = login_as(KEY_MANAGER)
    page.goto(reverse("keys:detail", args=[key.id]))

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Description").fill("Staging worker (EU)")
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("heading", name="Staging worker (EU)")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Saved the changes")).to_be_visible()
    assert sandbox.find_key(key.id).description == "Staging worker (EU)"


def test_rotating_with_a_24_hour_grace_leaves_both_keys_working(login_as, sandbox):
    old = _inference_key("Payments API")
    page = login_as(KEY_MANAGER)
    page.goto(reverse("keys:detail", args=[old.id]))

    page.get_by_role("link", name="Rotate").first.click()
    page.get_by_label("24 hours").check()
    page.get_by_role("button", name="Rotate key").click()

    expect(page.get_by_role("heading", name="“Payments API” rotated")).to_be_visible()
    secret = _shown_secret(page).inner_text().strip()
    new = sandbox.find_key(secret)
    assert new is not None and new.id != old.id
    expect(page.get_by_role("region", name="The old key")).to_contain_text("keeps working until")
    # Venice itself stops the old key when the grace ends: its expiry is about a day away.
    old_expiry = datetime.fromtimestamp(sandbox.find_key(old.id).expires_ms / 1000, UTC)
    assert timedelta(hours=23) < old_expiry - datetime.now(UTC) <= timedelta(hours=24)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Search", exact=True).fill("Payments API")
    page.get_by_role("button", name="Filter").click()

    rows = page.get_by_role("table").get_by_role("row")
    expect(rows.filter(has_text="Payments API")).to_have_count(2)
    expect(rows.filter(has_text=f"…{secret[-6:]}")).to_contain_text("new, from a rotation")
    expect(rows.filter(has_text=f"…{old.last6}")).to_contain_text("being rotated out")
    expect(rows.filter(has_text=f"…{old.last6}")).to_contain_text("expires soon")
    assert secret not in page.content()


def test_a_rotation_set_to_finish_when_quiet_watches_the_app_switch_and_retires_the_old_key(
    login_as, sandbox, sandbox_session, sandbox_url
):
    old = _inference_key("Checkout service")

    def app_calls(secret):
        response = sandbox_session.post(
            sandbox_url("/chat/completions"),
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 200

    page = login_as(KEY_MANAGER)
    page.goto(reverse("keys:detail", args=[old.id]))
    page.get_by_role("link", name="Rotate").first.click()
    page.get_by_label("24 hours").check()
    page.get_by_label("Delete the old key early once it goes quiet").check()
    page.get_by_label("Quiet for").select_option("15m")
    page.get_by_role("button", name="Rotate key").click()
    secret = _shown_secret(page).inner_text().strip()

    # Before the switch the app still calls with the old key: the page says so.
    app_calls(old.secret)
    page.goto(reverse("keys:detail", args=[old.id]))
    traffic = page.locator("#rotation-traffic")
    expect(traffic).to_contain_text("something still uses it")
    expect(traffic).to_contain_text("New key: not used yet.")
    expect(page.get_by_role("button", name="Delete the old key now")).to_have_count(0)

    # The app is redeployed with the new secret; twenty minutes later (the portal's record of
    # the rotation and the old key's last use both move back), the old key has gone quiet.
    app_calls(secret)
    twenty_minutes = timedelta(minutes=20)
    Rotation.objects.update(created_at=F("created_at") - twenty_minutes)
    sandbox.find_key(old.id).last_used_ms -= int(twenty_minutes.total_seconds() * 1000)
    get_client().transport.cache.invalidate()  # twenty minutes outlive any cached key list
    page.reload()
    expect(traffic).to_contain_text("Old key idle for 20 min")
    expect(traffic).to_contain_text("New key first seen")
    expect(traffic).to_contain_text("Set to finish when quiet")

    call_command("finish_rotations", stdout=StringIO())  # cron, as the system, a minute later
    page.reload()
    expect(page.get_by_role("heading", name="This key doesn't exist")).to_be_visible()
    expect(page.get_by_text("It was retired by a rotation")).to_be_visible()
    assert sandbox.find_key(old.id) is None and sandbox.find_key(secret) is not None
    page.get_by_role("link", name="Checkout service").click()
    history = page.get_by_role("region", name="Rotations")
    expect(history).to_contain_text("New key took over")
    expect(history).to_contain_text("old key last used")


def test_deleting_a_key_asks_first_and_then_removes_it(login_as, sandbox):
    key = _inference_key("Old laptop")
    page = login_as(KEY_MANAGER)
    page.goto(reverse("keys:detail", args=[key.id]))

    page.get_by_role("link", name="Delete").click()

    expect(page.get_by_role("heading", name="Delete “Old laptop”?")).to_be_visible()
    assert sandbox.find_key(key.id) is not None  # nothing happens before the confirmation

    page.get_by_role("button", name="Delete key").click()

    expect(page.get_by_role("status").filter(has_text="Deleted “Old laptop”")).to_be_visible()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    assert sandbox.find_key(key.id) is None


def test_an_outage_during_a_create_shows_why_and_keeps_the_input(login_as, sandbox):
    page = login_as(KEY_MANAGER)
    page.goto(reverse("keys:new"))
    page.get_by_label("Description").fill("Nightly batch")
    keys_before = len(sandbox.key_ids())

    sandbox.faults.inject("/api_keys", "POST", status=503)  # Venice goes down mid-flow
    page.get_by_role("button", name="Create key").click()

    alert = page.get_by_role("alert").filter(has_text="Venice")
    expect(alert).to_contain_text("Try again in a minute")
    expect(page.get_by_label("Description")).to_have_value("Nightly batch")
    expect(page.get_by_role("heading", name="New API key")).to_be_visible()
    assert len(sandbox.key_ids()) == keys_before


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_new_key_expires_in_90_days_unless_chosen_and_errors_are_summed_up_first(
    login_as, sandbox, width
):
    page = login_as(KEY_MANAGER)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(reverse("keys:new"))
    expect(page.get_by_label("In 90 days")).to_be_checked()
    # What the browser cannot check itself: cents beyond the second, a date chosen but not given.
    page.get_by_label("Description").fill("Nightly export")
    page.get_by_label("USD limit").fill("1.234")
    page.get_by_label("On a date I choose").check()
    page.get_by_role("button", name="Create key").click()

    # The form comes back with a summary at its top, which takes the focus.
    summary = page.get_by_role("alert").filter(has_text="2 things to correct")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    summary.get_by_role("link", name=re.compile("^USD limit")).click()
    expect(page.get_by_label("USD limit")).to_be_focused()

    page.get_by_label("USD limit").fill("5")
    page.get_by_label("In 30 days").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Key “Nightly export” created")).to_be_visible()
    key = next(
        k for k in get_client().api_keys.list(fresh=True) if k.description == "Nightly export"
    )
    assert abs(key.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=2)
