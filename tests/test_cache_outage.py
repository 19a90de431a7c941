"""Redis down: every page still answers, /healthz says degraded, the breaker counts alone.

The cache is the portal's real one (`accounts.cache.ResilientRedisCache`, as settings make it
with REDIS_URL), pointed at a port where nothing listens, or at a private redis-server that
the test stops and starts again. The machine's own Redis is never touched.
"""

import logging
import time

import pytest
from django.core.cache import caches
from django.urls import reverse

from accounts.cache import _outages, cache_available
from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from accounts.venice import UpstreamUnavailableError
from accounts.venice.breaker import BUDGET_MESSAGE, _local_counts
from tests.test_role_matrix import POST_ROUTES, ROUTES, _args


def _redis_cache(url: str, retry_after: float = 5.0) -> dict:
    return {
        "default": {
            "BACKEND": "accounts.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "socket_connect_timeout": 0.5,
                "socket_timeout": 0.5,
                "RETRY_AFTER": retry_after,
            },
        }
    }


@pytest.fixture(autouse=True)
def _fresh_local_counts():
    """Each test starts with no outage known and no local counts. The outage state is per
    process and keyed by the cache's address, and `dead_port` can hand out a port an
    earlier test used: its outage, already logged, would silence this test's first line."""
    _outages.clear()
    _local_counts.clear()
    yield
    _outages.clear()
    _local_counts.clear()


@pytest.fixture
def redis_down(settings, dead_port):
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{dead_port}/0")
    return dead_port


