"""With REDIS_URL set, every worker process shares the breaker and the GET cache: a circuit
opened by one process makes another fail fast, and a mutation in one drops the other's cached
reads. Runs where Redis answers (CI sets CI_REDIS_URL, a database other than 0)."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

from accounts.sandbox import SANDBOX_BASE_URL
from accounts.venice import UpstreamUnavailableError
from accounts.venice.cache import account_scope

REDIS_URL = os.environ.get("CI_REDIS_URL") or "redis://127.0.0.1:6379/14"


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"
        return False


pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not _redis_answers(), reason=f"no Redis at {REDIS_URL}"),
]


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = {
        **settings.CACHES,
        "venice-shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        },
    }
    from django.core.cache import caches

    caches["venice-shared"].clear()
    yield "venice-shared"
    caches["venice-shared"].clear()


def in_another_process(code: str, scope: str) -> None:
    """Run `code` in a fresh worker process whose default cache is the same Redis."""
    script = textwrap.dedent(
        """
        import sys, time, django
        django.setup()
        from accounts.venice.breaker import CircuitBreaker
        from accounts.venice.cache import ResponseCache
        scope = sys.argv[1]
        """
    ) + textwrap.dedent(code)
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="portal.settings",
        REDIS_URL=REDIS_URL,
        VENICE_SANDBOX_STATE_FILE="",
    )
    subprocess.run(
        [sys.executable, "-c", script, scope], cwd=settings.BASE_DIR, env=env, check=True
    )


def test_a_circuit_opened_by_another_worker_makes_this_one_fail_fast(
    make_venice, sandbox, redis_cache
):
    client = make_venice(cache_alias=redis_cache, clock=time.time)
    scope = account_scope(SANDBOX_BASE_URL, sandbox.admin_key)

    in_another_process(
        """
        breaker = CircuitBreaker(scope=scope, clock=time.time)
        for _ in range(5):
            breaker.failed(breaker.admit())
        """,
        scope,
    )

    with pytest.raises(UpstreamUnavailableError, match="paused"):
        client.billing.get_balance()
    assert sandbox.received == []


def test_a_mutation_in_another_worker_drops_this_ones_cached_reads(
    make_venice, sandbox, redis_cache
):
    client = make_venice(cache_alias=redis_cache)
    client.api_keys.list()
    client.api_keys.list()
    assert len(sandbox.received) == 1  # cached in Redis

    in_another_process("ResponseCache(scope=scope, ttl=30).invalidate()\n", client.cache.scope)

    client.api_keys.list()
    assert len(sandbox.received) == 2
