"""Every way a call can fail becomes one error class of the VeniceError family, with a message
a person can act on, and is also the error of its area (APIKeyError, BillingError)."""

import math
from datetime import UTC, datetime

import pytest

from accounts.sandbox import SANDBOX_BASE_URL
from accounts.venice import (
    APIKeyError,
    BillingError,
    EndpointGoneError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VeniceClient,
    VeniceError,
)


def test_a_wrong_key_is_unauthorized(make_venice, sandbox):
    client = make_venice(sandbox=sandbox, api_key="VENICE-NOT-A-REAL-KEY")

    with pytest.raises(UnauthorizedError) as failure:
        client.api_keys.list()

    assert failure.value.status == 401
    assert isinstance(failure.value, APIKeyError)
    assert "VENICE_API_KEY" in failure.value.user_message


def test_an_inference_key_is_told_an_admin_key_is_required(make_venice, sandbox):
    # The sandbox answers 401 here, as Venice documents; a 403 gets the same treatment below.
    client = make_venice(sandbox=sandbox, api_key=sandbox.inference_key)

    with pytest.raises(UnauthorizedError) as failure:
        client.billing.get_balance()

    assert failure.value.message.startswith("Admin API key required")
    assert isinstance(failure.value, BillingError)
    # Rate limits accept any key, as on Venice.
    assert client.api_keys.get_rate_limits().tier_id == "paid"


def test_a_403_means_an_admin_key_is_required(venice, sandbox):
    sandbox.faults.inject("/api_keys", status=403, times=1)

    with pytest.raises(UnauthorizedError, match="^Admin API key required") as failure:
        venice.api_keys.list()
    assert failure.value.status == 403


def test_a_400_carries_the_field_errors(venice, sandbox):
    with pytest.raises(ValidationError) as failure:
        venice.billing.get_usage_history_page(page_size=5)

    assert failure.value.status == 400
    assert "pageSize" in failure.value.field_errors
    assert failure.value.field_errors["pageSize"]
    assert isinstance(failure.value, BillingError)


def test_a_404_is_not_found(venice, sandbox):
    sandbox.faults.inject("/billing/balance", status=404, times=1)

    with pytest.raises(NotFoundError):
        venice.billing.get_balance()


def test_a_429_carries_the_reset_time_from_the_header(venice, sandbox, venice_clock):
    sandbox.faults.inject("/billing/balance", status=429, reset_after=60, times=1)

    with pytest.raises(RateLimitedError) as failure:
        venice.billing.get_balance()

    # Venice sends whole seconds (the sandbox rounds up).
    assert failure.value.reset_at == datetime.fromtimestamp(math.ceil(venice_clock()) + 60, UTC)
    assert f"{failure.value.reset_at:%H:%M:%S}" in failure.value.user_message
    assert len(sandbox.received) == 1  # a reset a minute away is not waited out


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_upstream_unavailable(venice, sandbox, status):
    sandbox.faults.inject("/billing/balance", status=status)

    with pytest.raises(UpstreamUnavailableError) as failure:
        venice.billing.get_balance()

    assert failure.value.status == status
    assert failure.value.request_sent is True


def test_a_read_timeout_is_upstream_unavailable(venice, sandbox):
    sandbox.faults.inject("/api_keys", timeout="after")

    with pytest.raises(UpstreamUnavailableError, match="did not answer within"):
        venice.api_keys.list()


def test_a_connect_timeout_is_upstream_unavailable_and_never_sent(venice, sandbox):
    sandbox.faults.inject("/api_keys", timeout="before")

    with pytest.raises(UpstreamUnavailableError, match="did not accept a connection") as failure:
        venice.api_keys.list()
    assert failure.value.request_sent is False


def test_a_slow_answer_times_out_at_the_read_timeout(make_venice, sandbox):
    client = make_venice(read_timeout=0.05, max_retries=0)
    sandbox.faults.inject("/billing/balance", latency=1.0, times=1)

    with pytest.raises(UpstreamUnavailableError, match="within 0.05 s"):
        client.billing.get_balance()


def test_a_dropped_connection_is_upstream_unavailable(venice, sandbox):
    sandbox.faults.inject("/billing/balance", drop=True)

    with pytest.raises(UpstreamUnavailableError, match="dropped"):
        venice.billing.get_balance()


def test_a_body_that_is_not_json_is_an_invalid_response(venice, sandbox):
    sandbox.faults.inject("/api_keys", malformed=True, times=1)

    with pytest.raises(InvalidResponseError, match="^Invalid response format") as failure:
        venice.api_keys.list()
    assert isinstance(failure.value, APIKeyError)
    assert len(sandbox.received) == 1  # not retried: asking again would not help


def test_the_sunset_usage_endpoint_names_its_successor(venice, sandbox):
    with pytest.raises(EndpointGoneError) as failure:
        venice.billing.get_legacy_usage()

    assert failure.value.status == 410
    assert failure.value.successor == "/api/v1/billing/usage-history"
    assert "/api/v1/billing/usage-history" in failure.value.message
    assert isinstance(failure.value, BillingError)


def test_an_unreachable_host_is_upstream_unavailable_and_never_sent(settings):
    client = VeniceClient(api_key="k", base_url="http://127.0.0.1:9/api/v1", max_retries=0)

    with pytest.raises(UpstreamUnavailableError) as failure:
        client.api_keys.list()
    assert failure.value.request_sent is False


def test_every_error_is_a_venice_error_with_a_user_message(venice, sandbox):
    sandbox.faults.inject("*", "*", status=500)
    calls = [
        venice.api_keys.list,
        venice.billing.get_balance,
    ]
    for call in calls:
        with pytest.raises(VeniceError) as failure:
            call()
        assert failure.value.user_message.startswith(failure.value.message)


def test_the_sandbox_base_url_is_never_reached_over_the_network(venice):
    assert venice.base_url == SANDBOX_BASE_URL.rstrip("/")


SECRET_WITH_NEWLINE = "sk-live-secret-value-0123456789\n"


def test_a_key_an_http_header_cannot_carry_is_an_error_that_never_shows_it(
    make_venice, sandbox, caplog
):
    venice = make_venice(sandbox=sandbox, api_key=SECRET_WITH_NEWLINE)
    caplog.set_level("DEBUG")
    with pytest.raises(UnauthorizedError) as caught:
        venice.api_keys.list()
    error = caught.value
    shown = " ".join([str(error), error.user_message, repr(error), caplog.text])
    assert "secret-value" not in shown and "Bearer" not in shown
    assert "cannot be sent" in error.message
    assert error.__cause__ is None and error.__suppress_context__  # no traceback prints it
    assert not sandbox.received  # never left the machine


def test_any_exception_while_sending_becomes_a_venice_error_without_its_text(make_venice, sandbox):
    venice = make_venice()
    # A transport adapter that raises something requests does not wrap.
    venice.transport.session.get_adapter(venice.base_url).send = _raises_with_secret_text
    with pytest.raises(VeniceError) as caught:
        venice.api_keys.list()
    assert "hunter2" not in str(caught.value) + caught.value.user_message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _raises_with_secret_text(request, **kwargs):
    raise RuntimeError(f"boom with {request.headers['Authorization']} hunter2")