def _cases():
    for url_name, args, allowed in ROUTES + POST_ROUTES:
        for role in (ADMINISTRATOR, KEY_MANAGER, FINANCE, AUDITOR, None):
            expected = 200 if role in allowed else 403
            if (url_name, args, allowed) in POST_ROUTES and expected == 200:
                expected = 405  # the role gets through; a GET is the wrong method
            yield pytest.param(url_name, args, role, expected, id=f"{url_name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "args", "role", "expected"), list(_cases()))
def test_every_page_of_the_role_matrix_answers_as_usual_with_redis_down(
    client, user_with_role, redis_down, url_name, args, role, expected
):
    client.force_login(user_with_role(role))
    response = client.get(reverse(url_name, args=_args(args)))
    assert response.status_code == expected
    assert not cache_available()


@pytest.mark.django_db
def test_a_key_is_created_and_audited_with_redis_down(client, admin_user, redis_down, sandbox):
    from accounts.models import AuditEvent
    from tests.test_keys_new import URL, _form, _secret_from

    client.force_login(admin_user)
    response = client.post(URL, {**_form(client), "description": "made without Redis"})

    assert response.status_code == 200
    assert _secret_from(response)
    record = AuditEvent.objects.get()
    assert (record.action, record.outcome) == ("key.created", "succeeded")
    assert client.get(reverse("keys:detail", args=[record.key_id])).status_code == 200


@pytest.mark.django_db
def test_healthz_says_degraded_with_a_200_when_only_the_cache_is_down(client, redis_down):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"] == "down"
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_healthz_says_ok_when_the_redis_cache_answers(client, settings, redis_server):
    settings.CACHES = _redis_cache(redis_server.url)
    body = client.get("/healthz").json()
    assert (body["status"], body["cache"]) == ("ok", "ok")


@pytest.mark.django_db
def test_the_outage_is_logged_once_not_once_per_call(
    client, admin_user, settings, dead_port, caplog
):
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{dead_port}/0", retry_after=0.1)
    client.force_login(admin_user)
    with caplog.at_level(logging.INFO, logger="accounts.cache"):
        for _ in range(3):  # Redis is asked again after each pause, and fails each time
            for url_name in ("dashboard", "keys:list", "audit:list", "billing:overview"):
                assert client.get(reverse(url_name)).status_code == 200
            time.sleep(0.15)
    lines = [record for record in caplog.records if record.name == "accounts.cache"]
    assert len(lines) == 1, [record.getMessage() for record in lines]
    assert "unreachable" in lines[0].getMessage()


def _failures_until_refused(client, sandbox) -> int:
    sandbox.faults.inject("/api_keys/rate_limits", "GET", status=503)
    sent = 0
    while True:
        try:
            client.api_keys.get_rate_limits()
        except UpstreamUnavailableError as error:
            if not error.request_sent and str(error) == BUDGET_MESSAGE:
                return sent
            sent += 1
        assert sent < 100, "the budget never refused a call"


def test_with_redis_down_each_process_spends_the_budget_divided_by_the_workers(
    settings, redis_down, make_venice, sandbox
):
    settings.VENICE_BREAKER_WORKERS = 3
    client = make_venice(max_retries=0, breaker_threshold=1000, cache_ttl=0)

    assert _failures_until_refused(client, sandbox) == 18 // 3
    assert not client.breaker.shared


def test_the_breaker_goes_back_to_the_shared_counts_when_redis_is_back(
    settings, redis_server, make_venice, sandbox
):
    settings.CACHES = _redis_cache(redis_server.url, retry_after=0.2)
    settings.VENICE_BREAKER_WORKERS = 3
    client = make_venice(max_retries=0, breaker_threshold=1000, cache_ttl=0)
    assert client.breaker.shared

    redis_server.stop()
    assert caches["default"].get("probe") is None  # the call that finds Redis gone
    assert not client.breaker.shared
    assert _failures_until_refused(client, sandbox) == 6

    redis_server.start()
    time.sleep(0.3)
    caches["default"].get("probe")  # the first call after the pause finds Redis back
    assert client.breaker.shared
    # Shared again: the full budget, counted in Redis (the local count stays behind).
    assert _failures_until_refused(client, sandbox) == 18
    assert any(key.startswith(b":1:venice:v1:breaker:") for key in _redis_keys(redis_server))


def test_a_call_counted_while_redis_was_down_gives_its_slot_back_to_the_same_count(
    settings, dead_port
):
    """Redis is tried again every PORTAL_CACHE_RETRY seconds: a call admitted on this
    process's counts and settled at such a moment must not hand its slot to Redis (where it
    is lost) and leave it spent here: the soak's 503s with Redis stopped were that leak."""
    from accounts.venice.breaker import CircuitBreaker

    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{dead_port}/0", retry_after=0.1)
    caches["default"].get("probe")  # finds Redis down
    circuit = CircuitBreaker(scope="leak", clock=time.time, budget=2, workers=1)
    first, second = circuit.admit(), circuit.admit()
    time.sleep(0.15)  # the next cache call tries Redis again
    circuit.succeeded(first)
    circuit.succeeded(second)

    # Nothing is in flight here any more (else a refusal would wait for a slot for nothing).
    assert not any(
        _local_counts.get(ticket.in_flight) or _local_counts.get(ticket.slot)
        for ticket in (first, second)
    )
    circuit.succeeded(circuit.admit())
    circuit.admit()  # both slots came back: a second call fits too


def test_a_failure_of_a_call_sent_before_redis_went_away_still_counts_here(settings, redis_server):
    from accounts.venice.breaker import CircuitBreaker

    settings.CACHES = _redis_cache(redis_server.url, retry_after=5)
    circuit = CircuitBreaker(scope="lost", clock=time.time, budget=2, threshold=100, workers=1)
    out = circuit.admit()  # counted in Redis
    redis_server.stop()
    caches["default"].get("probe")  # finds Redis gone
    circuit.failed(out)

    circuit.failed(circuit.admit())  # the second failure of this process's share of 2
    with pytest.raises(UpstreamUnavailableError, match="holding back"):
        circuit.admit()


def _redis_keys(server) -> list[bytes]:
    import redis

    return redis.Redis.from_url(server.url).keys("*")
