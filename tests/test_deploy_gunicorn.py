"""The production path: gunicorn with portal/gunicorn.conf.py and DJANGO_DEBUG=0, as `make serve`
runs it, on a free loopback port.

One server for the module (collectstatic and the boot take a few seconds, the price of checking
the real thing): /healthz, the HTTPS redirect, whitenoise serving hashed static files, the
access log, and the worker count.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTTPS = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, port: int, log: Path):
        self.port = port
        self.log = log

    def get(self, path: str, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "VENICE_", "WEB_CONCURRENCY", "GUNICORN_", "REDIS_"))
    }
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="test-only-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        VENICE_SANDBOX_STATE_FILE="",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    # /healthz only runs SELECT 1: the suite's own database when it has a URL, else a new file.
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'db.sqlite3'}")

    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    log = tmp / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, log)
    try:
        _wait_until_serving(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(server: Server, process: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.log_text()}")
        try:
            server.get("/healthz", HTTPS)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within {limit} s:\n{server.log_text()}")


def test_gunicorn_answers_healthz_with_production_settings(gunicorn):
    status, headers, body = gunicorn.get("/healthz", HTTPS)

    assert status == 200
    assert b'"status": "ok"' in body
    assert headers["Server"] == "gunicorn"
    # Only DEBUG=0 sets HSTS, and only on a request the proxy marked as HTTPS.
    assert "max-age=31536000" in headers["Strict-Transport-Security"]


def test_plain_http_is_redirected_to_https(gunicorn):
    status, headers, _ = gunicorn.get("/healthz")

    assert status == 301
    assert headers["Location"] == f"https://127.0.0.1:{gunicorn.port}/healthz"


def test_whitenoise_serves_collected_static_files_under_hashed_names(gunicorn):
    _, _, page = gunicorn.get("/accounts/login/", HTTPS)
    stylesheet = re.search(rb'href="(/static/css/portal\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, page[:500]

    status, headers, body = gunicorn.get(
        stylesheet.group(1).decode(), {**HTTPS, "Accept-Encoding": "gzip"}
    )

    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert headers["Content-Encoding"] == "gzip"
    assert "immutable" in headers["Cache-Control"]
    assert body.startswith(b"\x1f\x8b")


def test_the_access_log_leaves_out_query_strings(gunicorn):
    gunicorn.get("/healthz?cursor=opaque-cursor-4f1d", {**HTTPS, "X-Request-ID": "probe-7a1c2e"})

    line = _wait_for_log_line(gunicorn, "req=probe-7a1c2e")
    assert '"GET /healthz HTTP/1.1" 200' in line
    assert "opaque-cursor-4f1d" not in gunicorn.log_text()


def test_the_worker_count_comes_from_web_concurrency(gunicorn):
    log = gunicorn.log_text()

    assert "Using worker: gthread" in log
    assert len(re.findall(r"Booting worker with pid", log)) == 2


def test_several_workers_without_redis_are_warned_about(gunicorn):
    assert "2 workers without REDIS_URL" in gunicorn.log_text()


def _wait_for_log_line(server: Server, needle: str, limit: float = 10) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if needle in line:
                return line
        time.sleep(0.1)
    pytest.fail(f"no log line with {needle!r}:\n{server.log_text()}")
