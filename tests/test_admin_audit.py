"""The Django admin shows audit records read-only."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_as_administrator(client, admin_user):
    client.force_login(admin_user)  # staff, with view_auditevent from the role
    return client


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
