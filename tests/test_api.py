"""The portal API (/api/v1/): keys, rotations, usage, audit and approvals through the same
services, roles, policies and audit as the pages, with personal access tokens. Venice is the
sandbox, reached over the real HTTP client stack."""

import json
import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.forms.keys import EXPIRY_NOT_IN_FUTURE
from accounts.models import AccessToken, AuditChainHead, AuditEvent, KeyPolicy, Rotation
from accounts.presentation.audit import audit_sentence
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from accounts.services.audit import audit_context_for_command
from accounts.services.members import member_deactivate, member_role_change
from accounts.services.tokens import EXPIRED, MEMBER_INACTIVE, REVOKED, ROLE_GONE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _everything_stored() -> str:
    with connection.cursor() as cursor:
        rows = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - the tables' own names
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


# --- the CI job of the issue: a limited, expiring key for a test run, then deleted ---------------


def test_a_ci_job_creates_a_limited_expiring_key_and_deletes_it_and_the_auditor_sees_both(
    api_as, sandbox, caplog
):
    caplog.set_level(logging.DEBUG)
    ci = api_as(KEY_MANAGER, username="kim")
    expires = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    created = ci.post(
        "/keys",
        {"description": "CI run 4711", "usd_limit": "5.00", "expires_at": expires.isoformat()},
    )

    assert created.status_code == 201, created.content
    key = created.json()
    assert key["secret"] and sandbox.find_key(key["secret"]).id == key["id"]
    assert Decimal(key["limits"]["usd"]) == Decimal("5") and key["limit_period"] == "MONTH"
    assert key["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M"))
    assert "secret" not in ci.get(f"/keys/{key['id']}").json()

    assert ci.delete(f"/keys/{key['id']}").status_code == 204
    assert sandbox.find_key(key["id"]) is None

    auditor = api_as(AUDITOR)
    records = auditor.get("/audit", {"key": key["id"]}).json()["records"]
    assert [r["action"] for r in records] == ["key.deleted", "key.created"]
    for record in records:
        assert record["actor"] == "kim" and record["role"] == KEY_MANAGER
        assert record["details"]["via_token"] == {"name": "CI", "prefix": ci.token.prefix}
        assert record["sentence"].startswith("kim (with the API token “CI”) ")
    # Neither the key's secret nor the token is kept anywhere, or logged.
    stored = _everything_stored()
    logged = "\n".join(caplog.messages)
    for secret in (key["secret"], ci.secret):
        assert secret not in stored and secret not in logged


def test_the_same_change_through_the_page_and_the_api_leaves_the_same_record(
    api_as, client, sandbox
):
    api = api_as(KEY_MANAGER, username="kim")
    client.force_login(api.member)
    client.post(
        reverse("keys:new"),
        {
            "description": "From the page",
            "api_key_type": "INFERENCE",
            "usd_limit": "5",
            "limit_period": "MONTH",
            "model_privacy": "ALL",
            "expiry": "30d",
            "submission": "page-submission-000001",
        },
    )
    api.post("/keys", {"description": "From the API", "usd_limit": "5"})

    page, through_api = AuditEvent.objects.filter(action="key.created").order_by("id")
    assert page.details.keys() | {"via_token"} == through_api.details.keys()
    assert page.details["settings"].keys() == through_api.details["settings"].keys()
    for field in ("actor_username", "actor_role", "outcome", "changes"):
        assert getattr(page, field) == getattr(through_api, field)
    assert "via_token" not in page.details


# --- validation: the forms' rules, as JSON -------------------------------------------------------


