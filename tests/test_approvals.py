"""/approvals/: a change a policy holds waits for another Administrator, is made once, through
the same service, and every step is on the audit chain."""

import threading
from datetime import timedelta
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from accounts.models import AlertNotification, AuditEvent, ChangeRequest
from accounts.selectors.alerts import alert_log_page, alert_unread_count
from accounts.services.approvals import (
    NOT_PENDING,
    OWN_REQUEST,
    change_request_approve,
)
from accounts.services.audit import audit_context_for_command
from tests.fixtures.approvals import ask_to_delete
from tests.fixtures.audit import postgres_only

pytestmark = [pytest.mark.django_db, pytest.mark.default_policies]

State = ChangeRequest.State


def _text(response) -> str:
    return unescape(response.content.decode())


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def _deletes(sandbox):
    return [r for r in sandbox.received if r.method == "DELETE"]


def test_a_key_managers_delete_of_the_production_key_waits_and_is_made_once_approved(
    client, key_manager, admin_user, production_key, sandbox
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    assert change.state == State.PENDING and not _deletes(sandbox)
    assert "It waits for another Administrator" in _text(
        client.get(reverse("approvals:detail", args=[change.pk]))
    )

    client.force_login(admin_user)
    response = client.post(
        reverse("approvals:approve", args=[change.pk]), {"comment": "ok"}, follow=True
    )

    assert "Approved, and the change is made." in _text(response)
    assert sandbox.find_key(production_key.id) is None and len(_deletes(sandbox)) == 1
    change.refresh_from_db()
    assert (change.state, change.decided_by_username) == (State.EXECUTED, "ada")
    deleted = AuditEvent.objects.get(action="key.deleted")
    assert (deleted.actor_username, deleted.details["requested_by"]) == ("ada", "kim")
    assert deleted.details["approved_by"] == "ada"
    assert deleted.details["change_request"] == change.pk
    actions = list(
        AuditEvent.objects.filter(action__startswith="change.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["change.requested", "change.approved", "change.executed"]
    _assert_chain_intact()


def test_nobody_approves_their_own_request_even_as_the_only_administrator(
    client, admin_user, sandbox
):
    client.force_login(admin_user)
    page = client.get(reverse("keys:new"))
    client.post(
        reverse("keys:new"),
        {
            "description": "CI runner",
            "api_key_type": "ADMIN",
            "limit_period": "MONTH",
            "model_privacy": "ALL",
            "submission": page.context["form"].initial["submission"],
            "approval_reason": "New CI",
        },
    )
    change = ChangeRequest.objects.get()
    detail = _text(client.get(reverse("approvals:detail", args=[change.pk])))
    assert "you cannot approve your own request" in detail
    response = client.post(reverse("approvals:approve", args=[change.pk]), follow=True)
    assert OWN_REQUEST in _text(response)
    change.refresh_from_db()
    assert change.state == State.PENDING
    assert not [r for r in sandbox.received if r.method == "POST"]


def test_an_approved_admin_key_is_made_by_its_requester_who_alone_sees_its_secret(
    client, admin_user, second_admin, sandbox, database_text, all_logs
):
    client.force_login(admin_user)
    form = client.get(reverse("keys:new")).context["form"]
    client.post(
        reverse("keys:new"),
        {
            "description": "Deploy bot",
            "api_key_type": "ADMIN",
            "limit_period": "MONTH",
            "model_privacy": "ALL",
            "submission": form.initial["submission"],
            "approval_reason": "Deploys need the account API",
        },
    )
    change = ChangeRequest.objects.get()

    client.force_login(second_admin)
    approved = _text(client.post(reverse("approvals:approve", args=[change.pk]), follow=True))
    assert "the requester can now make the change" in approved
    assert not [r for r in sandbox.received if r.method == "POST"]

    client.force_login(admin_user)
    made = client.post(reverse("approvals:execute", args=[change.pk]))
    page = _text(made)
    secret = page.split('id="new-key-secret"')[1].split(">", 1)[1].split("</code>")[0]
    created = sandbox.find_key(secret)
    assert created is not None and created.api_key_type == "ADMIN"
    assert "no-store" in made["Cache-Control"]

    again = client.post(reverse("approvals:execute", args=[change.pk]), follow=True)
    assert secret not in _text(again) and "nothing to make" in _text(again)
    client.force_login(second_admin)
    for url in (reverse("approvals:detail", args=[change.pk]), reverse("approvals:list")):
        assert secret not in _text(client.get(url))
    for text in (database_text(), all_logs.text, str(list(AuditEvent.objects.values()))):
        assert secret not in text
    record = AuditEvent.objects.get(action="key.created")
    assert (record.details["requested_by"], record.details["approved_by"]) == ("ada", "ben")
    _assert_chain_intact()


def test_a_rejected_request_leaves_the_key_untouched(
    client, key_manager, admin_user, production_key, sandbox
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    client.force_login(admin_user)
    client.post(reverse("approvals:reject", args=[change.pk]), {"comment": "Still in use"})
    change.refresh_from_db()
    assert change.state == State.REJECTED and change.decision_comment == "Still in use"
    assert sandbox.find_key(production_key.id) is not None and not _deletes(sandbox)
    assert AuditEvent.objects.filter(action="change.rejected").count() == 1


def test_an_expired_request_leaves_the_key_untouched_and_can_no_longer_be_approved(
    client, key_manager, admin_user, production_key, sandbox
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    ChangeRequest.objects.filter(pk=change.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(admin_user)
    client.get(reverse("approvals:list"))  # the list expires what is due
    change.refresh_from_db()
    assert change.state == State.EXPIRED
    response = client.post(reverse("approvals:approve", args=[change.pk]), follow=True)
    assert NOT_PENDING.format(state="expired") in _text(response)
    assert not _deletes(sandbox)
    assert AuditEvent.objects.get(action="change.expired").actor_username == "system"


def test_a_request_for_a_key_changed_since_is_refused_as_stale(
    client, key_manager, admin_user, production_key, sandbox, sandbox_session, sandbox_url
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    # Someone renames the key outside the portal while the request waits.
    sandbox_session.patch(
        sandbox_url("/api_keys"), json={"id": production_key.id, "description": "Renamed"}
    )
    client.force_login(admin_user)
    response = client.post(reverse("approvals:approve", args=[change.pk]), follow=True)
    assert "The key changed after the request was made (description)" in _text(response)
    change.refresh_from_db()
    assert change.state == State.FAILED
    assert sandbox.find_key(production_key.id) is not None
    assert AuditEvent.objects.get(action="change.failed").outcome == "failed"


def test_a_second_click_on_approve_makes_nothing_twice(
    client, key_manager, admin_user, production_key, sandbox
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    client.force_login(admin_user)
    client.post(reverse("approvals:approve", args=[change.pk]))
    second = client.post(reverse("approvals:approve", args=[change.pk]), follow=True)
    assert NOT_PENDING.format(state="made") in _text(second)
    assert len(_deletes(sandbox)) == 1
    assert AuditEvent.objects.filter(action="change.executed").count() == 1


def test_the_requester_may_withdraw_a_request(client, key_manager, production_key):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    client.post(reverse("approvals:withdraw", args=[change.pk]))
    change.refresh_from_db()
    assert change.state == State.WITHDRAWN
    assert AuditEvent.objects.filter(action="change.withdrawn").count() == 1


def test_a_key_manager_sees_only_their_own_requests(
    client, key_manager, admin_user, production_key
):
    client.force_login(admin_user)
    change = ask_to_delete(client, production_key)
    client.force_login(key_manager)
    assert change.pk and "Delete a key" not in _text(client.get(reverse("approvals:list")))
    assert client.get(reverse("approvals:detail", args=[change.pk])).status_code == 404


def test_rotate_key_makes_an_approved_rotation_for_its_requester(
    client, key_manager, admin_user, production_key, tmp_path, authenticates
):
    client.force_login(key_manager)
    client.post(
        reverse("keys:rotate", args=[production_key.id]),
        {"grace": "now", "new_expiry": "never", "approval_reason": "Leaked in a log"},
    )
    change = ChangeRequest.objects.get()
    client.force_login(admin_user)
    client.post(reverse("approvals:approve", args=[change.pk]))

    secret_file = tmp_path / "new.key"
    call_command(
        "rotate_key",
        *(production_key.id, "--grace", "now", "--actor", key_manager.username),
        *("--approved-by", str(change.pk), "--secret-to", str(secret_file)),
        stdout=StringIO(),
    )

    assert authenticates(secret_file.read_text().strip())
    assert not authenticates(production_key.secret)
    change.refresh_from_db()
    assert change.state == State.EXECUTED
    started = AuditEvent.objects.get(action="key.rotation.started")
    assert started.details["approved_by"] == "ada" and started.details["requested_by"] == "kim"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_administrators_approving_at_once_make_the_change_exactly_once(
    key_manager, admin_user, second_admin, production_key, sandbox, client
):
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    barrier = threading.Barrier(2)
    results = []

    def approve(user):
        try:
            barrier.wait()
            results.append(
                change_request_approve(
                    context=audit_context_for_command(user), request_id=change.pk
                )
            )
        except Exception as error:  # noqa: BLE001 - the test counts what each got
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (admin_user, second_admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(_deletes(sandbox)) == 1
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert AuditEvent.objects.filter(action="change.executed").count() == 1
    assert AuditEvent.objects.filter(action="change.approved").count() == 1


def test_approvers_are_told_in_the_portal_and_by_email_and_the_requester_hears_back(
    client, settings, key_manager, admin_user, second_admin, finance_user, production_key,
    smtp_server,
):  # fmt: skip
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    for user in (admin_user, second_admin):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    client.force_login(key_manager)
    change = ask_to_delete(client, production_key)
    page = reverse("approvals:detail", args=[change.pk])

    title = f"Approval needed: kim asks to delete a key “{production_key.description}”"
    for approver in (admin_user, second_admin):
        [notice] = AlertNotification.objects.filter(user=approver)
        assert (notice.event.title, notice.event.link) == (title, page)
        email = smtp_server.only_message_to(approver.email)
        assert title in email["Subject"]
        assert f"https://portal.example.com{page}" in smtp_server.body(email)
    assert not AlertNotification.objects.filter(user=key_manager).exists()
    client.force_login(admin_user)
    assert alert_unread_count(admin_user) == 1
    assert 'class="bell__count"' in client.get(reverse("dashboard")).content.decode()
    # Others' requests are the approvers' business, not everyone's who reads alerts.
    assert alert_log_page(finance_user).events == []
    assert [event.title for event in alert_log_page(admin_user).events] == [title]

    client.post(reverse("approvals:approve", args=[change.pk]), {"comment": "ok"})

    [heard] = AlertNotification.objects.filter(user=key_manager)
    assert heard.event.title.startswith("Your request to delete a key “")
    assert "approved and made" in heard.event.body and heard.event.link == page
    assert [event.title for event in alert_log_page(key_manager).events] == [heard.event.title]
