"""The API's rules, as the sandbox enforces them: each one refused the way Venice refuses it."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.sandbox.rules import (
    ADMIN_REQUIRED,
    CREATION_RATE_LIMITED,
    FAILED_REQUESTS_BLOCKED,
    INVALID_PARAMETERS,
    MAX_ACTIVE_KEYS,
    TOO_MANY_KEYS,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


pytestmark = pytest.mark.sandbox_at(NOW)


def create(session, url, **fields):
    body = {"apiKeyType": "INFERENCE", "description": "Rule check", **fields}
    return session.post(url("/api_keys"), json=body)


def field_errors(response, *path):
    node = response.json()["details"]
    for name in path:
        node = node[name]
    return node["_errors"]


@pytest.mark.parametrize("description", ["x", "d" * 64])
def test_descriptions_of_1_to_64_characters_are_accepted(sandbox_session, sandbox_url, description):
    assert create(sandbox_session, sandbox_url, description=description).status_code == 200


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("", "String must contain at least 1 character(s)"),
        ("d" * 65, "String must contain at most 64 character(s)"),
        (42, "Expected string, received number"),
    ],
)
def test_descriptions_outside_1_to_64_characters_are_refused(
    sandbox_session, sandbox_url, description, message
):
    response = create(sandbox_session, sandbox_url, description=description)

    assert response.status_code == 400
    assert response.json()["error"] == INVALID_PARAMETERS
    assert field_errors(response, "description") == [message]


def test_a_missing_description_and_type_are_both_reported(sandbox_session, sandbox_url):
    response = sandbox_session.post(sandbox_url("/api_keys"), json={})

    assert response.status_code == 400
    assert field_errors(response, "description") == ["Required"]
    assert field_errors(response, "apiKeyType") == ["Required"]


@pytest.mark.parametrize("amount", [0, 0.01, 9_999_999_999])
def test_limits_from_0_to_9999999999_are_accepted(sandbox_session, sandbox_url, amount):
    response = create(
        sandbox_session, sandbox_url, consumptionLimit={"usd": amount, "diem": amount}
    )

    assert response.status_code == 200
    assert response.json()["data"]["consumptionLimit"] == {"usd": amount, "diem": amount}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (-0.01, "Number must be greater than or equal to 0"),
        (10_000_000_000, "Number must be less than or equal to 9999999999"),
        ("5", "Expected number, received string"),
        (True, "Expected number, received boolean"),
    ],
)
def test_limits_outside_the_range_are_refused(sandbox_session, sandbox_url, amount, message):
    response = create(sandbox_session, sandbox_url, consumptionLimit={"diem": amount})

    assert response.status_code == 400
    assert field_errors(response, "consumptionLimit", "diem") == [message]


@pytest.mark.parametrize(
    ("field", "value"),
    [("apiKeyType", "SUPERUSER"), ("limitPeriod", "WEEK"), ("modelPrivacy", "NONE")],
)
def test_values_outside_the_enums_are_refused(sandbox_session, sandbox_url, field, value):
    response = create(sandbox_session, sandbox_url, **{field: value})

    assert response.status_code == 400
    (message,) = field_errors(response, field)
    assert message.startswith("Invalid enum value.")
    assert f"received '{value}'" in message


def test_unknown_fields_are_refused_as_the_spec_forbids_them(sandbox_session, sandbox_url):
    response = create(sandbox_session, sandbox_url, name="legacy SDK field")

    assert response.status_code == 400
    assert response.json()["details"]["_errors"] == ["Unrecognized key(s) in object: 'name'"]


@pytest.mark.parametrize(
    ("expires_at", "stored"),
    [
        ("2026-11-26", "2026-11-26T00:00:00.000Z"),
        ("2026-12-01T08:30:00Z", "2026-12-01T08:30:00.000Z"),
        ("2026-12-01T08:30:00.250Z", "2026-12-01T08:30:00.250Z"),
        ("", None),
    ],
)
def test_expiry_in_each_format_the_spec_allows(sandbox_session, sandbox_url, expires_at, stored):
    response = create(sandbox_session, sandbox_url, expiresAt=expires_at)

    assert response.status_code == 200
    assert response.json()["data"]["expiresAt"] == stored


@pytest.mark.parametrize(
    "expires_at", ["2026-11-25", "2026-11-25T11:59:59Z", "2020-01-01T00:00:00.000Z"]
)
def test_expiry_must_be_in_the_future(sandbox_session, sandbox_url, expires_at):
    response = create(sandbox_session, sandbox_url, expiresAt=expires_at)

    assert response.status_code == 400
    assert field_errors(response, "expiresAt") == ["Expiration date must be in the future"]


@pytest.mark.parametrize(
    "expires_at", ["tomorrow", "2026-12-01 08:30:00", "2026-12-01T08:30:00+00:00", "2026-02-30"]
)
def test_expiry_in_other_formats_is_refused(sandbox_session, sandbox_url, expires_at):
    response = create(sandbox_session, sandbox_url, expiresAt=expires_at)

    assert response.status_code == 400
    assert field_errors(response, "expiresAt")[0].startswith("Invalid date")


def test_post_refuses_a_null_expiry_but_patch_accepts_it(sandbox_session, sandbox_url):
    assert create(sandbox_session, sandbox_url, expiresAt=None).status_code == 400
    key_id = create(sandbox_session, sandbox_url).json()["data"]["id"]

    response = sandbox_session.patch(
        sandbox_url("/api_keys"), json={"id": key_id, "expiresAt": None}
    )

    assert response.status_code == 200


def test_the_501st_active_key_is_refused(sandbox_session, sandbox_url, sandbox):
    active = len(sandbox.key_ids(include_expired=False))
    for number in range(active, MAX_ACTIVE_KEYS):
        if number % 20 == 0:
            sandbox.clock.advance(61)  # stay under 20 creations a minute
        assert create(sandbox_session, sandbox_url, description=f"k{number}").status_code == 200
    assert len(sandbox.key_ids(include_expired=False)) == MAX_ACTIVE_KEYS
    sandbox.clock.advance(61)

    response = create(sandbox_session, sandbox_url, description="one too many")

    assert response.status_code == 400
    assert response.json()["error"] == TOO_MANY_KEYS


def test_expired_keys_do_not_count_towards_the_500(sandbox_session, sandbox_url, sandbox):
    for number in range(len(sandbox.key_ids(include_expired=False)), MAX_ACTIVE_KEYS):
        if number % 20 == 0:
            sandbox.clock.advance(61)
        create(sandbox_session, sandbox_url, description=f"k{number}", expiresAt="2026-12-24")
    sandbox.clock.set(datetime(2026, 12, 24, 0, 0, 1, tzinfo=UTC))

    assert create(sandbox_session, sandbox_url).status_code == 200


def test_the_21st_creation_in_a_minute_is_rate_limited(sandbox_session, sandbox_url, sandbox):
    for number in range(20):
        response = create(sandbox_session, sandbox_url, description=f"burst {number}")
        assert response.status_code == 200
        assert response.headers["x-ratelimit-remaining-requests"] == str(19 - number)
        sandbox.clock.advance(1)

    response = create(sandbox_session, sandbox_url, description="burst 21")

    assert response.status_code == 429
    assert response.json() == {"error": CREATION_RATE_LIMITED}
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    # The window slides: the first creation (at NOW) leaves it 60 s later.
    reset_at = datetime.fromtimestamp(int(response.headers["x-ratelimit-reset-requests"]), UTC)
    assert reset_at == NOW + timedelta(seconds=60)
    sandbox.clock.set(reset_at)
    assert create(sandbox_session, sandbox_url, description="after the reset").status_code == 200


def test_other_calls_are_not_held_by_the_creation_limit(sandbox_session, sandbox_url):
    for number in range(21):
        create(sandbox_session, sandbox_url, description=f"burst {number}")

    assert sandbox_session.get(sandbox_url("/api_keys")).status_code == 200


def test_more_than_20_failed_requests_in_30_seconds_block_the_account(
    sandbox_session, sandbox_url, sandbox
):
    for _ in range(21):
        assert sandbox_session.get(sandbox_url("/api_keys/missing")).status_code == 404

    blocked = sandbox_session.get(sandbox_url("/api_keys"))

    assert blocked.status_code == 429
    assert blocked.json() == {"error": FAILED_REQUESTS_BLOCKED}
    sandbox.clock.advance(30)
    assert sandbox_session.get(sandbox_url("/api_keys")).status_code == 200


def test_an_inference_key_cannot_create_keys(sandbox_session, sandbox_url, sandbox):
    response = sandbox_session.post(
        sandbox_url("/api_keys"),
        json={"apiKeyType": "ADMIN", "description": "escalation"},
        headers={"Authorization": f"Bearer {sandbox.inference_key}"},
    )

    assert response.status_code == 401
    assert response.json() == {"error": ADMIN_REQUIRED}
    assert not any(k.description == "escalation" for k in map(sandbox.find_key, sandbox.key_ids()))


def test_a_seeded_key_expires_on_schedule(sandbox_session, sandbox_url, sandbox):
    listed = sandbox_session.get(sandbox_url("/api_keys")).json()["data"]
    soonest = min((key for key in listed if key["expiresAt"]), key=lambda key: key["expiresAt"])
    expires = datetime.fromisoformat(soonest["expiresAt"].replace("Z", "+00:00"))
    assert expires - sandbox.clock.now() < timedelta(hours=2)

    sandbox.clock.set(expires)

    ids = [key["id"] for key in sandbox_session.get(sandbox_url("/api_keys")).json()["data"]]
    assert soonest["id"] not in ids
