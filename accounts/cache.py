"""The one way into Redis: Django's Redis cache backend, made to treat an outage as misses.

Redis holds only what can be lost (Venice's answers for a few seconds, the breaker's counts,
time zones, API rate-limit counters, allauth's counters), so losing it must not take a page
down. `ResilientRedisCache` is the `CACHES` backend whenever `REDIS_URL` is set: every
operation, the portal's and the libraries' (allauth, django-ninja), goes through it, and an
error from Redis becomes what an empty cache would answer: `get` the default, `add` False
(nothing stored), `incr` ValueError (no such key), writes nothing.

After an error the backend does not ask Redis again for `retry_after` seconds
(`PORTAL_CACHE_RETRY`): a Redis that hangs rather than refuses would otherwise cost every
cache call its socket timeout. The outage is logged when it starts, at most once a minute
while it lasts (with how many calls it turned into misses), and when Redis answers again.

The state is per process (the backend object is per thread, so it lives in a module-level
table keyed by the cache's location): each worker finds out on its own, in one call.
`cache_available()` tells the circuit breaker whether the shared counts can be trusted, and
`cache_probe()` is /healthz's question.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger("accounts.cache")

# While an outage lasts, one log line per this many seconds.
LOG_INTERVAL = 60.0


def _errors() -> tuple[type[BaseException], ...]:
    import redis

    # OSError: a socket error the client did not wrap.
    return (redis.exceptions.RedisError, OSError)


@dataclass
class _Outage:
    down_until: float = 0.0  # monotonic: until then, calls do not go to Redis
    since: float | None = None  # wall clock: when the current outage began
    logged_at: float = 0.0  # monotonic: the last log line about it
    misses: int = 0  # calls answered as misses since that line


_outages: dict[str, _Outage] = {}
_lock = threading.Lock()


class ResilientRedisCache(RedisCache):
    """Django's RedisCache whose errors are cache misses (module docstring)."""

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        self.retry_after = float(options.pop("RETRY_AFTER", 5.0))
        super().__init__(server, {**params, "OPTIONS": options})
        self._where = str(server)
        with _lock:
            self._outage = _outages.setdefault(self._where, _Outage())

    # --- the outage's bookkeeping -------------------------------------------------------------

    def is_available(self) -> bool:
        """False while this process is sitting out an outage (no call goes to Redis)."""
        return time.monotonic() >= self._outage.down_until

    def _failed(self, error: BaseException) -> None:
        now = time.monotonic()
        with _lock:
            outage = self._outage
            outage.down_until = now + self.retry_after
            outage.misses += 1
            starting = outage.since is None
            if starting:
                outage.since = time.time()
            if starting or now - outage.logged_at >= LOG_INTERVAL:
                misses, outage.misses, outage.logged_at = outage.misses, 0, now
            else:
                return
        if starting:
            logger.warning(
                "Cache (Redis) unreachable, answering from Venice and the database instead "
                "(cache calls are misses; next try in %g s): %s",
                self.retry_after,
                type(error).__name__,
            )
        else:
            logger.warning(
                "Cache (Redis) still unreachable: %d call(s) were misses in the last %.0f s",
                misses,
                LOG_INTERVAL,
            )

    def _skipped(self) -> None:
        with _lock:
            self._outage.misses += 1

    def _recovered(self) -> None:
        if self._outage.since is None:
            return
        with _lock:
            since, self._outage.since = self._outage.since, None
            self._outage.misses = 0
        if since is not None:
            logger.warning("Cache (Redis) answering again after %.0f s", time.time() - since)

    def _call(self, method, *args, miss, **kwargs):
        if not self.is_available():
            self._skipped()
            return miss()
        try:
            result = method(*args, **kwargs)
        except _errors() as error:
            self._failed(error)
            return miss()
        self._recovered()
        return result

    # --- every operation of the backend -------------------------------------------------------

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().add, key, value, timeout, version, miss=lambda: False)

    def get(self, key, default=None, version=None):
        return self._call(super().get, key, default, version, miss=lambda: default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set, key, value, timeout, version, miss=lambda: None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().touch, key, timeout, version, miss=lambda: False)

    def delete(self, key, version=None):
        return self._call(super().delete, key, version, miss=lambda: False)

    def get_many(self, keys, version=None):
        return self._call(super().get_many, keys, version, miss=dict)

    def has_key(self, key, version=None):
        return self._call(super().has_key, key, version, miss=lambda: False)

    def incr(self, key, delta=1, version=None):
        def missing():
            raise ValueError(f"Key '{key}' not found (the cache is unreachable)")

        return self._call(super().incr, key, delta, version, miss=missing)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set_many, data, timeout, version, miss=lambda: list(data))

    def delete_many(self, keys, version=None):
        return self._call(super().delete_many, keys, version, miss=lambda: None)

    def clear(self):
        return self._call(super().clear, miss=lambda: False)

    def probe(self) -> bool:
        """Ask Redis now, outage or not (for /healthz); the answer updates the state."""
        try:
            self._cache.get_client(write=False).ping()
        except _errors() as error:
            self._failed(error)
            return False
        with _lock:
            self._outage.down_until = 0.0
        self._recovered()
        return True


def cache_available(alias: str = "default") -> bool:
    """Whether the cache's shared state is there: always for a local-memory cache."""
    backend = caches[alias]
    return backend.is_available() if isinstance(backend, ResilientRedisCache) else True


def cache_probe(alias: str = "default") -> str:
    """ "ok" or "down", asked of the cache itself now."""
    backend = caches[alias]
    if isinstance(backend, ResilientRedisCache):
        return "ok" if backend.probe() else "down"
    return "ok"
