"""Signing in and role changes made any way at all, as audit records on the chain."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def _assert_chain_intact():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_a_login_through_the_form_is_recorded_once(client):
    UserFactory(username="ada", role=ADMINISTRATOR, password=PASSWORD)
    client.post(reverse("account_login"), {"login": "ada", "password": PASSWORD})
    (record,) = AuditEvent.objects.all()
    assert (record.action, record.actor_username, record.outcome) == (
        "auth.login_succeeded",
        "ada",
        "succeeded",
    )
    assert record.details["factors"] == ["password"]
    _assert_chain_intact()


def test_a_failed_login_names_the_username_tried_and_never_the_password(client):
    UserFactory(username="ada", role=ADMINISTRATOR)
    client.post(reverse("account_login"), {"login": "ada", "password": "hunter2-guess"})
    (record,) = AuditEvent.objects.all()
    assert (record.action, record.outcome) == ("auth.login_failed", "failed")
    assert record.details["username_tried"] == "ada"
    assert "hunter2" not in str(AuditEvent.objects.values().get())


def test_a_lockout_is_recorded_once_with_each_failure(client, settings):
    UserFactory(username="ada", role=ADMINISTRATOR)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("account_login"), {"login": "ada", "password": "guess"})
    actions = _actions()
    assert actions.count("auth.locked_out") == 1
    assert actions.count("auth.login_failed") == settings.AXES_FAILURE_LIMIT
    _assert_chain_intact()


def test_a_role_changed_through_the_orm_is_recorded_as_the_system(
    django_capture_on_commit_callbacks,
):
    bob = UserFactory(username="bob", role=FINANCE)
    with django_capture_on_commit_callbacks(execute=True):
        bob.groups.set([Group.objects.get(name=AUDITOR)])  # a remove and an add: one change
    (record,) = AuditEvent.objects.filter(action="member.role_changed")
    assert record.changes == {"role": [FINANCE, AUDITOR]}
    assert record.actor_username == "system" and "OS user" in record.user_agent
    assert record.details["via"] == "group membership"


def test_a_role_given_from_the_groups_side_is_recorded_too(django_capture_on_commit_callbacks):
    bob = UserFactory(username="bob")
    with django_capture_on_commit_callbacks(execute=True):
        Group.objects.get(name=ADMINISTRATOR).user_set.add(bob)
    (record,) = AuditEvent.objects.filter(action="member.role_changed")
    assert record.changes == {"role": [None, ADMINISTRATOR]}
    assert record.details["member"] == "bob"


@pytest.mark.django_db(transaction=True)
def test_a_role_change_that_rolls_back_is_not_recorded():
    from django.db import transaction

    bob = UserFactory(username="bob", role=FINANCE)
    with pytest.raises(RuntimeError), transaction.atomic():
        bob.groups.set([Group.objects.get(name=AUDITOR)])
        raise RuntimeError("the change is abandoned")
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()
    bob.groups.set([Group.objects.get(name=ADMINISTRATOR)])  # autocommit: recorded at once
    (record,) = AuditEvent.objects.filter(action="member.role_changed")
    assert record.changes == {"role": [FINANCE, ADMINISTRATOR]}