def test_bad_input_is_a_422_naming_the_field_with_the_pages_words(api_as, sandbox):
    api = api_as(KEY_MANAGER)

    past = api.post("/keys", {"description": "x", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    assert _error(past)["fields"] == {"expires_at": [EXPIRY_NOT_IN_FUTURE]}

    cents = api.post("/keys", {"description": "x", "usd_limit": "1.005"})
    assert cents.status_code == 422 and "usd_limit" in _error(cents)["fields"]

    wrong_type = api.post("/keys", {"description": "x", "limit_period": "WEEKLY"})
    assert wrong_type.status_code == 422 and "limit_period" in _error(wrong_type)["fields"]

    nothing = api.patch("/keys/whatever", {})
    assert nothing.status_code == 404  # the key is looked up first
    assert not AuditEvent.objects.filter(action="key.created").exists()


def test_an_unknown_key_is_a_404_and_venice_down_a_503(api_as, sandbox, shared_venice):
    api = api_as(KEY_MANAGER)
    assert _error(api.get("/keys/no-such-key"))["code"] == "not_found"
    sandbox.faults.inject("/api_keys", "GET", status=503)
    shared_venice.transport.cache.invalidate()  # the lookup above cached the key list
    down = api.get("/keys")
    assert down.status_code == 503
    assert _error(down)["code"] in ("venice_unavailable", "venice_outcome_unknown")


def test_a_patch_changes_only_what_it_sends(api_as, shared_venice):
    api = api_as(KEY_MANAGER)
    key = shared_venice.api_keys.create("Batch", consumption_limits=None)
    changed = api.patch(f"/keys/{key.id}", {"usd_limit": "12.50"})
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert body["description"] == "Batch" and Decimal(body["limits"]["usd"]) == Decimal("12.5")
    record = AuditEvent.objects.get(action="key.updated")
    assert set(record.changes) == {"consumption_limits.usd"}


# --- tokens: who they act as ---------------------------------------------------------------------


def test_a_token_has_its_own_role_not_its_members(api_as, sandbox):
    auditor_token_of_an_admin = api_as(AUDITOR, member_role=ADMINISTRATOR)
    assert auditor_token_of_an_admin.get("/audit").status_code == 200
    refused = auditor_token_of_an_admin.post("/keys", {"description": "nope"})
    assert refused.status_code == 403 and _error(refused)["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action="key.created").exists()


@pytest.mark.parametrize("how", ["revoked", "expired", "deactivated", "demoted", "unknown"])
def test_a_token_stops_working_and_says_why(api_as, sandbox, how):
    api = api_as(KEY_MANAGER)
    system = audit_context_for_command(None, command="test")
    expected = {
        "revoked": REVOKED,
        "expired": EXPIRED,
        "deactivated": MEMBER_INACTIVE,
        "demoted": ROLE_GONE,
        "unknown": "The token is not valid.",
    }[how]
    if how == "revoked":
        AccessToken.objects.update(revoked_at=timezone.now())
    elif how == "expired":
        AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "deactivated":
        UserFactory(username="second-admin", role=ADMINISTRATOR)
        member_deactivate(context=system, member=api.member)
    elif how == "demoted":
        member_role_change(context=system, member=api.member, role=FINANCE)
    else:
        api.secret = api.secret[:-4] + "AAAA"
    response = api.get("/keys")
    assert response.status_code == 401
    assert _error(response)["message"] == expected


def test_no_token_is_a_401_with_the_error_shape(api_as):
    anonymous = api_as(None)
    response = anonymous.get("/keys")
    assert response.status_code == 401 and _error(response)["code"] == "unauthorized"


def test_a_runaway_script_is_slowed_down_per_token(api_as, sandbox, settings):
    settings.PORTAL_API_RATE_LIMIT = "3/min"
    api, other = api_as(FINANCE), api_as(AUDITOR)
    answers = [api.get("/keys").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = api.get("/keys")
    assert _error(limited)["code"] == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert other.get("/keys").status_code == 200  # each token has its own budget


# --- idempotency ---------------------------------------------------------------------------------


def test_the_same_create_sent_twice_with_one_idempotency_key_makes_one_key(api_as, sandbox):
    api = api_as(KEY_MANAGER)
    body = {"description": "Nightly export", "usd_limit": "3"}
    headers = {"Idempotency-Key": "run-2026-12-02"}

    first = api.post("/keys", body, headers=headers)
    again = api.post("/keys", body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["secret"] and again.json()["secret"] is None
    made = [i for i in sandbox.key_ids() if sandbox.find_key(i).description == "Nightly export"]
    assert len(made) == 1
    other = api.post("/keys", {**body, "usd_limit": "4"}, headers=headers)
    assert other.status_code == 422 and _error(other)["code"] == "idempotency_key_reused"
    assert first.json()["secret"] not in _everything_stored()


def test_the_same_rotation_sent_twice_rotates_once(api_as, shared_venice):
    api = api_as(KEY_MANAGER)
    key = shared_venice.api_keys.create("Worker")
    headers = {"Idempotency-Key": "rotate-worker-1"}
    first = api.post(f"/keys/{key.id}/rotate", {"grace": "1h"}, headers=headers)
    again = api.post(f"/keys/{key.id}/rotate", {"grace": "1h"}, headers=headers)
    assert first.status_code == again.status_code == 201, first.content
    assert first.json()["id"] == again.json()["id"] and again.json()["secret"] is None
    assert Rotation.objects.count() == 1


# --- rotations -----------------------------------------------------------------------------------


def test_a_rotation_through_the_api_gives_the_secret_once_and_can_be_followed_and_aborted(
    api_as, shared_venice, sandbox
):
    api = api_as(KEY_MANAGER)
    key = shared_venice.api_keys.create("Checkout")
    rotated = api.post(f"/keys/{key.id}/rotate", {"grace": "24h"})
    assert rotated.status_code == 201
    body = rotated.json()
    assert body["state"] == "grace" and sandbox.find_key(body["secret"]).id == body["new_key_id"]

    status = api.get(f"/rotations/{body['id']}").json()
    assert status["state"] == "grace" and "secret" not in status
    early = api.post(f"/rotations/{body['id']}/finish")
    assert early.status_code == 409 and "not quiet yet" in _error(early)["message"]

    aborted = api.post(f"/rotations/{body['id']}/abort", {"delete_replacement": True})
    assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"
    assert sandbox.find_key(body["new_key_id"]) is None and sandbox.find_key(key.id) is not None


def test_a_key_manager_token_may_not_rotate_an_admin_key(api_as, admin_api_key):
    api = api_as(KEY_MANAGER)
    refused = api.post(f"/keys/{admin_api_key.id}/rotate", {"grace": "24h"})
    assert refused.status_code == 403
    assert not Rotation.objects.exists()


# --- policies and approvals ----------------------------------------------------------------------


@pytest.mark.default_policies
def test_policies_hold_an_api_change_exactly_as_a_page_change(api_as, shared_venice, sandbox):
    requester = api_as(KEY_MANAGER, username="kim")
    key = shared_venice.api_keys.create("Production")
    held = requester.delete(f"/keys/{key.id}")
    # Fresh keys are unused: deleting one is not held; an ADMIN key's change is.
    assert held.status_code == 204
    admin_key = shared_venice.api_keys.create("Ops", api_key_type="ADMIN")
    admin = api_as(ADMINISTRATOR, username="ada")
    asked = admin.delete(f"/keys/{admin_key.id}")
    assert asked.status_code == 409
    error = _error(asked)
    assert error["code"] == "approval_required" and error["policies"]
    assert sandbox.find_key(admin_key.id) is not None

    with_reason = admin.delete(f"/keys/{admin_key.id}", "?reason=Leaked+in+a+log")
    assert with_reason.status_code == 202
    change = with_reason.json()["change_request"]
    own = admin.post(f"/approvals/{change}/approve", {})
    assert own.status_code in (403, 409) and sandbox.find_key(admin_key.id) is not None

    second = api_as(ADMINISTRATOR, username="grace")
    approved = second.post(f"/approvals/{change}/approve", {"comment": "ok"})
    assert approved.status_code == 200 and approved.json()["state"] == "executed"
    assert sandbox.find_key(admin_key.id) is None


def test_a_policy_that_forbids_refuses_through_the_api_naming_it(api_as, sandbox):
    KeyPolicy.objects.update_or_create(pk=1, defaults={"inference_require_limit": True})
    api = api_as(KEY_MANAGER)
    refused = api.post("/keys", {"description": "Unlimited"})
    assert refused.status_code == 403
    error = _error(refused)
    assert error["code"] == "policy_forbids" and error["message"].startswith("Refused by policy")
    assert not AuditEvent.objects.filter(action="key.created").exists()


# --- usage and audit -----------------------------------------------------------------------------


def test_usage_summary_adds_up_to_venices_totals_per_currency(api_as, shared_venice):
    api = api_as(FINANCE)
    summary = api.get("/usage/summary", {"period": "last-30-days"})
    assert summary.status_code == 200, summary.content
    body = summary.json()
    analytics = shared_venice.billing.get_usage_analytics(
        start=date.fromisoformat(body["start"]), end=date.fromisoformat(body["end"])
    )
    assert Decimal(body["total"]["usd"]) == analytics.total_usd
    assert Decimal(body["total"]["diem"]) == analytics.total_diem
    assert sum(Decimal(row["usd"]) for row in body["by_key"]) == sum(
        k.total_usd for k in analytics.by_key
    )


def test_the_usage_csv_streams_and_is_audited_as_the_token(api_as, sandbox):
    api = api_as(FINANCE, username="fran")
    response = api.get("/usage.csv", {"start": "2026-11-01", "end": "2026-11-30"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) > 1
    record = AuditEvent.objects.get(action="billing.usage_exported")
    assert record.actor_username == "fran" and record.details["via_token"]["name"] == "CI"


def test_the_usage_history_walks_with_its_cursor(api_as, sandbox):
    api = api_as(FINANCE)
    first = api.get("/usage/history", {"start": "2026-11-01", "end": "2026-11-30"}).json()
    assert first["entries"] and first["next_cursor"]  # a month of usage is more than a page
    following = api.get("/usage/history", {"cursor": first["next_cursor"]}).json()
    # Venice walks the ledger in ascending time: the next page starts after this one.
    assert following["entries"][0]["timestamp"] >= first["entries"][-1]["timestamp"]
    bad = api.get("/usage/history", {"cursor": "not a cursor"})
    assert bad.status_code == 422 and "cursor" in _error(bad)["fields"]


def test_the_audit_api_gives_records_one_record_and_the_head(api_as, sandbox):
    api = api_as(AUDITOR)
    api_as(KEY_MANAGER).post("/keys", {"description": "Audited"})
    records = api.get("/audit", {"action": ["key.created"]}).json()["records"]
    (record,) = records
    one = api.get(f"/audit/{record['id']}").json()
    assert one == record
    event = AuditEvent.objects.get(pk=record["id"])
    assert record["sentence"] == audit_sentence(event) and record["hash"] == event.hash
    head = api.get("/audit/head").json()
    chain = AuditChainHead.objects.get()
    assert head == {"sequence": chain.sequence, "hash": chain.hash}
    assert api.get("/audit", {"outcome": "maybe"}).status_code == 422


def test_the_openapi_document_and_its_docs_are_served(client):
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    paths = json.loads(document.content)["paths"]
    assert {"/api/v1/keys", "/api/v1/keys/{key_id}/rotate", "/api/v1/audit/head"} <= set(paths)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
