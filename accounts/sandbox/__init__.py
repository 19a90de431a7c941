"""The embedded Venice sandbox: a stateful simulator of Venice's account API.

    from accounts.sandbox import SANDBOX_BASE_URL, get_sandbox
    session.mount(SANDBOX_BASE_URL, get_sandbox().adapter())

`get_sandbox()` is the process-wide instance: loaded from settings.VENICE_SANDBOX_STATE_FILE
when that file exists, otherwise seeded from settings.VENICE_SANDBOX_SEED (and saved to the
state file when one is set). `reset_sandbox()` replaces it with a freshly seeded account.

A `Sandbox` (core.py) offers, for the portal and its tests:
- `admin_key`, `inference_key`: the seeded ADMIN and INFERENCE secrets (the only secrets it
  knows: every key record keeps just `secret_sha256` and `last6`; see core.py);
  `admin_key_last6`, `admin_key_given`, `replace_admin_secret(secret)` (`--admin-key`);
- `adapter()` (a requests transport), `handle(method, path, query, headers, body)` (the pure
  core), `exchange(...)` (handle plus faults: what the adapter and HTTP server act on);
- `faults.inject(path, method="GET", status=, latency=, timeout="before"|"after",
  malformed=, drop=, reset_after=, times=, rate=)` and `faults.clear()` (faults.py);
- `received` (RecordedRequest: method, path, query, json, headers without Authorization);
- `clock.advance(timedelta | seconds)`, `clock.set(datetime)`, `clock.resume()`;
- `use_key(secret_or_id, model=, usd=, diem=, tokens=)`, `add_usage_entries(n, start=,
  end=, key=, currency=, model=, seed=)`, `ledger_entries(currency=, start=, end=)`,
  `record_rate_limit_violation(secret_or_id, model=, kind=)`, `find_key`, `key_ids`;
- `save()` / `Sandbox.load(path)`; with a state file every change is saved at once, and
  processes sharing the file lock it and reload each other's changes.
The API's rules, limits and error texts are in rules.py; server.py serves the same core over
real HTTP (`manage.py venice_sandbox --port N`).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from accounts.sandbox.clock import SandboxClock
from accounts.sandbox.core import (
    AdminKeyUnknown,
    Exchange,
    Outcome,
    RecordedRequest,
    Sandbox,
    SandboxResponse,
)
from accounts.sandbox.faults import Fault, Faults

SANDBOX_BASE_URL = "http://venice-sandbox.invalid/api/v1"

_instance: Sandbox | None = None
_instance_lock = threading.Lock()


def _settings():
    from django.conf import settings

    return (
        str(getattr(settings, "VENICE_SANDBOX_STATE_FILE", "") or ""),
        int(getattr(settings, "VENICE_SANDBOX_SEED", 42)),
    )


def get_sandbox() -> Sandbox:
    """The process-wide sandbox (created on first use)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            state_file, seed = _settings()
            if state_file and Path(state_file).is_file():
                _instance = Sandbox.load(state_file)
            else:
                _instance = Sandbox(seed=seed, state_file=state_file)
                if state_file:
                    _instance.save()
        return _instance


def reset_sandbox(
    *,
    seed: int | None = None,
    state_file: str | None = None,
    admin_key: str | None = None,
    now: datetime | None = None,
) -> Sandbox:
    """Replace the process-wide sandbox with a freshly seeded account. `seed` and
    `state_file` default to the settings; pass `state_file=""` for an in-memory sandbox.
    `admin_key` gives the seeded ADMIN key that secret; `now` freezes the clock there."""
    global _instance
    default_file, default_seed = _settings()
    state_file = default_file if state_file is None else str(state_file)
    sandbox = Sandbox(
        seed=default_seed if seed is None else seed,
        state_file=state_file,
        admin_key=admin_key,
        now=now,
    )
    if state_file:
        sandbox.save()
    with _instance_lock:
        _instance = sandbox
    return sandbox


__all__ = [
    "SANDBOX_BASE_URL",
    "AdminKeyUnknown",
    "Exchange",
    "Fault",
    "Faults",
    "Outcome",
    "RecordedRequest",
    "Sandbox",
    "SandboxClock",
    "SandboxResponse",
    "get_sandbox",
    "reset_sandbox",
]
