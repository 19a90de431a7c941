"""/keys/new/: every field the API takes, validated; the secret shown once and kept nowhere."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.forms import DATE_OUT_OF_RANGE, EXPIRY_NOT_IN_FUTURE
from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.keys import ADMIN_KEYS_REFUSED

pytestmark = pytest.mark.django_db

URL = "/keys/new/"


def _form(client) -> dict:
    """The form's initial values as a browser would post them (with its one-time token)."""
    page = client.get(URL).content.decode()
    token = re.search(r'name="submission" value="([^"]+)"', page).group(1)
    return {
        "description": "Billing exporter",
        "api_key_type": "INFERENCE",
        "usd_limit": "",
        "diem_limit": "",
        "limit_period": "EPOCH",
        "model_privacy": "ALL",
        "expires_at": "",
        "submission": token,
    }


def _posts(sandbox):
    return [request for request in sandbox.received if request.method == "POST"]


def _secret_from(response) -> str:
    match = re.search(r'<code id="new-key-secret"[^>]*>([^<]+)</code>', response.content.decode())
    assert match, "no secret on the page"
    return match.group(1)


def test_url_is_keys_new():
    assert reverse("keys:new") == URL


def test_form_offers_every_field_the_api_takes(client, admin_user):
    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    for name in (
        "description",
        "api_key_type",
        "usd_limit",
        "diem_limit",
        "limit_period",
        "model_privacy",
        "expires_at",
    ):
        assert f'name="{name}"' in response.content.decode()
    assert b'value="ADMIN"' in response.content
    assert b'value="MONTH"' in response.content and b'value="PRIVATE_ONLY"' in response.content


def test_key_manager_is_not_offered_admin_keys(client, key_manager):
    client.force_login(key_manager)
    response = client.get(URL)
    assert b'value="ADMIN"' not in response.content
    assert b"Only Administrators may create ADMIN keys" in response.content


def test_creating_a_key_shows_its_secret_once_and_records_it(client, admin_user, sandbox):
    client.force_login(admin_user)
    data = {**_form(client), "usd_limit": "25.50", "diem_limit": "4", "limit_period": "MONTH"}
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
    data["expires_at"] = expires.strftime("%Y-%m-%dT%H:%M")
    data["model_privacy"] = "PRIVATE_TEXT"

    response = client.post(URL, data)

    assert response.status_code == 200
    secret = _secret_from(response)
    page = response.content.decode()
    assert "this will not be shown again" in page
    assert 'data-copy-target="#new-key-secret"' in page
    assert "no-store" in response["Cache-Control"]
    assert _posts(sandbox)[-1].json == {
        "apiKeyType": "INFERENCE",
        "description": "Billing exporter",
        "consumptionLimit": {"usd": 25.5, "diem": 4},
        "limitPeriod": "MONTH",
        "modelPrivacy": "PRIVATE_TEXT",
        "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    record = AuditEvent.objects.get()
    assert (record.action, record.outcome) == (AuditAction.KEY_CREATED, AuditOutcome.SUCCEEDED)
    assert record.key_last6 == secret[-6:]
    assert f'data-replace-url="/keys/{record.key_id}/"' in page


def test_the_secret_is_in_no_table_cache_log_or_later_page(
    client, admin_user, sandbox, database_text, cache_text, all_logs
):
    client.force_login(admin_user)
    response = client.post(URL, _form(client))
    secret = _secret_from(response)
    key_id = AuditEvent.objects.get().key_id

    later = [client.get(f"/keys/{key_id}/"), client.get("/keys/"), client.get(URL)]

    assert secret not in database_text()
    assert secret not in cache_text()
    assert secret not in all_logs.text
    assert all(secret not in page.content.decode() for page in later)
    assert all(secret not in cookie.value for cookie in client.cookies.values())


def test_posting_the_same_form_again_opens_the_key_instead_of_creating_another(
    client, admin_user, sandbox
):
    client.force_login(admin_user)
    data = _form(client)
    first = client.post(URL, data)
    secret = _secret_from(first)

    again = client.post(URL, data, follow=True)  # a reload of the secret page

    key_id = AuditEvent.objects.get().key_id
    assert again.redirect_chain[-1][0] == f"/keys/{key_id}/"
    assert secret not in again.content.decode()
    assert b"already created" in again.content
    assert len(_posts(sandbox)) == 1


def test_htmx_create_answers_a_fragment_and_moves_the_address_to_the_key(
    client, admin_user, sandbox
):
    client.force_login(admin_user)
    response = client.post(URL, _form(client), HTTP_HX_REQUEST="true")

    key_id = AuditEvent.objects.get().key_id
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert _secret_from(response)
    assert response["HX-Retarget"] == "#main"
    assert response["HX-Replace-Url"] == f"/keys/{key_id}/"
    assert 'hx-history="false"' in response.content.decode()
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "", "Give the key a description"),
        ("description", "d" * 65, "at most 64 characters"),
        ("usd_limit", "-1", "greater than or equal to 0"),
        ("diem_limit", "10000000000", "less than or equal to 9999999999"),
        ("usd_limit", "lots", "Enter a number"),
        ("usd_limit", "1.234", "no more than 2 decimal places"),
        ("diem_limit", "1.23456", "no more than 4 decimal places"),
        ("limit_period", "WEEKLY", "Select a valid choice"),
        ("model_privacy", "NONE", "Select a valid choice"),
        ("api_key_type", "ROOT", "Select a valid choice"),
        ("expires_at", "2020-01-01T00:00", EXPIRY_NOT_IN_FUTURE),
        ("expires_at", "9999-12-31T23:59", DATE_OUT_OF_RANGE),
    ],
)
def test_invalid_input_is_refused_next_to_its_field_and_nothing_is_sent(
    client, admin_user, sandbox, field, value, message
):
    client.force_login(admin_user)
    response = client.post(URL, {**_form(client), field: value})

    assert response.status_code == 200
    page = response.content.decode()
    error_list = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    assert error_list and message in error_list.group(1)
    assert _posts(sandbox) == []
    assert not AuditEvent.objects.exists()


