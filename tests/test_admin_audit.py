"""The Django admin: superusers only; it shows audit records read-only, and a role changed in
it is an audit record too."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_as_administrator(client, django_user_model):
    superuser = django_user_model.objects.create_superuser("root", "root@example.com", "x" * 20)
    client.force_login(superuser)
    return client


def test_an_administrator_who_is_not_a_superuser_is_kept_out(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:index"))
    assert response.status_code in (302, 403)
    assert response.status_code == 403 or "/admin/login/" in response["Location"]


def test_a_role_changed_in_the_admin_is_recorded_with_the_superuser_as_actor(
    admin_client_as_administrator, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    from accounts.roles import AUDITOR, FINANCE
    from tests.factories import UserFactory

    member = UserFactory(username="bob", role=FINANCE)
    url = reverse("admin:auth_user_change", args=[member.pk])
    form = admin_client_as_administrator.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        username="bob",
        groups=[Group.objects.get(name=AUDITOR).pk],
        date_joined_0=member.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=member.date_joined.strftime("%H:%M:%S"),
        last_login_0="",
        last_login_1="",
        user_permissions=[],
    )
    data["is_active"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_as_administrator.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (record,) = AuditEvent.objects.filter(action="member.role_changed")
    assert record.changes == {"role": [FINANCE, AUDITOR]}
    assert (record.actor_username, record.details["member"]) == ("root", "bob")
    assert record.details["via"] == "group membership"


def test_administrator_can_list_and_search_records(admin_client_as_administrator):
    AuditEventFactory(key_description="Findable key")
    AuditEventFactory(key_description="Other")
    url = reverse("admin:accounts_auditevent_changelist")
    response = admin_client_as_administrator.get(url, {"q": "Findable"})
    assert response.status_code == 200
    assert "Findable key" in response.content.decode()
    assert "Other" not in response.content.decode()


def test_record_page_is_read_only(admin_client_as_administrator):
    event = AuditEventFactory()
    url = reverse("admin:accounts_auditevent_change", args=[event.pk])
    response = admin_client_as_administrator.get(url)
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client_as_administrator.post(url, {"error": "x"}).status_code == 403
    assert AuditEvent.objects.get().error == ""


def test_no_add_or_delete(admin_client_as_administrator):
    event = AuditEventFactory()
    add = reverse("admin:accounts_auditevent_add")
    delete = reverse("admin:accounts_auditevent_delete", args=[event.pk])
    assert admin_client_as_administrator.get(add).status_code == 403
    assert admin_client_as_administrator.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.count() == 1
