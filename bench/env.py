"""What every benchmark child process shares: Django on a benchmark database, a logged-in
Administrator, a fresh in-memory sandbox, timing, and the sandbox account at 500 keys.

The parent (`python -m bench`) sets DATABASE_URL for each child; nothing here ever touches the
development database.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
ADMIN_USERNAME = "bench-admin"


def base_environment() -> dict[str, str]:
    """The environment every child runs with: the embedded sandbox in memory, the
    local-memory cache, no Venice key (whatever the shell exported)."""
    env = dict(os.environ)
    for name in ("VENICE_API_KEY", "VENICE_API_BASE", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_DEBUG="1",
        VENICE_SANDBOX_STATE_FILE="",
        DJANGO_LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
        # The benchmark's Administrator has no second factor: without this every page
        # redirects to the enrolment (PORTAL_REQUIRE_MFA's default), and nothing is measured.
        PORTAL_REQUIRE_MFA="",
    )
    return env


def schema_version() -> str:
    """Changes whenever a migration (or Django's version) does: the key of cached databases."""
    import django

    digest = hashlib.sha256(django.get_version().encode())
    for path in sorted((ROOT / "accounts" / "migrations").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def setup_django() -> None:
    """Django on the DATABASE_URL the parent chose, without DEBUG's query log.

    The environment says DJANGO_DEBUG=1 so that static files need no collectstatic manifest;
    DEBUG is then turned off before the first request, so queries are not logged and templates
    do not run in debug mode, as in production."""
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def admin_client():
    """A Django test client logged in as an Administrator."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.management.commands.assign_role import assign_role
    from accounts.roles import ADMINISTRATOR

    user, _ = get_user_model().objects.get_or_create(username=ADMIN_USERNAME)
    assign_role(user, ADMINISTRATOR)
    client = Client()
    client.force_login(user)
    return client


def fresh_sandbox():
    """A new in-memory sandbox (the seeded demo account) and an empty Django cache."""
    from django.core.cache import cache

    from accounts.sandbox import reset_sandbox

    cache.clear()
    return reset_sandbox(state_file="")


def get(client, path: str, *, status: int = 200, **extra):
    response = client.get(path, **extra)
    if response.status_code != status:
        raise RuntimeError(f"GET {path} answered {response.status_code}, not {status}")
    return response


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result)."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


# --- the account at 500 keys --------------------------------------------------------------------


def fill_keys(sandbox, total: int = 500, *, seed: int = 500) -> int:
    """Create keys through the sandbox's own API (validated like any POST /api_keys) until the
    account holds `total` active keys: varied types, limits, periods, privacy and expiry,
    created over the last weeks. Venice allows 20 creations a minute, so the sandbox clock is
    set a few hours apart for each; it goes back to real time afterwards. Returns how many
    were created."""
    rng = random.Random(seed)
    missing = total - len(sandbox.key_ids(include_expired=False))
    now = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {sandbox.admin_key}", "Content-Type": "application/json"}
    teams = ("search", "billing", "support", "mobile", "data", "ops", "web", "ml", "qa", "docs")
    try:
        for index in range(missing):
            created = now - timedelta(hours=3 * (missing - index))
            sandbox.clock.set(created)
            payload = {
                "apiKeyType": "ADMIN" if rng.random() < 0.04 else "INFERENCE",
                "description": f"{rng.choice(teams)} service {index:03d}"[:64],
                "limitPeriod": rng.choice(("EPOCH", "MONTH", "MONTH", "LIFETIME")),
                "modelPrivacy": rng.choice(("ALL", "ALL", "PRIVATE_TEXT", "PRIVATE_ONLY")),
            }
            kind = rng.random()
            if kind < 0.6:
                payload["consumptionLimit"] = {"usd": rng.choice((5, 20, 50, 100, 250))}
            elif kind < 0.8:
                payload["consumptionLimit"] = {"diem": rng.choice((1, 2.5, 10))}
            if rng.random() < 0.3:
                expires = now + timedelta(days=rng.uniform(1, 180))
                payload["expiresAt"] = expires.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            answer = sandbox.handle("POST", "/api_keys", {}, headers, json.dumps(payload).encode())
            if answer.status != 200:
                raise RuntimeError(f"creating bench key {index}: {answer.status} {answer.body!r}")
    finally:
        sandbox.clock.resume()
    # Recent usage spread over every key, so rows show last use and period usage.
    sandbox.add_usage_entries(20_000, start=now - timedelta(days=30), end=now, seed=seed)
    active = len(sandbox.key_ids(include_expired=False))
    if active != total:
        raise RuntimeError(f"the account holds {active} active keys, not {total}")
    return missing


# --- timing the upstream calls ------------------------------------------------------------------


class UpstreamTimer:
    """Wraps the portal client's `Transport.request` (one HTTP exchange with Venice, retries
    included) and adds up the time spent inside it, so a page's time can be split into the
    upstream's and the portal's own. Decoding and parsing the answer stay on the portal's side."""

    def __init__(self):
        from accounts.venice import get_client

        self.seconds = 0.0
        self.calls = 0
        self.transport = get_client().transport
        self._original = self.transport.request

        def request(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        self.transport.request = request

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def close(self) -> None:
        self.transport.request = self._original


@contextmanager
def count_queries():
    """Counts the database queries run inside the block: yields a one-item list."""
    from django.db import connection

    counted = [0]

    def counter(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        yield counted
