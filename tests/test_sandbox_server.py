"""The sandbox over a real socket: the same core and faults, served by a ThreadingHTTPServer."""

import pytest
import requests


def test_the_server_answers_a_real_socket_request(served, sandbox):
    response = requests.get(
        f"{served}/api_keys", headers={"Authorization": f"Bearer {sandbox.admin_key}"}, timeout=5
    )

    assert response.status_code == 200
    assert response.json()["object"] == "list"
    assert response.headers["x-ratelimit-limit-requests"].isdigit()


def test_a_key_created_over_http_is_in_the_shared_state(served, sandbox):
    response = requests.post(
        f"{served}/api_keys",
        json={"apiKeyType": "INFERENCE", "description": "Over the wire"},
        headers={"Authorization": f"Bearer {sandbox.admin_key}"},
        timeout=5,
    )

    assert response.status_code == 200
    assert sandbox.find_key(response.json()["data"]["id"]).description == "Over the wire"


def test_the_server_refuses_a_bad_key_with_401(served):
    response = requests.get(
        f"{served}/billing/balance", headers={"Authorization": "Bearer nope"}, timeout=5
    )

    assert response.status_code == 401
    assert response.json() == {"error": "Authentication failed"}


def test_csv_pages_come_with_their_headers(served, sandbox):
    response = requests.get(
        f"{served}/billing/usage-history",
        params={"pageSize": 10},
        headers={"Authorization": f"Bearer {sandbox.admin_key}", "Accept": "text/csv"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert response.headers["x-next-cursor"]
    assert len(response.text.strip().splitlines()) == 11


def test_a_dropped_connection_closes_the_socket(served, sandbox):
    sandbox.faults.inject("/api_keys", drop=True, times=1)

    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"{served}/api_keys",
            headers={"Authorization": f"Bearer {sandbox.admin_key}"},
            timeout=5,
        )


def test_a_timeout_fault_holds_the_answer_past_the_clients_patience(served, sandbox):
    sandbox.faults.inject("/billing/balance", timeout="before", latency=0.5, times=1)

    with pytest.raises(requests.ReadTimeout):
        requests.get(
            f"{served}/billing/balance",
            headers={"Authorization": f"Bearer {sandbox.admin_key}"},
            timeout=0.1,
        )


def test_an_injected_status_is_served(served, sandbox):
    sandbox.faults.inject("/billing/balance", status=503, times=1)

    response = requests.get(
        f"{served}/billing/balance",
        headers={"Authorization": f"Bearer {sandbox.admin_key}"},
        timeout=5,
    )

    assert response.status_code == 503
    assert "error" in response.json()
