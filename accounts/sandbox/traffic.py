"""A client that calls the sandbox's simulated inference with a key, as an app would: so a
person can watch a rotation move traffic (`manage.py sandbox_traffic`).

It reads the key's secret from a file before every request, as a service that reloads its
secret would: when a rotation's file sink writes the new secret there, the traffic moves to
the new key by itself, and the portal sees the old key go quiet.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from accounts.sandbox.inference import DEFAULT_MODEL

PROMPT = [{"role": "user", "content": "Say something short."}]


def sandbox_session(base_url: str | None = None) -> tuple[requests.Session, str]:
    """A session on the served sandbox at `base_url`, or on this process's sandbox."""
    session = requests.Session()
    if base_url:
        return session, base_url.rstrip("/")
    from accounts.sandbox import SANDBOX_BASE_URL, get_sandbox

    session.mount(SANDBOX_BASE_URL, get_sandbox().adapter())
    return session, SANDBOX_BASE_URL


def play(
    *,
    key_file: Path,
    rps: float,
    count: int | None,
    session: requests.Session,
    base_url: str,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send `count` requests (None: until interrupted), `rps` a second; returns how many
    were answered 200. Each line said names the key by its last six characters only."""
    answered = 0
    for number in itertools.count(1):
        if count is not None and number > count:
            break
        secret = key_file.read_text().strip()
        response = session.post(
            f"{base_url}/chat/completions",
            json={"model": DEFAULT_MODEL, "messages": PROMPT},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        )
        answered += response.status_code == 200
        say(
            f"{datetime.now(UTC):%H:%M:%S} request {number} with key …{secret[-6:]}: "
            f"{response.status_code}"
        )
        sleep(1 / rps)
    return answered