def test_htmx_form_errors_come_back_as_the_form_fragment(client, admin_user):
    client.force_login(admin_user)
    response = client.post(URL, {**_form(client), "description": ""}, HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b'class="field field--error"' in response.content
    assert b"<form" in response.content


def test_venice_field_details_are_shown_next_to_the_field(client, admin_user, sandbox):
    client.force_login(admin_user)
    data = _form(client)
    data["expires_at"] = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    # Venice's clock is a year ahead: our "future" is its past.
    sandbox.clock.set(datetime.now(UTC) + timedelta(days=365))

    response = client.post(URL, data)

    page = response.content.decode()
    error_list = re.search(r'<ul class="errorlist" id="id_expires_at_error">(.*?)</ul>', page, re.S)
    assert error_list and "Expiration date must be in the future" in error_list.group(1)
    assert "Venice did not accept this." in page
    assert AuditEvent.objects.get().outcome == AuditOutcome.FAILED


REFUSED_KEY = "Venice refused the portal's key."
UNREACHABLE = "Venice could not be reached."


@pytest.mark.parametrize(
    ("fault", "headline", "expected"),
    [
        ({"status": 401}, REFUSED_KEY, "Check that VENICE_API_KEY holds a valid Venice ADMIN key."),
        ({"status": 403}, REFUSED_KEY, "Check that VENICE_API_KEY holds a valid Venice ADMIN key."),
        ({"status": 429, "reset_after": 30}, "Venice is limiting how fast", "Wait until"),
        ({"status": 500}, UNREACHABLE, "Try again in a minute"),
        ({"timeout": "before"}, UNREACHABLE, "did not accept a connection"),
    ],
)
def test_upstream_failures_show_in_place_keep_the_input_and_are_recorded(
    client, admin_user, sandbox, fault, headline, expected
):
    client.force_login(admin_user)
    sandbox.faults.inject("/api_keys", "POST", times=1, **fault)
    data = {**_form(client), "description": "Keep me", "usd_limit": "12.5"}

    response = client.post(URL, data)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"<strong>{html.escape(headline)}" in page
    assert "Venice did not accept this." not in page
    assert expected in page
    assert 'value="Keep me"' in page and 'value="12.5"' in page
    assert 'id="new-key-secret"' not in page
    assert AuditEvent.objects.get().outcome == AuditOutcome.FAILED


def test_a_create_that_times_out_after_sending_says_the_secret_was_lost(
    client, admin_user, sandbox
):
    client.force_login(admin_user)
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)

    response = client.post(URL, _form(client))

    page = response.content.decode()
    assert "Secret lost — rotate or delete this key." in page
    assert 'id="new-key-secret"' not in page
    record = AuditEvent.objects.get()
    assert record.outcome == AuditOutcome.SUCCEEDED and record.details["secret_lost"] is True
    key_page = client.get(f"/keys/{record.key_id}/").content.decode()
    assert "Secret lost — rotate or delete this key." in key_page


