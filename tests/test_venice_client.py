"""The client as a whole: live or sandbox chosen in one place, what every request carries, the
key kept out of sight, one shared client per process, and the seed's examples as written."""

import logging
import threading

import pytest

from accounts.sandbox import SANDBOX_BASE_URL, reset_sandbox
from accounts.venice import (
    APIKeyError,
    BillingError,
    UnauthorizedError,
    VeniceClient,
    get_client,
)


def test_without_a_key_the_client_talks_to_the_sandbox(settings, sandbox):
    settings.VENICE_API_KEY = ""

    client = VeniceClient()

    assert client.is_sandbox
    assert client.base_url == SANDBOX_BASE_URL
    assert client.api_keys.list()
    assert sandbox.received  # answered in process by this test's sandbox


def test_with_a_key_in_settings_the_client_goes_live(settings):
    settings.VENICE_API_KEY = "live-admin-key-0123456789"
    settings.VENICE_API_BASE = "https://venice.example.test/api/v1/"

    client = VeniceClient()

    assert not client.is_sandbox
    assert client.base_url == "https://venice.example.test/api/v1"


def test_an_explicit_key_and_base_url_win_over_settings(settings):
    settings.VENICE_API_KEY = ""

    client = VeniceClient(api_key="explicit-key-0123456789", base_url="http://127.0.0.1:1/v1")

    assert not client.is_sandbox and client.base_url == "http://127.0.0.1:1/v1"


def test_the_key_is_never_in_a_repr(settings, sandbox):
    secret = "live-admin-key-must-stay-hidden-0123"
    settings.VENICE_API_KEY = secret
    client = VeniceClient()

    for thing in (client, client.api_keys, client.billing, client.account, client.transport):
        assert secret not in repr(thing)
    assert secret not in repr(client.transport.session.auth)
    assert secret not in repr(vars(client))


def test_the_key_is_never_logged(venice, sandbox, caplog):
    sandbox.faults.inject("/billing/balance", status=503)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(BillingError):
            venice.billing.get_balance()

    assert caplog.records  # the retries were logged ...
    assert sandbox.admin_key not in caplog.text  # ... without the key


def test_every_request_names_the_portal_and_asks_for_json(venice, sandbox):
    venice.api_keys.list()

    headers = sandbox.received[-1].headers
    assert headers["user-agent"].startswith("venice-account-portal/")
    assert headers["accept"] == "application/json"
    assert "authorization" not in headers  # the sandbox drops it from its record ...
    assert sandbox.exchanges[-1].headers["authorization"] == f"Bearer {sandbox.admin_key}"


def test_timeouts_come_from_settings(settings, sandbox):
    settings.VENICE_API_KEY = ""
    settings.VENICE_CONNECT_TIMEOUT = 1.5
    settings.VENICE_READ_TIMEOUT = 7

    assert VeniceClient().transport.timeouts == (1.5, 7.0)
    assert VeniceClient(read_timeout=2).transport.timeouts == (1.5, 2.0)


def test_get_client_shares_one_client_until_the_settings_or_the_sandbox_change(settings, sandbox):
    settings.VENICE_API_KEY = ""
    client = get_client()

    assert get_client() is client
    settings.VENICE_CACHE_TTL = 5
    changed = get_client()
    assert changed is not client
    reset_sandbox(state_file="")
    assert get_client() is not changed


def test_the_shared_client_works_from_many_threads(settings, sandbox):
    settings.VENICE_API_KEY = ""
    settings.VENICE_CACHE_TTL = 0
    results, errors = [], []

    def work():
        try:
            client = get_client()
            results.append((client, len(client.api_keys.list()), client.billing.get_balance()))
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({id(client) for client, _, _ in results}) == 1
    assert len({count for _, count, _ in results}) == 1


def test_the_seeds_documented_usage_runs_as_written(settings, sandbox):
    settings.VENICE_API_KEY = ""
    client = VeniceClient()

    keys = client.api_keys.list()
    for key in keys:
        print(f"{key.name}: {key.id}")

    new_key = client.api_keys.create(name="My Admin Key", permissions=["admin"])
    print(f"Created: {new_key.id}")

    usage = client.billing.get_usage()
    print(f"USD used: {usage.usd_used}")

    summary = client.account.get_account_summary()
    print(f"Keys: {len(summary.api_keys)}")

    assert new_key.is_admin and new_key.secret
    assert len(summary.api_keys) == len(keys) + 1


def test_the_seeds_error_handling_still_catches_by_area(make_venice, sandbox):
    client = make_venice(sandbox=sandbox, api_key="not-a-key")

    with pytest.raises(APIKeyError):
        client.api_keys.list()
    with pytest.raises(BillingError):
        client.billing.get_usage()
    try:
        client.api_keys.get_rate_limits()
    except UnauthorizedError as error:  # the seed's own example
        assert isinstance(error, APIKeyError)
    else:
        pytest.fail("a wrong key must be refused")
