"""/keys/<id>/delete/: a confirmation naming the key; ADMIN keys need their description typed."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.html import escape

from accounts.forms import CONFIRMATION_MISMATCH
from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.services.keys import ADMIN_KEYS_REFUSED

pytestmark = pytest.mark.django_db


def _url(key_id):
    return f"/keys/{key_id}/delete/"


def _deletes(sandbox):
    return [request for request in sandbox.received if request.method == "DELETE"]


def test_confirmation_names_the_key(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    response = client.get(_url(inference_key_id))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Delete “Production backend”?" in page
    assert 'name="confirm_description"' not in page  # an INFERENCE key needs no typing


def test_deleting_removes_the_key_records_it_and_returns_to_the_list(
    client, admin_user, sandbox, inference_key_id
):
    client.force_login(admin_user)

    response = client.post(_url(inference_key_id), follow=True)

    assert response.redirect_chain[-1][0] == "/keys/"
    assert "Deleted “Production backend”" in response.content.decode()
    assert sandbox.find_key(inference_key_id) is None
    assert _deletes(sandbox)[-1].query == {"id": [inference_key_id]}
    record = AuditEvent.objects.get()
    assert (record.action, record.outcome, record.key_id) == (
        AuditAction.KEY_DELETED,
        AuditOutcome.SUCCEEDED,
        inference_key_id,
    )


def test_htmx_delete_redirects_the_browser(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    response = client.post(_url(inference_key_id), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/keys/"


def test_an_admin_key_asks_for_its_description(client, admin_user, sandbox, admin_key_id):
    client.force_login(admin_user)
    assert b'name="confirm_description"' in client.get(_url(admin_key_id)).content

    wrong = client.post(_url(admin_key_id), {"confirm_description": "Billing"})

    assert escape(CONFIRMATION_MISMATCH) in wrong.content.decode()
    assert b'class="field field--error"' in wrong.content
    assert sandbox.find_key(admin_key_id) is not None
    assert _deletes(sandbox) == []

    client.post(_url(admin_key_id), {"confirm_description": "Billing automation"})
    assert sandbox.find_key(admin_key_id) is None


def test_venice_failing_shows_in_place_and_is_recorded(
    client, admin_user, sandbox, inference_key_id
):
    client.force_login(admin_user)
    sandbox.faults.inject("/api_keys", "DELETE", status=401, times=1)

    response = client.post(_url(inference_key_id))

    assert response.status_code == 200
    assert b"Check that VENICE_API_KEY holds a valid Venice ADMIN key." in response.content
    assert sandbox.find_key(inference_key_id) is not None
    assert AuditEvent.objects.get().outcome == AuditOutcome.FAILED


def test_key_manager_is_refused_on_admin_keys(client, key_manager, sandbox, admin_key_id):
    client.force_login(key_manager)
    opened = client.get(_url(admin_key_id))
    posted = client.post(_url(admin_key_id), {"confirm_description": "Billing automation"})
    assert opened.status_code == posted.status_code == 403
    assert ADMIN_KEYS_REFUSED in posted.content.decode()
    assert sandbox.find_key(admin_key_id) is not None


def test_key_manager_may_delete_an_inference_key(client, key_manager, sandbox, inference_key_id):
    client.force_login(key_manager)
    client.post(_url(inference_key_id))
    assert sandbox.find_key(inference_key_id) is None


def test_finance_may_not_delete_a_key(client, finance_user, sandbox, inference_key_id):
    client.force_login(finance_user)
    response = client.post(_url(inference_key_id))
    assert response.status_code == 403
    assert sandbox.find_key(inference_key_id) is not None
    assert _deletes(sandbox) == []


def test_delete_is_get_or_post_only(client, admin_user, inference_key_id):
    client.force_login(admin_user)
    assert client.put(_url(inference_key_id)).status_code == 405


def test_the_delete_page_of_a_rotations_replacement_says_to_abort_instead(
    client, key_manager, manager_context, inference_key, shared_venice
):
    from accounts.services.rotation import rotation_start

    rotation = rotation_start(context=manager_context, key_id=inference_key.id, grace="1h").rotation
    client.force_login(key_manager)
    url = _url(rotation.new_key_id)
    assert "This key is the replacement in an open rotation" in client.get(url).content.decode()

    response = client.post(url)
    assert response.status_code == 200
    assert "Abort that rotation on the old key" in response.content.decode()
    assert shared_venice.api_keys.get(rotation.new_key_id, fresh=True) is not None


@pytest.mark.parametrize(
    "client_address",
    [{"REMOTE_ADDR": "fe80::1%eth0"}, {"HTTP_X_FORWARDED_FOR": "fe80::1%eth0"}],
    ids=["remote-addr", "x-forwarded-for"],
)
def test_a_delete_from_an_ipv6_address_with_a_zone_id_is_finished_and_keeps_the_chain_intact(
    client, admin_user, inference_key_id, client_address
):
    # A link-local client (or a proxy passing one on) names its interface after "%"; the
    # zone means nothing off that machine and the database does not keep it, so it must not
    # reach the hash either, or the record could never be finished nor verified.
    client.force_login(admin_user)

    client.post(_url(inference_key_id), **client_address)

    record = AuditEvent.objects.get()
    assert (record.outcome, record.ip) == (AuditOutcome.SUCCEEDED, "fe80::1")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact: 1 records." in out.getvalue()
