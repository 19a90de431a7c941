"""The sandbox's /api_keys endpoints, over a plain requests.Session with its adapter."""

import json
from datetime import timedelta

import pytest

from accounts.sandbox.digest import secret_digest
from accounts.sandbox.rules import (
    ADMIN_REQUIRED,
    AUTH_FAILED,
    INVALID_PARAMETERS,
    KEY_NOT_FOUND,
)
from accounts.venice import APIKeyType, get_client

KEY_FIELDS = {
    "apiKeyType",
    "consumptionLimits",
    "limitPeriod",
    "modelPrivacy",
    "createdAt",
    "description",
    "expiresAt",
    "id",
    "last6Chars",
    "lastUsedAt",
    "usage",
}


def _create(session, url, **fields):
    body = {"apiKeyType": "INFERENCE", "description": "A new key", **fields}
    return session.post(url("/api_keys"), json=body)


def test_the_seeded_account_lists_about_a_dozen_keys_of_both_types(sandbox_session, sandbox_url):
    response = sandbox_session.get(sandbox_url("/api_keys"))

    assert response.status_code == 200
    payload = response.json()
    assert payload["object"] == "list"
    keys = payload["data"]
    assert 10 <= len(keys) <= 15
    assert {key["apiKeyType"] for key in keys} == {"ADMIN", "INFERENCE"}
    assert all(KEY_FIELDS <= set(key) for key in keys)


def test_list_shows_current_period_usage_only_for_keys_with_limits(sandbox_session, sandbox_url):
    keys = sandbox_session.get(sandbox_url("/api_keys")).json()["data"]

    limited = [k for k in keys if any(v is not None for v in k["consumptionLimits"].values())]
    unlimited = [k for k in keys if k not in limited]
    assert limited and unlimited
    assert all("currentPeriodUsage" in key for key in limited)
    assert all("currentPeriodUsage" not in key for key in unlimited)
    assert all(isinstance(k["usage"]["trailingSevenDays"]["usd"], str) for k in keys)


def test_creating_a_key_returns_its_secret_once_and_last6_matches(sandbox_session, sandbox_url):
    response = _create(
        sandbox_session,
        sandbox_url,
        description="Batch jobs",
        consumptionLimit={"usd": 25, "diem": None},
        limitPeriod="MONTH",
        modelPrivacy="PRIVATE_ONLY",
    )

    assert response.status_code == 200
    created = response.json()["data"]
    assert response.json()["success"] is True
    assert created["consumptionLimit"] == {"usd": 25, "diem": None}
    listed = sandbox_session.get(sandbox_url(f"/api_keys/{created['id']}")).json()["data"]
    assert listed["last6Chars"] == created["apiKey"][-6:]
    assert listed["consumptionLimits"] == {"usd": 25, "diem": None}
    assert listed["limitPeriod"] == "MONTH"
    assert listed["modelPrivacy"] == "PRIVATE_ONLY"
    assert listed["lastUsedAt"] is None
    assert "apiKey" not in listed


def test_a_created_key_authenticates(sandbox_session, sandbox_url, sandbox):
    created = _create(sandbox_session, sandbox_url, apiKeyType="ADMIN").json()["data"]

    response = sandbox_session.get(
        sandbox_url("/billing/balance"), headers={"Authorization": f"Bearer {created['apiKey']}"}
    )

    assert response.status_code == 200


