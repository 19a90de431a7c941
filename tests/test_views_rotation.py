"""/keys/<id>/rotate/, the one-time result page, Resume and Abort, and the key page's history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Rotation
from accounts.services.rotation import (
    ROTATION_ADMIN_KEY_REFUSED,
    rotation_abort,
    rotation_start,
)

pytestmark = pytest.mark.django_db

State = Rotation.State


def _rotate_url(key):
    return reverse("keys:rotate", args=[key.id])


def _resume_url(rotation):
    return reverse("keys:rotation_resume", args=[rotation.old_key_id, rotation.pk])


def _abort_url(rotation):
    return reverse("keys:rotation_abort", args=[rotation.old_key_id, rotation.pk])


def _secret_from(response) -> str:
    html = response.content.decode()
    start = html.index('id="new-key-secret"')
    start = html.index(">", start) + 1
    return html[start : html.index("</code>", start)]


# --- the form ----------------------------------------------------------------------------------


def test_the_form_says_what_will_happen_with_the_keys_settings(client, key_manager, inference_key):
    client.force_login(key_manager)
    response = client.get(_rotate_url(inference_key))
    assert response.status_code == 200
    html = response.content.decode()
    assert "What will happen" in html
    assert "<dd>Billing worker <span" in html
    assert "Private models only" in html and "Monthly" in html  # names, not PRIVATE_ONLY/MONTH
    for value in ("now", "1h", "24h", "7d", "custom"):
        assert f'value="{value}"' in html
    assert 'name="new_expires_at"' in html and 'name="grace_ends_at"' in html
    assert "no-store" in response["Cache-Control"]


def test_posting_the_form_rotates_and_shows_the_secret_once(
    client, key_manager, inference_key, authenticates, database_text, cache_text, all_logs
):
    client.force_login(key_manager)
    response = client.post(_rotate_url(inference_key), {"grace": "24h"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "this will not be shown again" in html
    assert 'data-copy-target="#new-key-secret"' in html
    secret = _secret_from(response)
    assert authenticates(secret)

    rotation = Rotation.objects.get()
    assert rotation.state == State.GRACE
    assert secret[-6:] == rotation.new_last6
    assert f'data-replace-url="{reverse("keys:detail", args=[rotation.new_key_id])}"' in html
    # Nowhere else: not the key pages, the database (sessions included), the cache, the logs.
    for url in (
        reverse("keys:detail", args=[inference_key.id]),
        reverse("keys:detail", args=[rotation.new_key_id]),
    ):
        assert secret not in client.get(url).content.decode()
    for text in (database_text(), cache_text(), all_logs.text):
        assert secret not in text


def test_rotating_without_grace_lands_on_the_new_key(
    client, key_manager, inference_key, shared_venice
):
    client.force_login(key_manager)
    response = client.post(_rotate_url(inference_key), {"grace": "now"})
    rotation = Rotation.objects.get()
    assert rotation.state == State.COMPLETED
    assert "is deleted" in response.content.decode()
    new_page = reverse("keys:detail", args=[rotation.new_key_id])
    assert f'data-replace-url="{new_page}"' in response.content.decode()
    assert shared_venice.api_keys.get(inference_key.id) is None


def test_a_custom_grace_needs_its_end_and_keeps_the_input(client, key_manager, inference_key):
    client.force_login(key_manager)
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        _rotate_url(inference_key), {"grace": "custom", "new_expires_at": expires}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose when the grace period ends." in html
    assert f'value="{expires}"' in html
    assert not Rotation.objects.exists()


def test_a_key_with_an_open_rotation_sends_the_user_to_its_page(
    client, key_manager, manager_context, inference_key
):
    rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    client.force_login(key_manager)
    response = client.get(_rotate_url(inference_key))
    assert "already has a rotation in progress" in response.content.decode()
    assert 'name="grace"' not in response.content.decode()

    response = client.post(_rotate_url(inference_key), {"grace": "1h"})
    assert "already has a rotation in progress" in response.content.decode()
    assert Rotation.objects.count() == 1


def test_key_manager_may_not_rotate_an_admin_key(client, key_manager, admin_api_key, sandbox):
    client.force_login(key_manager)
    for response in (
        client.get(_rotate_url(admin_api_key)),
        client.post(_rotate_url(admin_api_key), {"grace": "now"}),
    ):
        assert response.status_code == 403
        assert ROTATION_ADMIN_KEY_REFUSED in response.content.decode()
    assert not Rotation.objects.exists()


def test_administrator_may_rotate_an_admin_key(client, admin_user, admin_api_key):
    client.force_login(admin_user)
    response = client.post(_rotate_url(admin_api_key), {"grace": "1h"})
    assert response.status_code == 200
    assert Rotation.objects.get().old_key_type == "ADMIN"


def test_an_unknown_key_is_a_404(client, key_manager, sandbox):
    client.force_login(key_manager)
    assert client.get(reverse("keys:rotate", args=["nope"])).status_code == 404


# --- a failing step, Resume and Abort ---------------------------------------------------------


def test_a_failed_step_shows_the_error_and_offers_resume_and_abort(
    client, key_manager, inference_key, sandbox
):
    sandbox.faults.inject("/api_keys", "PATCH", status=500)
    client.force_login(key_manager)
    response = client.post(_rotate_url(inference_key), {"grace": "24h"})
    assert response.status_code == 200
    html = response.content.decode()
    rotation = Rotation.objects.get()
    assert "stopped while retiring the old key" in html
    assert _secret_from(response)[-6:] == rotation.new_last6  # still handed over
    assert f'action="{_resume_url(rotation)}"' in html
    assert f'action="{_abort_url(rotation)}"' in html
    assert 'name="delete_replacement"' in html


def test_resume_creates_the_missing_replacement_and_shows_its_secret(
    client, key_manager, inference_key, sandbox, authenticates
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    client.force_login(key_manager)
    client.post(_rotate_url(inference_key), {"grace": "1h"})
    rotation = Rotation.objects.get()
    assert rotation.state == State.FAILED

    response = client.post(_resume_url(rotation))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert authenticates(_secret_from(response))
    rotation.refresh_from_db()
    assert rotation.state == State.GRACE


def test_resume_of_a_later_step_redirects_to_the_key_page_with_a_message(
    client, key_manager, inference_key, sandbox
):
    fault = sandbox.faults.inject("/api_keys", "DELETE", status=500)
    client.force_login(key_manager)
    client.post(_rotate_url(inference_key), {"grace": "now"})
    rotation = Rotation.objects.get()
    sandbox.faults.remove(fault)

    response = client.post(_resume_url(rotation), follow=True)
    rotation.refresh_from_db()
    assert rotation.state == State.COMPLETED
    assert response.redirect_chain[-1][0] == reverse("keys:detail", args=[rotation.new_key_id])
    assert "Rotation completed" in response.content.decode()


def test_abort_asks_about_the_replacement_before_doing_anything(
    client, key_manager, manager_context, inference_key, shared_venice
):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    client.force_login(key_manager)
    response = client.post(_abort_url(rotation), follow=True)
    assert "Say whether to delete the replacement key or keep it." in response.content.decode()
    rotation.refresh_from_db()
    assert rotation.state == State.GRACE

    response = client.post(_abort_url(rotation), {"delete_replacement": "yes"}, follow=True)
    rotation.refresh_from_db()
    assert rotation.state == State.ABORTED
    assert shared_venice.api_keys.get(rotation.new_key_id) is None
    assert "the replacement was deleted" in response.content.decode()


def test_resume_and_abort_answer_only_posts(client, key_manager, manager_context, inference_key):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    client.force_login(key_manager)
    assert client.get(_resume_url(rotation)).status_code == 405
    assert client.get(_abort_url(rotation)).status_code == 405


def test_resume_of_another_keys_rotation_is_a_404(
    client, key_manager, manager_context, inference_key
):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    client.force_login(key_manager)
    url = reverse("keys:rotation_resume", args=["another-key", rotation.pk])
    assert client.post(url).status_code == 404


def test_key_manager_cannot_resume_or_abort_an_admin_keys_rotation(
    client, key_manager, admin_context, admin_api_key, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    rotation = rotation_start(context=admin_context, key_id=admin_api_key.id, grace="24h").rotation
    client.force_login(key_manager)
    assert client.post(_resume_url(rotation)).status_code == 403
    assert client.post(_abort_url(rotation)).status_code == 403
    rotation.refresh_from_db()
    assert rotation.state == State.FAILED


@pytest.mark.parametrize("role_fixture", ["finance_user", "auditor"])
def test_read_only_roles_cannot_resume_or_abort(
    request, client, role_fixture, manager_context, inference_key, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.post(_resume_url(rotation)).status_code == 403
    assert client.post(_abort_url(rotation)).status_code == 403


# --- the key page --------------------------------------------------------------------------


def test_the_key_page_shows_the_rotation_history(
    client, key_manager, manager_context, inference_key
):
    first = rotation_start(context=manager_context, key_id=inference_key.id, grace="24h")
    rotation_abort(context=manager_context, rotation_id=first.rotation.pk, delete_replacement=True)
    second = rotation_start(context=manager_context, key_id=inference_key.id, grace="7d")
    client.force_login(key_manager)
    html = client.get(reverse("keys:detail", args=[inference_key.id])).content.decode()
    assert 'id="rotations"' in html
    assert "In its grace period." in html
    assert f"…{second.rotation.new_last6}" in html
    assert f'…{first.rotation.new_last6}</code> <span class="muted">(deleted)' in html
    assert "aborted" in html and "7 days" in html and "kim" in html
    assert f'action="{_abort_url(second.rotation)}"' in html  # a grace period may be aborted


def test_the_replacements_page_names_the_key_it_replaced(
    client, key_manager, manager_context, inference_key
):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="now"
    ).rotation
    client.force_login(key_manager)
    html = client.get(reverse("keys:detail", args=[rotation.new_key_id])).content.decode()
    assert f'<code>…{inference_key.last6}</code> <span class="muted">(deleted)' in html
    assert "completed" in html


def test_the_page_of_a_key_retired_by_rotation_links_its_replacement(
    client, key_manager, manager_context, inference_key
):
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="now"
    ).rotation
    client.force_login(key_manager)
    response = client.get(reverse("keys:detail", args=[inference_key.id]))
    assert response.status_code == 404
    assert reverse("keys:detail", args=[rotation.new_key_id]) in response.content.decode()


def test_a_failed_rotation_on_the_key_page_offers_resume_and_abort_to_managers_only(
    client, key_manager, auditor, manager_context, inference_key, sandbox
):
    sandbox.faults.inject("/api_keys", "POST", status=500, times=1)
    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    url = reverse("keys:detail", args=[inference_key.id])

    client.force_login(key_manager)
    html = client.get(url).content.decode()
    assert "failed while creating the replacement key" in html
    assert f'action="{_resume_url(rotation)}"' in html
    assert f'action="{_abort_url(rotation)}"' in html
    assert 'name="delete_replacement"' not in html  # no replacement to ask about

    client.force_login(auditor)
    html = client.get(url).content.decode()
    assert "failed while creating the replacement key" in html
    assert _resume_url(rotation) not in html


# --- the new key's expiry ---------------------------------------------------------------------


def test_the_form_proposes_the_old_keys_lifetime_for_a_key_that_expires(
    client, key_manager, shared_venice
):
    key = shared_venice.api_keys.create("Expiring", expires_at=timezone.now() + timedelta(30))
    client.force_login(key_manager)
    html = client.get(_rotate_url(key)).content.decode()
    assert 'name="new_expiry" value="lifetime" id="id_new_expiry_0" checked' in html
    assert "this key&#x27;s lifetime (30 days) again" in html


def test_posting_the_proposed_expiry_keeps_one_and_never_is_a_choice(
    client, key_manager, shared_venice
):
    key = shared_venice.api_keys.create("Expiring", expires_at=timezone.now() + timedelta(30))
    client.force_login(key_manager)
    client.post(_rotate_url(key), {"grace": "1h", "new_expiry": "lifetime"})
    kept = Rotation.objects.get()
    assert shared_venice.api_keys.get(kept.new_key_id, fresh=True).expires_at is not None

    replacement = shared_venice.api_keys.get(kept.new_key_id)
    client.post(_rotate_url(replacement), {"grace": "1h", "new_expiry": "never"})
    never = Rotation.objects.exclude(pk=kept.pk).get()
    assert shared_venice.api_keys.get(never.new_key_id, fresh=True).expires_at is None


def test_a_chosen_expiry_date_is_required_when_chosen(client, key_manager, inference_key):
    client.force_login(key_manager)
    response = client.post(_rotate_url(inference_key), {"grace": "1h", "new_expiry": "custom"})
    assert "Choose when the new key expires." in response.content.decode()
    assert not Rotation.objects.exists()


def test_after_a_rotation_with_grace_the_result_page_opens_the_new_key(
    client, key_manager, inference_key
):
    client.force_login(key_manager)
    response = client.post(_rotate_url(inference_key), {"grace": "24h"})
    rotation = Rotation.objects.get()
    new_page = reverse("keys:detail", args=[rotation.new_key_id])
    assert f'<a class="btn" href="{new_page}">Open the new key' in response.content.decode()
