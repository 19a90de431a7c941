"""The embedded Venice sandbox: a stateful simulator of Venice's account API.

    from accounts.sandbox import SANDBOX_BASE_URL, get_sandbox
    session.mount(SANDBOX_BASE_URL, get_sandbox().adapter())

`get_sandbox()` is the process-wide instance: loaded from settings.VENICE_SANDBOX_STATE_FILE
when that file exists, otherwise seeded from settings.VENICE_SANDBOX_SEED (and saved to the
state file when one is set). `reset_sandbox()` replaces it with a freshly seeded account.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from accounts.sandbox.clock import SandboxClock
from accounts.sandbox.core import (
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
