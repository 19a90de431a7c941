"""Every API operation, for a token of each role, no token, and tokens that no longer work.

OPERATIONS must name every operation of the OpenAPI document (the last test checks): an
operation missing here is one nobody checked. The placeholders are ids that do not exist
where an allowed call would otherwise change something, so an allowed role gets a 404 or a
422, never a 401 or 403, and nothing is changed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessToken
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

pytestmark = pytest.mark.django_db

ALL = {ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR}
KEY_MANAGERS = {ADMINISTRATOR, KEY_MANAGER}
BILLING = {ADMINISTRATOR, FINANCE}
AUDIT_READERS = {ADMINISTRATOR, AUDITOR}
REQUEST_VIEWERS = {ADMINISTRATOR, KEY_MANAGER, AUDITOR}
KEY = seeded_key_id(INFERENCE_KEY)
MISSING = "00000000-0000-0000-0000-000000000000"

OPERATIONS = [
    ("get", "/keys", None, ALL),
    ("get", f"/keys/{KEY}", None, ALL),
    ("post", "/keys", {"description": "x", "expires_at": "2020-01-01T00:00:00Z"}, KEY_MANAGERS),
    ("patch", f"/keys/{KEY}", {"description": INFERENCE_KEY}, KEY_MANAGERS),
    ("delete", f"/keys/{MISSING}", None, KEY_MANAGERS),
    ("post", f"/keys/{MISSING}/rotate", {"grace": "24h"}, KEY_MANAGERS),
    ("get", "/rotations/999999", None, ALL),
    ("post", "/rotations/999999/resume", None, KEY_MANAGERS),
    ("post", "/rotations/999999/abort", {"delete_replacement": False}, KEY_MANAGERS),
    ("post", "/rotations/999999/finish", None, KEY_MANAGERS),
    ("get", "/usage/summary", None, BILLING),
    ("get", "/usage/history", None, BILLING),
    ("get", "/usage.csv", None, BILLING),
    ("get", "/audit", None, AUDIT_READERS),
    ("get", "/audit/head", None, AUDIT_READERS),
    ("get", "/audit/999999", None, AUDIT_READERS),
    ("get", "/approvals", None, REQUEST_VIEWERS),
    ("get", "/approvals/999999", None, REQUEST_VIEWERS),
    ("post", "/approvals/999999/approve", {}, {ADMINISTRATOR}),
    ("post", "/approvals/999999/reject", {}, {ADMINISTRATOR}),
    ("post", "/approvals/999999/make", None, REQUEST_VIEWERS),
    # Everyone reads alert rules (each kind its readers); balance rules are Finance's too.
    ("get", "/alerts/rules", None, ALL),
    ("get", "/alerts/rules/999999", None, ALL),
    ("post", "/alerts/rules", {"kind": "balance_below", "params": {"amount": "-1"}}, BILLING),
    ("patch", "/alerts/rules/999999", {"enabled": False}, ALL),
    ("delete", "/alerts/rules/999999", None, ALL),
    ("get", "/teams", None, ALL),
    ("get", "/teams/no-such-team", None, ALL),
    ("post", "/teams", {"name": "x", "slug": "new"}, {ADMINISTRATOR}),
    ("patch", "/teams/no-such-team", {"name": "x"}, {ADMINISTRATOR}),
    ("delete", "/teams/no-such-team", None, {ADMINISTRATOR}),
    ("post", "/teams/no-such-team/members", {"username": "x"}, {ADMINISTRATOR}),
    ("delete", "/teams/no-such-team/members/nobody", None, {ADMINISTRATOR}),
    ("put", f"/keys/{MISSING}/owner", {}, KEY_MANAGERS),
    ("get", "/allocation", {"period": "yesterday"}, BILLING),
    ("get", "/allocation.csv", {"period": "yesterday"}, BILLING),
]


def _call(api, method, path, body):
    if method == "get":
        return api.get(path, body)
    if method == "delete":
        return api.delete(path)
    return getattr(api, method)(path, body or {})


def _cases():
    for method, path, body, allowed in OPERATIONS:
        for role in (ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR):
            yield pytest.param(
                method, path, body, role, role in allowed, id=f"{method}{path}-{role}"
            )


@pytest.mark.parametrize(("method", "path", "body", "role", "allowed"), list(_cases()))
def test_a_token_may_call_an_operation_only_as_its_role_allows(
    api_as, sandbox, method, path, body, role, allowed
):
    response = _call(api_as(role), method, path, body)
    if allowed:
        assert response.status_code not in (401, 403, 500), response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("how", ["none", "revoked", "expired"])
@pytest.mark.parametrize(("method", "path", "body", "allowed"), OPERATIONS)
def test_without_a_working_token_every_operation_is_a_401(
    api_as, sandbox, method, path, body, allowed, how
):
    if how == "none":
        api = api_as(None)
    else:
        api = api_as(ADMINISTRATOR)
        if how == "revoked":
            AccessToken.objects.update(revoked_at=timezone.now())
        else:
            AccessToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = _call(api, method, path, body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_every_operation_of_the_openapi_document_is_in_the_matrix(client):
    document = client.get("/api/v1/openapi.json").json()
    documented = {
        (method, path.removeprefix("/api/v1"))
        for path, operations in document["paths"].items()
        for method in operations
    }

    def template(path: str) -> str:
        return (
            path.replace(KEY, "{key_id}")
            .replace(MISSING, "{key_id}")
            .replace("/rotations/999999", "/rotations/{rotation_id}")
            .replace("/audit/999999", "/audit/{record_id}")
            .replace("/approvals/999999", "/approvals/{request_id}")
            .replace("/alerts/rules/999999", "/alerts/rules/{rule_id}")
            .replace("/teams/no-such-team", "/teams/{slug}")
            .replace("/members/nobody", "/members/{username}")
        )

    assert documented == {(method, template(path)) for method, path, _, _ in OPERATIONS}