def test_finance_may_not_create_keys(client, finance_user, sandbox):
    client.force_login(finance_user)
    response = client.post(URL, {"description": "x", "api_key_type": "INFERENCE"})
    assert response.status_code == 403
    assert _posts(sandbox) == []


def test_key_manager_posting_an_admin_key_is_refused(client, key_manager, sandbox):
    client.force_login(key_manager)
    data = {**_form(client), "api_key_type": "ADMIN"}

    response = client.post(URL, data)

    assert response.status_code == 403
    assert ADMIN_KEYS_REFUSED in response.content.decode()
    assert _posts(sandbox) == []
    assert not AuditEvent.objects.exists()


def test_administrator_may_create_an_admin_key(client, admin_user, sandbox):
    client.force_login(admin_user)
    response = client.post(URL, {**_form(client), "api_key_type": "ADMIN"})
    assert _secret_from(response).startswith("VENICE-ADMIN-KEY-")
    assert _posts(sandbox)[-1].json["apiKeyType"] == "ADMIN"


def test_a_form_without_its_token_asks_for_a_reload(client, admin_user, sandbox):
    client.force_login(admin_user)
    data = _form(client)
    del data["submission"]
    response = client.post(URL, data)
    assert b"This form is out of date" in response.content
    assert _posts(sandbox) == []


# --- expiry choices, the period's default, the error summary ---------------------------------


def test_the_expiry_is_a_choice_of_lifetimes_90_days_by_default(client, admin_user):
    client.force_login(admin_user)
    page = client.get(URL).content.decode()
    for value, label in (
        ("7d", "In 7 days"),
        ("30d", "In 30 days"),
        ("90d", "In 90 days"),
        ("date", "On a date I choose"),
        ("never", "Never"),
    ):
        assert re.search(rf'value="{value}"[^>]*>\s*{label}', page), value
    assert re.search(r'value="90d"[^>]*checked', page)
    # Monthly limits by default: what budgets and Billing's "This month" count in.
    assert re.search(r'<option value="MONTH" selected>', page)


@pytest.mark.parametrize("choice", ["7d", "30d", "90d"])
def test_a_lifetime_sets_the_expiry_that_many_days_from_now(client, admin_user, sandbox, choice):
    client.force_login(admin_user)
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    # A date left in the box while a lifetime is ticked is neither used nor judged.
    client.post(URL, {**_form(client), "expiry": choice, "expires_at": "2020-01-01T00:00"})
    sent = datetime.fromisoformat(_posts(sandbox)[-1].json["expiresAt"].replace("Z", "+00:00"))
    days = int(choice[:-1])
    assert before + timedelta(days=days) <= sent <= before + timedelta(days=days, minutes=1)


def test_never_sends_no_expiry(client, admin_user, sandbox):
    client.force_login(admin_user)
    client.post(URL, {**_form(client), "expiry": "never", "expires_at": "2030-01-01T00:00"})
    assert "expiresAt" not in _posts(sandbox)[-1].json  # Venice's way of saying "never"


def test_a_date_of_ones_choosing_needs_the_date(client, admin_user, sandbox):
    from accounts.forms.keys import EXPIRY_DATE_REQUIRED

    client.force_login(admin_user)
    page = client.post(URL, {**_form(client), "expiry": "date", "expires_at": ""}).content.decode()
    assert EXPIRY_DATE_REQUIRED in html.unescape(page)
    assert _posts(sandbox) == []


def test_a_failed_submit_sums_up_its_errors_at_the_top_linked_to_the_fields(client, admin_user):
    client.force_login(admin_user)
    page = client.post(
        URL, {**_form(client), "description": "", "usd_limit": "-1"}
    ).content.decode()
    summary = re.search(
        r'<div class="error-summary" role="alert" tabindex="-1" data-error-summary[^>]*>'
        r"(.*?)</div>",
        page,
        re.S,
    )
    assert summary, "no error summary"
    assert "2 things to correct" in summary.group(1)
    assert '<a href="#id_description">Description: Give the key a description' in summary.group(1)
    assert '<a href="#id_usd_limit">USD limit: ' in summary.group(1)
    # It comes before the fields.
    assert page.index("error-summary") < page.index('id="id_description"')
