"""The conformance check itself: every operation of the spec is answered, and the check that
runs after every test catches an answer that strays from the spec."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from accounts.sandbox import Exchange, SandboxResponse
from accounts.sandbox.rules import CREATIONS_PER_MINUTE
from tests.fixtures.sandbox import _openapi, conformance_problems

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.sandbox_at(NOW)


def spec_operations():
    with (_openapi().spec / "paths").open() as paths:
        for path, item in paths.items():
            for method, operation in item.items():
                yield method.upper(), path, sorted(operation["responses"])


def test_every_operation_in_the_spec_is_answered_with_a_documented_success(
    sandbox, sandbox_session, sandbox_url
):
    key_id, doomed = sandbox.key_ids()[3:5]
    bodies = {
        "POST": {"apiKeyType": "INFERENCE", "description": "Sweep"},
        "PATCH": {"id": key_id, "description": "Swept"},
    }
    operations = list(spec_operations())
    assert len(operations) == 11
    for method, path, statuses in operations:
        concrete = path.replace("{id}", key_id)
        params = {"id": doomed} if method == "DELETE" else None

        response = sandbox_session.request(
            method, sandbox_url(concrete), json=bodies.get(method), params=params
        )

        expected = "410" if path == "/billing/usage" else "200"
        assert str(response.status_code) == expected, (method, path, response.text)
        assert expected in statuses


def test_every_operation_answers_a_bad_key_with_a_standard_error(sandbox_session, sandbox_url):
    for method, path, _ in spec_operations():
        if path == "/billing/usage":
            continue  # public: it answers 410 to everyone
        response = sandbox_session.request(
            method,
            sandbox_url(path.replace("{id}", "x")),
            headers={"Authorization": "Bearer wrong"},
            json={},
        )
        assert response.status_code == 401, (method, path)
        assert set(response.json()) == {"error"}


def _exchange(path, payload, *, status=200, headers=None):
    answer_headers = {
        "Content-Type": "application/json",
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "1795600000",
        **(headers or {}),
    }
    answer = SandboxResponse(status, answer_headers, json.dumps(payload).encode())
    return Exchange("GET", path, {}, {}, b"", answer)


def test_the_check_accepts_a_conforming_answer(sandbox):
    good = _exchange(
        "/billing/balance",
        {
            "canConsume": True,
            "consumptionCurrency": "DIEM",
            "balances": {"diem": 1.5, "usd": 2},
            "diemEpochAllocation": 10,
        },
    )

    assert conformance_problems([good]) == []


@pytest.mark.parametrize(
    ("exchange", "finding"),
    [
        (  # a field the spec does not allow (additionalProperties: false)
            _exchange(
                "/billing/balance",
                {
                    "canConsume": True,
                    "consumptionCurrency": "DIEM",
                    "balances": {"diem": 1, "usd": 2},
                    "diemEpochAllocation": 10,
                    "bonus": 1,
                },
            ),
            "InvalidData",
        ),
        (  # usage figures must be strings
            _exchange(
                "/api_keys/rate_limits/log",
                {
                    "data": [
                        {
                            "apiKeyId": "k",
                            "modelId": "m",
                            "rateLimitTier": "paid",
                            "rateLimitType": "RPS",
                            "timestamp": "t",
                        }
                    ],
                    "object": "list",
                },
            ),
            "InvalidData",
        ),
        (  # an undocumented status must still carry {"error": ...}
            _exchange("/billing/balance", {"message": "oops"}, status=503),
            "not a StandardError",
        ),
        (  # the rate-limit headers are on every answer
            Exchange(
                "GET",
                "/billing/balance",
                {},
                {},
                b"",
                SandboxResponse(401, {"Content-Type": "application/json"}, b'{"error": "x"}'),
            ),
            "x-ratelimit-limit-requests",
        ),
        (  # CSV file names follow the spec's pattern
            _exchange(
                "/billing/usage-history",
                "",
                headers={
                    "Content-Type": "text/csv",
                    "Content-Disposition": "attachment; filename=usage.csv",
                },
            ),
            "filename=billing-usage-history-",
        ),
    ],
)
def test_the_check_catches_an_answer_that_strays_from_the_spec(sandbox, exchange, finding):
    problems = conformance_problems([exchange])

    assert problems
    assert finding in "\n".join(problems)


def test_concurrent_creations_respect_the_limit_exactly(sandbox, sandbox_session, sandbox_url):
    before = len(sandbox.key_ids())
    barrier = threading.Barrier(8)

    def create(number):
        if number < 8:
            barrier.wait()
        return sandbox_session.post(
            sandbox_url("/api_keys"),
            json={"apiKeyType": "INFERENCE", "description": f"thread {number}"},
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(40)))

    created = [r.json()["data"] for r in responses if r.status_code == 200]
    assert len(created) == CREATIONS_PER_MINUTE
    assert sum(r.status_code == 429 for r in responses) == 40 - CREATIONS_PER_MINUTE
    assert len({key["id"] for key in created}) == CREATIONS_PER_MINUTE
    assert len(sandbox.key_ids()) == before + CREATIONS_PER_MINUTE


def test_concurrent_usage_and_reads_lose_nothing(sandbox, sandbox_session, sandbox_url):
    before = len(sandbox.ledger)

    def use(_):
        sandbox.use_key(sandbox.inference_key, usd=0.01)
        return sandbox_session.get(sandbox_url("/api_keys")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(use, range(80)))

    assert statuses == [200] * 80
    assert len(sandbox.ledger) == before + 80
