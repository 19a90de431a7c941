"""Figure 6: /keys/ under gunicorn (2 sync workers) against /healthz, and the database queries
per /keys/ request at 13 and at 500 keys.

The portal runs as in production (DJANGO_DEBUG=0, collected static files, `bench.wsgi`, which
is `portal.wsgi` plus a header counting each request's queries) on a copy of the benchmark
SQLite database. Its Venice is the sandbox served over real HTTP by `manage.py venice_sandbox`
in a process of its own, which the workers reach through VENICE_API_BASE with the admin key the
benchmark gave it: the same path to Venice a deployment has, and one account that both workers
see (an in-process sandbox would give each worker its own account). The sandbox keeps that
account in a state file, so the 500-key phase rewrites the file (the server reloads it) and
restarts gunicorn, whose workers would otherwise serve their cached 13-key list for the TTL.

The load generator is this process: a few threads with `requests`, loopback only, each phase
bounded in time and in requests. Gunicorn's sync workers close every connection, so each
request is a new TCP connection, for both paths alike.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import env
from bench.harness import Compare, Result
from bench.wsgi import QUERIES_HEADER

HOST = "127.0.0.1"
WORKERS = 2
THREADS = 4
WARMUP_SECONDS = 1.5
LOAD_SECONDS = 5.0
MAX_REQUESTS = 20_000  # per phase, whatever the machine's speed
START_TIMEOUT = 30.0
FIGURE = "/keys/ under gunicorn: req/s ÷ /healthz req/s"


def run() -> list[Result]:
    import requests  # noqa: F401 - fail early if missing

    env.migrate()
    client = env.admin_client()
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    workdir = Path(os.environ.get("BENCH_WORKDIR") or env.VAR)
    state_file = workdir / "gunicorn-sandbox.json"
    admin_key = "bench-" + secrets.token_urlsafe(24)

    _collectstatic()
    processes: list[subprocess.Popen] = []
    try:
        sandbox_process, api_base = _start_sandbox(state_file, admin_key, workdir)
        processes.append(sandbox_process)
        served = _Gunicorn(api_base=api_base, admin_key=admin_key, workdir=workdir)
        processes.append(served.start())
        keys_url, health_url = served.url("/keys/"), served.url("/healthz")
        headers = {"Cookie": cookie}

        seeded = _listed_keys(keys_url, headers)
        _load(health_url, seconds=WARMUP_SECONDS)
        _load(keys_url, headers=headers, seconds=WARMUP_SECONDS)
        health_rate, health_count = _load(health_url, seconds=LOAD_SECONDS)
        keys_rate, keys_count = _load(keys_url, headers=headers, seconds=LOAD_SECONDS)
        queries_seeded = _queries_per_request(keys_url, headers)

        _grow_account(state_file, admin_key=admin_key, keys=500)
        served.stop()
        processes.append(served.start())
        large = _listed_keys(keys_url, headers)
        if large != 500:
            raise RuntimeError(f"/keys/ lists {large} keys after growing the account, not 500")
        _load(keys_url, headers=headers, seconds=WARMUP_SECONDS)
        large_rate, _ = _load(keys_url, headers=headers, seconds=LOAD_SECONDS)
        queries_large = _queries_per_request(keys_url, headers)
    finally:
        for process in reversed(processes):
            _stop(process)

    setup = (
        f"gunicorn {WORKERS} sync workers, {THREADS} client threads on loopback, "
        f"{LOAD_SECONDS:.0f} s per path after {WARMUP_SECONDS} s of warm-up"
    )
    return [
        Result(
            figure=FIGURE,
            value=keys_rate / health_rate,
            decimals=3,
            note=(
                f"/keys/ ({seeded} keys) {keys_rate:.0f} req/s ({keys_count} requests), /healthz "
                f"{health_rate:.0f} req/s ({health_count}); at 500 keys /keys/ {large_rate:.0f} "
                f"req/s (÷ /healthz {large_rate / health_rate:.3f}); {setup}"
            ),
        ),
        Result(
            figure="DB queries per /keys/ request: 500 keys (= at 13 keys)",
            value=queries_large,
            unit="queries",
            limit=queries_seeded,
            compare=Compare.EQUAL,
            decimals=0,
            note=(
                f"{queries_seeded} at {seeded} keys, {queries_large} at 500 keys, counted in the "
                f"gunicorn workers ({QUERIES_HEADER})"
            ),
        ),
    ]


# --- processes ----------------------------------------------------------------------------------


def _collectstatic() -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=env.ROOT,
        env=_served_environment(),
        check=True,
        timeout=120,
    )


def _served_environment(**extra: str) -> dict[str, str]:
    from django.conf import settings

    served = env.base_environment()
    served.update(
        DJANGO_DEBUG="0",
        # The session cookie was signed in this process: the workers must share its key.
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback
        DATABASE_URL=os.environ["DATABASE_URL"],
        **extra,
    )
    return served


def _start_sandbox(state_file: Path, admin_key: str, workdir: Path):
    log = open(workdir / "sandbox-server.log", "w+")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "manage.py", "venice_sandbox", "--port", "0", "--admin-key", admin_key],
        cwd=env.ROOT,
        env={**env.base_environment(), "VENICE_SANDBOX_STATE_FILE": str(state_file)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    pattern = re.compile(r"serving (http://127\.0\.0\.1:\d+/api/v1)")
    while time.monotonic() < deadline:
        log.seek(0)
        found = pattern.search(log.read())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    _stop(process)
    log.seek(0)
    raise RuntimeError(f"the sandbox server did not start: {log.read()[-2000:]}")


class _Gunicorn:
    def __init__(self, *, api_base: str, admin_key: str, workdir: Path):
        self.port = _free_port()
        self.environment = _served_environment(VENICE_API_BASE=api_base, VENICE_API_KEY=admin_key)
        self.log_path = workdir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> subprocess.Popen:
        log = open(self.log_path, "a")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bench.wsgi:application",
                "--workers",
                str(WORKERS),
                "--bind",
                f"{HOST}:{self.port}",
                "--log-level",
                "warning",
                "--timeout",
                "30",
            ],  # fmt: skip
            cwd=env.ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        import requests

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                    return self.process
            except requests.RequestException:
                pass
            time.sleep(0.2)
        _stop(self.process)
        raise RuntimeError(f"gunicorn did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# --- the account --------------------------------------------------------------------------------


def _grow_account(state_file: Path, *, admin_key: str, keys: int) -> None:
    """Rewrite the sandbox server's state file with the account grown to `keys` keys."""
    from accounts.sandbox import Sandbox

    sandbox = Sandbox.from_state(json.loads(state_file.read_text()), state_file="")
    # The state keeps only the hash of the --admin-key secret: give it again to act as admin.
    sandbox.replace_admin_secret(admin_key)
    env.fill_keys(sandbox, keys)
    sandbox.save(state_file)


