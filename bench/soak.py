"""The soak: gunicorn (4 workers, PostgreSQL, Redis) under 20 signed-in sessions for 60 s,
Venice 50–300 ms away over HTTP; then the same with Redis stopped half-way.

The portal runs as in production (DJANGO_DEBUG=0, `portal/gunicorn.conf.py`: gthread workers,
the garbage collector frozen after boot) on the PostgreSQL database the parent made for the
suite, with REDIS_URL at a redis-server of this suite's own on a free port (it is the one
stopped; the machine's Redis is never touched). Venice is the sandbox served over HTTP from
this process, every answer delayed by 50, 150 or 300 ms (injected faults, most calls 50 ms),
so the sandbox also sees every request and its status: the figure "Venice failures per 30 s"
is the most non-2xx answers it gave in any 30 s, against Venice's limit of 20.

Each session is an Administrator (the only role that sees all five pages) looping over the
dashboard, the key list, a key's page, billing and the audit log with no think time. Figures:
errors per run, = 0 — any answer but 200, and any 200 page saying the portal held its Venice
calls back (the breaker's messages: a page that degrades politely is still an error here);
p50/p95/p99 per page, printed.
"""

from __future__ import annotations

import html
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict

from bench import env
from bench.gunicorn_load import HOST, START_TIMEOUT, _collectstatic, _free_port, _stop
from bench.harness import Compare, Result, median, percentile

SESSIONS = 20
SECONDS = 60.0
WORKERS = 4
VENICE_LIMIT = 20
PAGES = ("/", "/keys/", "/keys/{key}/", "/billing/", "/audit/")


def _held_back_markers() -> tuple[str, ...]:
    from accounts.venice.breaker import BUDGET_MESSAGE, OPEN_MESSAGE

    return tuple(html.escape(message) for message in (BUDGET_MESSAGE, OPEN_MESSAGE))


class _Redis:
    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the soak needs redis-server (it stops its own)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _sandbox_server():
    from accounts.sandbox import reset_sandbox
    from accounts.sandbox.server import make_server

    sandbox = reset_sandbox(state_file="")
    sandbox.record_exchanges = True
    # Most recent first: 300 ms for a tenth of the calls, 150 ms for a third of the rest,
    # 50 ms for every other one.
    sandbox.faults.inject("*", "*", latency=0.05)
    sandbox.faults.inject("*", "*", latency=0.15, rate=0.33)
    sandbox.faults.inject("*", "*", latency=0.30, rate=0.10)
    server = make_server(sandbox, HOST, 0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return sandbox, server, f"http://{HOST}:{server.server_port}/api/v1"


def _gunicorn(*, api_base: str, admin_key: str, redis_url: str, log_path):
    import requests
    from django.conf import settings

    port = _free_port()
    served = env.base_environment()
    served.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS=HOST,
        DATABASE_URL=os.environ["DATABASE_URL"],
        VENICE_API_BASE=api_base,
        VENICE_API_KEY=admin_key,
        REDIS_URL=redis_url,
        WEB_CONCURRENCY=str(WORKERS),
        HOST=HOST,
        PORT=str(port),
        GUNICORN_LOG_LEVEL="warning",
    )
    log = open(log_path, "a")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn.conf.py"],
        cwd=env.ROOT,
        env=served,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")


def _cookies() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.management.commands.assign_role import assign_role
    from accounts.roles import ADMINISTRATOR

    cookies = []
    for index in range(SESSIONS):
        user, _ = get_user_model().objects.get_or_create(username=f"soak-{index:02d}")
        assign_role(user, ADMINISTRATOR)
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return cookies


