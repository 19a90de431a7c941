"""A short-lived cache of GET answers in the Django cache, shared by every worker.

Entries are keyed by a hash of the base URL and a SHA-256 of the API key (never the key
itself), a per-account generation number, and a hash of the path and query. Every mutation
through the client bumps the generation, which drops every cached answer of that account at
once: simpler and safer than working out which lists and details a change touched.

Only bodies that parsed into their dataclass are stored, and only GET bodies, which never
carry a secret (the one-time secret comes from POST, which is never cached).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.core.cache import caches


def account_scope(base_url: str, api_key: str) -> str:
    """Who this client is, without saying who: hashes of the base URL and the key."""
    url_hash = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    key_hash = hashlib.sha256(api_key.encode()).hexdigest()[:32]
    return f"{url_hash}:{key_hash}"


class ResponseCache:
    def __init__(self, *, scope: str, ttl: float, cache_alias: str = "default"):
        self.scope = scope
        self.ttl = ttl
        self.cache_alias = cache_alias

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    @property
    def cache(self):
        return caches[self.cache_alias]

    @property
    def _generation_key(self) -> str:
        return f"venice:v1:generation:{self.scope}"

    def _generation(self) -> int:
        generation = self.cache.get(self._generation_key)
        if generation is None:
            # Start from the clock, not 0, so that a generation evicted from the cache cannot
            # bring back answers stored under an earlier number.
            self.cache.add(self._generation_key, time.time_ns() // 1000, timeout=None)
            generation = self.cache.get(self._generation_key, 0)
        return generation

    def key(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = urlencode(sorted((params or {}).items()))
        digest = hashlib.sha256(f"{path}?{query}".encode()).hexdigest()[:32]
        return f"venice:v1:get:{self.scope}:{self._generation()}:{digest}"

    def get(self, key: str) -> Any | None:
        return self.cache.get(key) if self.enabled else None

    def set(self, key: str, body: Any) -> None:
        if self.enabled:
            self.cache.set(key, body, timeout=self.ttl)

    def invalidate(self) -> None:
        """Drop every cached answer of this account (after a mutation)."""
        self._generation()
        try:
            self.cache.incr(self._generation_key)
        except ValueError:  # evicted in between: a fresh clock-based number does the same
            self.cache.set(self._generation_key, time.time_ns() // 1000, timeout=None)
