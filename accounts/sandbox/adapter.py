"""A `requests` transport adapter that answers from the sandbox, in process.

    session.mount(SANDBOX_BASE_URL, sandbox.adapter())

It turns the PreparedRequest into a call to `Sandbox.exchange` and builds a real
`requests.Response`, so the client runs its whole stack (hooks, status handling, JSON decoding,
`raise_for_status`) exactly as over the network. Scripted faults come back as the exceptions
`requests` raises for them: ConnectTimeout, ReadTimeout, ConnectionError.
"""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse

from accounts.sandbox.core import API_PREFIX, Sandbox

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _read_timeout(timeout) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


class SandboxAdapter(BaseAdapter):
    def __init__(self, sandbox: Sandbox):
        super().__init__()
        self.sandbox = sandbox

    def send(
        self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None
    ) -> requests.Response:
        url = urlsplit(request.url)
        path = url.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :] or "/"
        query = parse_qs(url.query, keep_blank_values=True)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in body)
        outcome = self.sandbox.exchange(request.method, path, query, dict(request.headers), body)
        delay = outcome.delay
        read_timeout = _read_timeout(timeout)
        if outcome.error is None and read_timeout is not None and delay > read_timeout:
            # Slower than the client waits: it gives up after its read timeout.
            time.sleep(read_timeout)
            raise requests.ReadTimeout(
                f"sandbox: no answer within {read_timeout}s", request=request
            )
        if delay:
            time.sleep(delay)
        if outcome.error == "connect_timeout":
            raise requests.ConnectTimeout("sandbox: connect timed out (injected)", request=request)
        if outcome.error == "read_timeout":
            raise requests.ReadTimeout("sandbox: read timed out (injected)", request=request)
        if outcome.error == "drop":
            raise requests.ConnectionError(
                "sandbox: connection dropped (injected)", request=request
            )
        return self._build_response(request, outcome.response)

    def _build_response(self, request, answer) -> requests.Response:
        raw = HTTPResponse(
            body=io.BytesIO(answer.body),
            headers=answer.headers,
            status=answer.status,
            reason=_REASONS.get(answer.status, ""),
            preload_content=False,
            decode_content=False,
        )
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.headers)
        response.raw = raw
        response.reason = raw.reason
        response.url = request.url
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response._content = answer.body  # read eagerly: the body is already in memory
        response._content_consumed = True
        response.connection = self
        return response

    def close(self) -> None:
        pass