def _soak(base: str, cookies: list[str], key_ids: list[str], *, midway=None) -> dict:
    import requests

    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    held_back = _held_back_markers()

    def session(cookie: str, seed: int):
        rng = random.Random(seed)
        with requests.Session() as http:
            http.trust_env = False
            http.headers["Cookie"] = cookie
            while time.monotonic() < deadline:
                page = rng.choice(PAGES)
                url = base + page.format(key=rng.choice(key_ids))
                started = time.perf_counter()
                try:
                    response = http.get(url, timeout=30, allow_redirects=False)
                    status = response.status_code
                    if status == 200 and any(text in response.text for text in held_back):
                        status = "200 held back"
                except requests.RequestException as error:
                    status = type(error).__name__
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    times[page].append(elapsed)
                    if status != 200:
                        errors.append(f"{page} {status}")

    threads = [threading.Thread(target=session, args=(c, i)) for i, c in enumerate(cookies)]
    for thread in threads:
        thread.start()
    if midway is not None:
        time.sleep(SECONDS / 2)
        midway()
    for thread in threads:
        thread.join()
    return {"times": times, "errors": errors}


class _FailureWatch:
    """Samples the sandbox's failed answers once a second (its exchanges carry no time)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.samples: list[tuple[float, int]] = []
        self.running = True
        self.seen = len(sandbox.exchanges)
        self.failed = 0
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while self.running:
            exchanges = self.sandbox.exchanges
            new, self.seen = exchanges[self.seen :], len(exchanges)
            self.failed += sum(1 for exchange in new if exchange.response.status >= 400)
            self.samples.append((time.monotonic(), self.failed))
            time.sleep(1.0)

    def most_in_30s(self) -> int:
        self.running = False
        self.thread.join()
        most = 0
        for at, count in self.samples:
            earlier = [c for t, c in self.samples if at - t <= 31]
            most = max(most, count - min(earlier))
        return most


def run() -> list[Result]:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise RuntimeError("the soak runs on PostgreSQL (make bench gives it a database)")
    env.migrate()
    workdir = env.VAR
    _collectstatic()
    cookies = _cookies()
    sandbox, server, api_base = _sandbox_server()
    key_ids = sorted(sandbox.key_ids(include_expired=False))[:5]
    results = []
    try:
        for phase, stop_redis in (("Redis up", False), ("Redis stopped at 30 s", True)):
            redis = _Redis()
            redis.start()
            process, base = _gunicorn(
                api_base=api_base,
                admin_key=sandbox.admin_key,
                redis_url=f"redis://{HOST}:{redis.port}/0",
                log_path=workdir / "soak-gunicorn.log",
            )
            watch = _FailureWatch(sandbox)
            try:
                outcome = _soak(base, cookies, key_ids, midway=redis.stop if stop_redis else None)
            finally:
                _stop(process)
                redis.stop()
            results += _figures(phase, outcome, watch.most_in_30s())
    finally:
        server.shutdown()
        server.server_close()
    return results


def _figures(phase: str, outcome: dict, failures: int) -> list[Result]:
    times, errors = outcome["times"], outcome["errors"]
    total = sum(len(values) for values in times.values())
    per_page = "; ".join(
        f"{page.replace('{key}', 'K')} p50 {median(values):.0f} / p95 "
        f"{percentile(values, 95):.0f} / p99 {percentile(values, 99):.0f} ms ({len(values)})"
        for page, values in sorted(times.items())
    )
    shown = ", ".join(sorted(set(errors))[:5])
    return [
        Result(
            figure=f"soak, {SESSIONS} sessions × {SECONDS:.0f} s, {phase}: errors",
            value=len(errors),
            unit="errors",
            limit=0,
            compare=Compare.EQUAL,
            decimals=0,
            note=(
                f"{phase}: {total} requests to gunicorn ({WORKERS} gthread workers, PostgreSQL, "
                f"Redis), Venice 50/150/300 ms over HTTP; {per_page}"
                + (f"; errors: {shown}" if errors else "")
            ),
        ),
        Result(
            figure=f"soak, {phase}: Venice's failed requests in any 30 s",
            value=failures,
            unit="failures",
            limit=VENICE_LIMIT,
            compare=Compare.AT_MOST,
            decimals=0,
            note=f"{phase}: non-2xx answers the sandbox gave, most in any 31 s (sampled 1/s)",
        ),
    ]