def test_patch_updates_the_fields_venice_allows(sandbox_session, sandbox_url):
    key_id = _create(sandbox_session, sandbox_url).json()["data"]["id"]

    response = sandbox_session.patch(
        sandbox_url("/api_keys"),
        json={
            "id": key_id,
            "description": "Renamed",
            "consumptionLimit": {"diem": 12.5},
            "limitPeriod": "LIFETIME",
            "modelPrivacy": "PRIVATE_TEXT",
            "expiresAt": "2099-01-01",
        },
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["description"] == "Renamed"
    assert data["consumptionLimits"]["diem"] == 12.5
    assert data["limitPeriod"] == "LIFETIME"
    assert data["modelPrivacy"] == "PRIVATE_TEXT"
    assert data["expiresAt"] == "2099-01-01T00:00:00.000Z"


def test_patch_with_null_expiry_removes_it(sandbox_session, sandbox_url):
    key_id = _create(sandbox_session, sandbox_url, expiresAt="2099-05-01T10:00:00Z").json()["data"][
        "id"
    ]

    response = sandbox_session.patch(
        sandbox_url("/api_keys"), json={"id": key_id, "expiresAt": None}
    )

    assert response.json()["data"]["expiresAt"] is None


def test_patch_refuses_the_key_type(sandbox_session, sandbox_url):
    key_id = _create(sandbox_session, sandbox_url).json()["data"]["id"]

    response = sandbox_session.patch(
        sandbox_url("/api_keys"), json={"id": key_id, "apiKeyType": "ADMIN"}
    )

    assert response.status_code == 400
    assert "Unrecognized key(s) in object: 'apiKeyType'" in response.json()["details"]["_errors"]


def test_delete_takes_the_id_in_the_query_and_removes_the_key(sandbox_session, sandbox_url):
    key_id = _create(sandbox_session, sandbox_url).json()["data"]["id"]

    response = sandbox_session.delete(sandbox_url("/api_keys"), params={"id": key_id})

    assert response.status_code == 200
    assert response.json() == {"success": True}
    ids = [key["id"] for key in sandbox_session.get(sandbox_url("/api_keys")).json()["data"]]
    assert key_id not in ids
    assert sandbox_session.get(sandbox_url(f"/api_keys/{key_id}")).status_code == 404


def test_delete_without_an_id_is_a_400_naming_the_field(sandbox_session, sandbox_url):
    response = sandbox_session.delete(sandbox_url("/api_keys"))

    assert response.status_code == 400
    assert response.json()["details"]["id"]["_errors"] == ["Required"]


def test_an_unknown_key_id_is_404(sandbox_session, sandbox_url):
    response = sandbox_session.get(sandbox_url("/api_keys/no-such-key"))

    assert response.status_code == 404
    assert response.json() == {"error": KEY_NOT_FOUND}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key", "Basic abc"])
def test_a_missing_or_unknown_key_is_401(sandbox_session, sandbox_url, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    if authorization is None:
        del sandbox_session.headers["Authorization"]

    response = sandbox_session.get(sandbox_url("/api_keys"), headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": AUTH_FAILED}


def test_an_inference_key_is_refused_on_account_endpoints(sandbox_session, sandbox_url, sandbox):
    inference = {"Authorization": f"Bearer {sandbox.inference_key}"}

    for method, path in [("GET", "/api_keys"), ("POST", "/api_keys"), ("GET", "/billing/balance")]:
        response = sandbox_session.request(method, sandbox_url(path), headers=inference, json={})
        assert response.status_code == 401, path
        assert response.json() == {"error": ADMIN_REQUIRED}


def test_an_inference_key_may_read_its_rate_limits(sandbox_session, sandbox_url, sandbox):
    response = sandbox_session.get(
        sandbox_url("/api_keys/rate_limits"),
        headers={"Authorization": f"Bearer {sandbox.inference_key}"},
    )

    assert response.status_code == 200


def test_every_response_carries_rate_limit_headers(sandbox_session, sandbox_url):
    for response in (
        sandbox_session.get(sandbox_url("/api_keys")),
        sandbox_session.get(sandbox_url("/api_keys/missing")),
        sandbox_session.get(sandbox_url("/billing/usage")),
    ):
        assert response.headers["x-ratelimit-limit-requests"].isdigit()
        assert response.headers["x-ratelimit-remaining-requests"].isdigit()
        assert response.headers["x-ratelimit-reset-requests"].isdigit()


def test_the_sandbox_records_the_exact_payload_without_the_secret(
    sandbox_session, sandbox_url, sandbox
):
    sandbox.received.clear()

    _create(sandbox_session, sandbox_url, description="Recorded")

    (recorded,) = sandbox.received
    assert recorded.method == "POST"
    assert recorded.path == "/api_keys"
    assert recorded.json == {"apiKeyType": "INFERENCE", "description": "Recorded"}
    assert "authorization" not in recorded.headers
    assert sandbox.admin_key not in repr(recorded)


def test_an_expired_key_stops_authenticating_and_leaves_the_list(
    sandbox_session, sandbox_url, sandbox
):
    created = _create(
        sandbox_session, sandbox_url, apiKeyType="ADMIN", expiresAt="2099-01-01"
    ).json()["data"]
    ids = lambda: [k["id"] for k in sandbox_session.get(sandbox_url("/api_keys")).json()["data"]]  # noqa: E731
    assert created["id"] in ids()

    from datetime import UTC, datetime

    sandbox.clock.set(datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=1))

    assert created["id"] not in ids()
    own = sandbox_session.get(
        sandbox_url("/api_keys"), headers={"Authorization": f"Bearer {created['apiKey']}"}
    )
    assert own.status_code == 401
    assert INVALID_PARAMETERS  # the constants module stays importable for other tests


def test_a_created_keys_secret_is_handed_out_once_and_only_its_hash_kept(
    sandbox, sandbox_session, sandbox_url
):
    key = get_client().api_keys.create("Handed out once", api_key_type=APIKeyType.INFERENCE)

    record = sandbox.find_key(key.id)
    assert key.secret and record.secret_sha256 == secret_digest(key.secret)
    assert key.secret not in repr(record) and key.secret not in repr(vars(record))
    assert key.secret not in json.dumps(sandbox.to_state())
    assert sandbox.find_key(key.secret) is record  # a lookup by secret hashes it
    listed = sandbox_session.get(sandbox_url(f"/api_keys/{key.id}")).json()["data"]
    assert listed["last6Chars"] == key.secret[-6:] == record.last6
    response = sandbox_session.get(
        sandbox_url("/api_keys/rate_limits"), headers={"Authorization": f"Bearer {key.secret}"}
    )
    assert response.status_code == 200


def test_no_seeded_key_record_holds_a_secret(sandbox):
    for key_id in sandbox.key_ids():
        record = vars(sandbox.find_key(key_id))
        assert set(record) >= {"secret_sha256", "last6"} and "secret" not in record
    assert sandbox.find_key(sandbox.admin_key).api_key_type == "ADMIN"
    assert sandbox.find_key(sandbox.inference_key).api_key_type == "INFERENCE"
