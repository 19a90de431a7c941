"""The Venice account API client: the public face the portal's services call.

    client = VeniceClient()                  # from settings: the live API, or the sandbox
    client.api_keys.list()                   # APIKeysAPI   (keys.py)
    client.billing.get_usage()               # BillingAPI   (billing.py)
    client.account.get_account_summary()     # AccountManager (account.py)

The pieces: `transport.py` (session, timeouts, retries, error mapping), `breaker.py` (the
circuit breaker shared through the Django cache), `cache.py` (the GET cache), `parsing.py`
(JSON to the dataclasses of `types.py`), `errors.py` (the error family).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from accounts.venice.account import AccountManager, AccountSummary, RateLimitStatus
from accounts.venice.billing import BillingAPI
from accounts.venice.breaker import CircuitBreaker
from accounts.venice.cache import ResponseCache, account_scope
from accounts.venice.keys import UNSET, APIKeysAPI, _Unset
from accounts.venice.transport import Transport, make_session

USER_AGENT = "venice-account-portal/0.1 (+team admin portal; python-requests)"

__all__ = [
    "UNSET",
    "AccountManager",
    "AccountSummary",
    "APIKeysAPI",
    "BillingAPI",
    "RateLimitStatus",
    "VeniceClient",
    "_Unset",
]


class VeniceClient:
    """`VeniceClient()` reads settings: with VENICE_API_KEY unset it talks to the embedded
    sandbox (in process), otherwise to VENICE_API_BASE with that key.

    This constructor is the one place that chooses:
    - `sandbox=` given: that sandbox, in process, with `api_key` or the sandbox's admin key;
    - else an `api_key` (or a non-empty `settings.VENICE_API_KEY`): real HTTP to `base_url`
      (or `settings.VENICE_API_BASE`);
    - else the process's sandbox (`accounts.sandbox.get_sandbox()`), with its admin key.
    `is_sandbox` says which. Either way callers see the same methods and types.

    Keyword options (all optional): `connect_timeout`/`read_timeout` (seconds; default
    VENICE_CONNECT_TIMEOUT/VENICE_READ_TIMEOUT), `cache_ttl` (default VENICE_CACHE_TTL; 0 turns
    the GET cache off), `cache_alias`, `clock` (seconds since the epoch, default `time.time`)
    and `sleep` (default `time.sleep`) so tests control time, `rng` (a `random.Random` for the
    backoff jitter), `max_retries` (2), `backoff_base` (0.5 s), `backoff_cap` (8 s),
    `rate_limit_wait_cap` (5 s: a 429 whose reset is further away is raised, not waited out),
    `breaker_threshold` (5), `breaker_cooldown` (30 s), `breaker_budget` (18 failing or
    in-flight requests per 30 s), `breaker_queue_wait` (default VENICE_BREAKER_QUEUE_WAIT:
    seconds a request waits for a slot held by requests in flight), `user_agent`.

    The key is never logged and never in a repr.
    """

    api_keys: APIKeysAPI
    billing: BillingAPI
    account: AccountManager
    is_sandbox: bool

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        sandbox: Any = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        cache_ttl: float | None = None,
        cache_alias: str = "default",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        rate_limit_wait_cap: float = 5.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        breaker_budget: int = 18,
        breaker_queue_wait: float | None = None,
        user_agent: str = USER_AGENT,
    ):
        if sandbox is None and not api_key and not getattr(settings, "VENICE_API_KEY", ""):
            from accounts.sandbox import get_sandbox

            sandbox = get_sandbox()
        if sandbox is not None:
            from accounts.sandbox import SANDBOX_BASE_URL

            api_key = api_key or sandbox.admin_key
            base_url = SANDBOX_BASE_URL
        else:
            api_key = api_key or settings.VENICE_API_KEY
            base_url = base_url or settings.VENICE_API_BASE
        self.is_sandbox = sandbox is not None
        self.sandbox = sandbox
        self.base_url = base_url.rstrip("/")
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep

        if connect_timeout is None:
            connect_timeout = settings.VENICE_CONNECT_TIMEOUT
        if read_timeout is None:
            read_timeout = settings.VENICE_READ_TIMEOUT
        timeouts = (float(connect_timeout), float(read_timeout))
        ttl = float(cache_ttl if cache_ttl is not None else settings.VENICE_CACHE_TTL)
        scope = account_scope(self.base_url, api_key)
        session = make_session(user_agent=user_agent, api_key=api_key)
        if sandbox is not None:
            session.mount(self.base_url, sandbox.adapter())
        self.transport = Transport(
            base_url=self.base_url,
            session=session,
            timeouts=timeouts,
            breaker=CircuitBreaker(
                scope=scope,
                clock=self.clock,
                cache_alias=cache_alias,
                threshold=breaker_threshold,
                cooldown=breaker_cooldown,
                budget=breaker_budget,
                queue_wait=(
                    settings.VENICE_BREAKER_QUEUE_WAIT
                    if breaker_queue_wait is None
                    else float(breaker_queue_wait)
                ),
                trial_timeout=sum(timeouts) + 5,
            ),
            cache=ResponseCache(scope=scope, ttl=ttl, cache_alias=cache_alias),
            clock=self.clock,
            sleep=self.sleep,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not secrecy
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            rate_limit_wait_cap=rate_limit_wait_cap,
        )
        self.api_keys = APIKeysAPI(self.transport)
        self.billing = BillingAPI(self.transport)
        self.account = AccountManager(self)

    def __repr__(self) -> str:
        mode = "sandbox" if self.is_sandbox else "live"
        return f"<VeniceClient {mode} {self.base_url}>"

    def now(self) -> datetime:
        """Venice's clock: the sandbox's when the account is simulated (tests move it), the
        machine's otherwise. Venice's billing days are its UTC days, so "today", "yesterday"
        and "this month" are counted from this."""
        if self.sandbox is not None:
            return self.sandbox.clock.now()
        return datetime.now(UTC)

    @property
    def breaker(self) -> CircuitBreaker:
        return self.transport.breaker

    @property
    def cache(self) -> ResponseCache:
        return self.transport.cache

    def close(self) -> None:
        """Close pooled connections (a long-lived client need not)."""
        self.transport.session.close()