# --- the load generator -------------------------------------------------------------------------


def _load(url: str, *, seconds: float, headers: dict | None = None) -> tuple[float, int]:
    """Requests answered 200 per second over `seconds` from THREADS threads, and how many."""
    import requests

    if not url.startswith(f"http://{HOST}:"):
        raise ValueError("the load generator only targets loopback")
    done = Counter()
    failures = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        with requests.Session() as session:
            session.trust_env = False
            while time.monotonic() < deadline:
                with lock:
                    if done["ok"] + failures["all"] >= MAX_REQUESTS:
                        return
                try:
                    answer = session.get(url, headers=headers, timeout=10, allow_redirects=False)
                    status = answer.status_code
                except requests.RequestException:
                    status = None
                with lock:
                    if status == 200:
                        done["ok"] += 1
                    else:
                        failures["all"] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if failures["all"]:
        raise RuntimeError(f"{failures['all']} requests to {url} failed under load")
    return done["ok"] / elapsed, done["ok"]


def _listed_keys(url: str, headers: dict) -> int:
    import requests

    response = requests.get(url, headers=headers, timeout=30, allow_redirects=False)
    found = re.search(r"(\d+) of (\d+) keys?", response.text)
    if response.status_code != 200 or not found:
        raise RuntimeError(f"{url} answered {response.status_code} without a key count")
    return int(found.group(2))


def _queries_per_request(url: str, headers: dict, samples: int = 10) -> int:
    """The queries one /keys/ view runs; every sample must agree (a count that varies between
    requests would make 'equal at 13 and 500 keys' meaningless)."""
    import requests

    counts = {
        int(
            requests.get(url, headers=headers, timeout=30, allow_redirects=False).headers[
                QUERIES_HEADER
            ]
        )
        for _ in range(samples)
    }
    if len(counts) != 1:
        raise RuntimeError(f"/keys/ ran a varying number of queries: {sorted(counts)}")
    return counts.pop()
