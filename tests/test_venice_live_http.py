"""The live path over a real socket: the client, given a key and a base URL, talks HTTP to the
sandbox served by `manage.py venice_sandbox` in another process, exactly as it would to Venice.

Slower than the other client tests (about a second to start the server process): it is the one
test that proves the client's own session, auth, timeouts and pooling on a real connection.
"""

import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings

from accounts.venice import (
    ConsumptionLimits,
    EndpointGoneError,
    UnauthorizedError,
    ValidationError,
    VeniceClient,
)

SERVING = re.compile(r"serving (http://127\.0\.0\.1:\d+/api/v1)")


@pytest.fixture(scope="module")
def served_sandbox():
    """`manage.py venice_sandbox --port 0` in a child process: (base URL, admin key)."""
    env = dict(os.environ, VENICE_SANDBOX_STATE_FILE="", VENICE_API_KEY="", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "venice_sandbox", "--port", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        admin_key = base_url = None
        for line in process.stdout:
            if line.startswith("admin key: "):
                admin_key = line.removeprefix("admin key: ").strip()
            if match := SERVING.search(line):
                base_url = match.group(1)
                break
        assert admin_key and base_url, "the sandbox server did not start"
        yield base_url, admin_key
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_client_works_over_a_real_socket(served_sandbox):
    base_url, admin_key = served_sandbox
    client = VeniceClient(api_key=admin_key, base_url=base_url, cache_ttl=0)
    assert not client.is_sandbox

    keys = client.api_keys.list()
    created = client.api_keys.create(
        "Over the wire",
        consumption_limits=ConsumptionLimits(usd=Decimal(5)),
        expires_at=date(2031, 1, 1),
    )
    assert created.secret and created.last6 == created.secret[-6:]
    assert client.api_keys.get(created.id).description == "Over the wire"
    assert client.api_keys.update(created.id, description="Renamed").description == "Renamed"
    assert len(client.api_keys.list()) == len(keys) + 1
    assert client.api_keys.delete(created.id) is True
    assert client.api_keys.get(created.id) is None

    assert client.billing.get_balance().diem_epoch_allocation >= 0
    page = next(client.billing.iter_usage_history_csv(page_size=10))
    assert page.text.count("\n") == 11 and page.next_cursor
    summary = client.account.get_account_summary()
    assert summary.errors == {} and len(summary.api_keys) == len(keys)

    with pytest.raises(ValidationError) as invalid:
        client.api_keys.create("x" * 65)
    assert "description" in invalid.value.field_errors
    with pytest.raises(EndpointGoneError) as gone:
        client.billing.get_legacy_usage()
    assert gone.value.successor == "/api/v1/billing/usage-history"
    client.close()


def test_a_wrong_key_over_a_real_socket_is_unauthorized(served_sandbox):
    base_url, _ = served_sandbox
    client = VeniceClient(api_key="VENICE-WRONG", base_url=base_url)

    with pytest.raises(UnauthorizedError):
        client.billing.get_balance()


def test_a_key_ending_in_a_newline_fails_cleanly_over_a_real_socket(served_sandbox, caplog):
    base_url, admin_key = served_sandbox
    client = VeniceClient(api_key=admin_key + "\n", base_url=base_url, cache_ttl=0)
    caplog.set_level("DEBUG")
    with pytest.raises(UnauthorizedError) as caught:
        client.api_keys.list()
    assert admin_key not in str(caught.value) + caught.value.user_message + caplog.text
