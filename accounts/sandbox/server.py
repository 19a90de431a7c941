"""The sandbox over real HTTP: a ThreadingHTTPServer around `Sandbox.exchange`.

    server = make_server(sandbox, "127.0.0.1", 0)   # port 0: any free port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}/api/v1"

Faults act as on a network: a dropped connection closes the socket without an answer; a
timeout ("before" or "after") holds the connection open past the client's patience (the fault's
`latency`, or TIMEOUT_HOLD seconds) and then closes it, having applied the request or not.
"""

from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from accounts.sandbox.core import API_PREFIX, Sandbox

TIMEOUT_HOLD = 30.0  # seconds a "timeout" fault holds the connection when no latency is given


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sandbox: Sandbox, address: tuple[str, int]):
        self.sandbox = sandbox
        super().__init__(address, SandboxRequestHandler)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "VeniceSandbox/1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # quiet: the command prints its own summary; tests don't want the noise

    def _serve(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :] or "/"
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        outcome = self.server.sandbox.exchange(self.command, path, query, dict(self.headers), body)
        if outcome.error in ("connect_timeout", "read_timeout"):
            time.sleep(outcome.delay or TIMEOUT_HOLD)
            self._abort()
            return
        if outcome.delay:
            time.sleep(outcome.delay)
        if outcome.error == "drop":
            self._abort()
            return
        answer = outcome.response
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _abort(self) -> None:
        """Close the connection without a word, as a dropped connection does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve


def make_server(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> SandboxHTTPServer:
    return SandboxHTTPServer(sandbox, (host, port))
