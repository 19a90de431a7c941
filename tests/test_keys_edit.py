"""/keys/<id>/edit/: the fields PATCH accepts, prefilled; only changes sent and recorded."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from accounts.forms import EXPIRY_NOT_IN_FUTURE
from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.keys import ADMIN_KEYS_REFUSED

pytestmark = pytest.mark.django_db


def _url(key_id):
    return f"/keys/{key_id}/edit/"


def _patches(sandbox):
    return [request for request in sandbox.received if request.method == "PATCH"]


def _prefilled(client, key_id) -> dict:
    """The form's fields as the page fills them in (without the values it shows them with,
    which the form posts back as hidden `initial-*` fields: see _shown)."""
    page = client.get(_url(key_id)).content.decode()
    values = dict(re.findall(r'<input type="[^"]+" name="(\w+)" value="([^"]*)"', page))
    for name in ("limit_period", "model_privacy"):
        select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
        values[name] = re.search(r'<option value="(\w+)" selected>', select).group(1)
    values.setdefault("diem_limit", "")
    values.setdefault("expires_at", "")
    values.pop("csrfmiddlewaretoken", None)
    return values


def _shown(client, key_id) -> dict:
    """Everything the browser posts back: the fields and the hidden record of what it showed."""
    page = client.get(_url(key_id)).content.decode()
    shown = dict(re.findall(r'<input type="hidden" name="(initial-\w+)" value="([^"]*)"', page))
    shown.setdefault("initial-diem_limit", "")
    shown.setdefault("initial-expires_at", "")
    return {**_prefilled(client, key_id), **shown}


def test_edit_form_is_prefilled_with_the_key(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    assert _prefilled(client, inference_key_id) == {
        "description": "Production backend",
        "usd_limit": "500",
        "diem_limit": "",
        "limit_period": "MONTH",
        "model_privacy": "ALL",
        "expires_at": "",
    }


def test_saving_sends_only_what_changed_and_records_before_and_after(
    client, admin_user, sandbox, inference_key_id
):
    client.force_login(admin_user)
    data = {**_shown(client, inference_key_id), "usd_limit": "750", "diem_limit": "20"}

    response = client.post(_url(inference_key_id), data, follow=True)

    assert response.redirect_chain[-1][0] == f"/keys/{inference_key_id}/"
    assert b"Saved the changes" in response.content
    assert _patches(sandbox)[-1].json == {
        "id": inference_key_id,
        "consumptionLimit": {"usd": 750, "diem": 20},
    }
    record = AuditEvent.objects.get()
    assert (record.action, record.outcome) == (AuditAction.KEY_UPDATED, AuditOutcome.SUCCEEDED)
    assert record.changes == {
        "consumption_limits.usd": ["500", "750"],
        "consumption_limits.diem": [None, "20"],
    }


def test_setting_and_clearing_the_expiry(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    expires = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    data = {
        **_shown(client, inference_key_id),
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M"),
    }
    client.post(_url(inference_key_id), data)
    assert _patches(sandbox)[-1].json["expiresAt"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # The form, opened again, shows the expiry; emptying it removes the expiry.
    client.post(_url(inference_key_id), {**_shown(client, inference_key_id), "expires_at": ""})

    assert _patches(sandbox)[-1].json == {"id": inference_key_id, "expiresAt": None}


def test_saving_unchanged_sends_nothing(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    response = client.post(_url(inference_key_id), _shown(client, inference_key_id), follow=True)
    assert b"Nothing changed" in response.content
    assert _patches(sandbox) == []
    assert not AuditEvent.objects.exists()


def test_htmx_save_redirects_the_browser(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    data = {**_shown(client, inference_key_id), "description": "Renamed"}
    response = client.post(_url(inference_key_id), data, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"/keys/{inference_key_id}/"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "", "Give the key a description"),
        ("description", "e" * 65, "at most 64 characters"),
        ("usd_limit", "-5", "greater than or equal to 0"),
        ("expires_at", "2021-06-01T10:00", EXPIRY_NOT_IN_FUTURE),
    ],
)
def test_invalid_input_is_refused_next_to_its_field(
    client, admin_user, sandbox, inference_key_id, field, value, message
):
    client.force_login(admin_user)
    data = {**_shown(client, inference_key_id), field: value}

    response = client.post(_url(inference_key_id), data, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert "<html" not in page
    error_list = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    assert error_list and message in error_list.group(1)
    assert _patches(sandbox) == []


def test_venice_refusing_shows_in_place_keeps_input_and_is_recorded(
    client, admin_user, sandbox, inference_key_id
):
    client.force_login(admin_user)
    sandbox.faults.inject("/api_keys", "PATCH", status=429, reset_after=20, times=1)
    data = {**_shown(client, inference_key_id), "description": "Kept input"}

    response = client.post(_url(inference_key_id), data)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Wait until" in page
    assert 'value="Kept input"' in page
    assert AuditEvent.objects.get().outcome == AuditOutcome.FAILED
    assert sandbox.find_key(inference_key_id).description == "Production backend"


def test_venice_field_details_land_next_to_the_field(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    soon = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {**_shown(client, inference_key_id), "expires_at": soon}
    sandbox.clock.set(datetime.now(UTC) + timedelta(days=30))

    response = client.post(_url(inference_key_id), data)

    page = response.content.decode()
    error_list = re.search(r'<ul class="errorlist" id="id_expires_at_error">(.*?)</ul>', page, re.S)
    assert error_list and "must be in the future" in error_list.group(1)


def test_key_manager_may_edit_inference_keys(client, key_manager, sandbox, inference_key_id):
    client.force_login(key_manager)
    data = {**_shown(client, inference_key_id), "description": "By the key manager"}
    client.post(_url(inference_key_id), data)
    assert sandbox.find_key(inference_key_id).description == "By the key manager"


def test_key_manager_is_refused_on_admin_keys(client, key_manager, sandbox, admin_key_id):
    client.force_login(key_manager)

    opened = client.get(_url(admin_key_id))
    posted = client.post(_url(admin_key_id), {"description": "Taken over"})

    assert opened.status_code == posted.status_code == 403
    assert ADMIN_KEYS_REFUSED in posted.content.decode()
    assert _patches(sandbox) == []


def test_finance_may_not_post_an_edit(client, finance_user, sandbox, inference_key_id):
    client.force_login(finance_user)
    response = client.post(_url(inference_key_id), {"description": "Finance was here"})
    assert response.status_code == 403
    assert _patches(sandbox) == []


def test_editing_an_unknown_key_is_a_404(client, admin_user):
    client.force_login(admin_user)
    response = client.get(_url("no-such-key"))
    assert response.status_code == 404
    assert b"This key doesn't exist" in response.content


def test_saving_other_fields_leaves_an_expiry_with_seconds_alone(
    client, admin_user, sandbox, seeded_key
):
    # "Data pipeline (nightly)" expires at a time with seconds the minute input cannot show.
    key_id = seeded_key("Data pipeline (nightly)")
    client.force_login(admin_user)
    data = {**_shown(client, key_id), "description": "Nightly pipeline"}

    client.post(_url(key_id), data)

    assert _patches(sandbox)[-1].json == {"id": key_id, "description": "Nightly pipeline"}


def test_a_change_made_elsewhere_meanwhile_is_not_overwritten(
    client, admin_user, sandbox, sandbox_session, sandbox_url, inference_key_id
):
    client.force_login(admin_user)
    data = _shown(client, inference_key_id)
    assert data["initial-description"] == "Production backend"
    # While the form is open, someone else renames the key and sets a DIEM limit.
    sandbox_session.patch(
        sandbox_url("/api_keys"),
        json={
            "id": inference_key_id,
            "description": "Production backend (EU)",
            "consumptionLimit": {"diem": 40},
        },
    ).raise_for_status()

    response = client.post(_url(inference_key_id), {**data, "usd_limit": "600"}, follow=True)

    assert b"Saved the changes" in response.content
    assert _patches(sandbox)[-1].json == {
        "id": inference_key_id,
        "consumptionLimit": {"usd": 600, "diem": 40},
    }
    key = client.get(f"/keys/{inference_key_id}/").content.decode()
    assert "Production backend (EU)" in key
    assert AuditEvent.objects.get().changes == {"consumption_limits.usd": ["500", "600"]}


def test_a_limit_with_more_decimals_than_the_form_allows_does_not_block_other_changes(
    client, admin_user, sandbox, shared_venice
):
    from decimal import Decimal

    from accounts.venice import ConsumptionLimits

    key = shared_venice.api_keys.create(
        "Precise", consumption_limits=ConsumptionLimits(usd=Decimal("12.345"))
    )
    client.force_login(admin_user)
    posted = {**_shown(client, key.id), "description": "Precise (renamed)"}
    assert posted["usd_limit"] == "12.345"

    response = client.post(_url(key.id), posted)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert _patches(sandbox)[-1].json == {"id": key.id, "description": "Precise (renamed)"}
    assert sandbox.find_key(key.id).description == "Precise (renamed)"


def test_a_changed_limit_is_still_held_to_the_forms_decimals(
    client, admin_user, sandbox, inference_key_id
):
    client.force_login(admin_user)
    response = client.post(
        _url(inference_key_id), {**_shown(client, inference_key_id), "usd_limit": "1.234"}
    )
    assert response.status_code == 200
    assert "Ensure that there are no more than 2 decimal places." in response.content.decode()
    assert not _patches(sandbox)
