"""With REDIS_URL, separate worker processes share the Venice client's cache and breaker.

Two Python processes (as two gunicorn workers would be) run the portal's Venice client with
REDIS_URL pointing at a dedicated Redis database, against the sandbox served over real HTTP.
The sandbox's HTTP server runs in this test's process (the same server `manage.py
venice_sandbox --port N` runs), so the test can inject upstream faults and count what reached
the upstream.

Needs Redis: CI_REDIS_URL (set by .ci/run when Redis answers), else redis://127.0.0.1:6379/15
when it answers; otherwise skipped. The database is flushed before and after.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from accounts.sandbox.server import make_server
from accounts.venice.breaker import OPEN_MESSAGE

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

# One worker process: builds the portal's client once, then answers one JSON command per line.
WORKER = """
import json, sys
import django
django.setup()
from accounts.venice import VeniceError, get_client

client = get_client()
print(json.dumps({"ready": True, "sandbox": client.is_sandbox}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    try:
        if command["op"] == "list":
            answer = {"ids": sorted(key.id for key in client.api_keys.list())}
        elif command["op"] == "create":
            answer = {"id": client.api_keys.create(command["description"]).id}
        elif command["op"] == "breaker":
            answer = {"state": client.breaker.state()}
    except VeniceError as error:
        answer = {
            "error": type(error).__name__,
            "message": str(error),
            "request_sent": getattr(error, "request_sent", None),
        }
    print(json.dumps(answer), flush=True)
"""


class Worker:
    def __init__(self, name: str, env: dict):
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_ready(self) -> None:
        hello = self._read()
        assert hello == {"ready": True, "sandbox": False}, hello

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            pytest.fail(f"worker {self.name} died: {self.process.stderr.read()}")
        return json.loads(line)

    def __call__(self, op: str, **arguments) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def redis_url():
    configured = os.environ.get("CI_REDIS_URL", "")
    url = configured or DEFAULT_REDIS_URL
    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.RedisError as error:
        connection.close()
        if configured:
            pytest.fail(f"CI_REDIS_URL={configured} does not answer: {error}", pytrace=False)
        pytest.skip(
            f"No Redis answers at {url}: the cross-process cache test needs one "
            "(start redis-server, or set CI_REDIS_URL)"
        )
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


@pytest.fixture
def sandbox_over_http(sandbox):
    server = make_server(sandbox, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def workers(redis_url, sandbox, sandbox_over_http):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VENICE_", "REDIS_", "DJANGO_ALLOW_ASYNC"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        REDIS_URL=redis_url,
        VENICE_API_KEY=sandbox.admin_key,  # the live-API path, over HTTP, to the sandbox
        VENICE_API_BASE=sandbox_over_http,
        VENICE_CACHE_TTL="300",  # nothing expires on its own during the test
    )
    started = []
    try:
        for name in ("A", "B"):
            started.append(Worker(name, env))
        for worker in started:  # both start at once: Django's start-up is most of the time
            worker.wait_until_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


def _key_list_requests(sandbox) -> int:
    return sum(1 for r in sandbox.received if r.method == "GET" and r.path == "/api_keys")


def test_a_change_through_one_process_refreshes_the_other_ones_cached_list(sandbox, workers):
    a, b = workers

    before = a("list")["ids"]
    assert a("list")["ids"] == before
    assert b("list")["ids"] == before
    assert _key_list_requests(sandbox) == 1  # A's second list and B's list came from Redis

    created = b("create", description="made through worker B")["id"]
    after = a("list")["ids"]

    assert after == sorted([*before, created])
    assert _key_list_requests(sandbox) == 2


def test_a_breaker_tripped_by_one_process_makes_the_other_fail_fast(sandbox, workers):
    a, b = workers
    sandbox.faults.inject("/api_keys", "POST", status=503)

    failures = [a("create", description=f"attempt {n}") for n in range(5)]
    assert {failure["error"] for failure in failures} == {"UpstreamUnavailableError"}
    assert all(failure["request_sent"] for failure in failures)  # each one reached Venice
    assert b("breaker") == {"state": "open"}

    reached_upstream = len(sandbox.received)
    refused = b("list")

    assert refused["error"] == "UpstreamUnavailableError"
    assert refused["message"] == OPEN_MESSAGE
    assert refused["request_sent"] is False
    assert len(sandbox.received) == reached_upstream  # B never called the upstream
