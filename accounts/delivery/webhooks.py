"""POST a JSON body to a webhook: an alert channel's (Slack, Microsoft Teams or a generic
receiver), or a rotation schedule's secret sink.

This module and accounts/venice/ are the only ones that import `requests` (DESIGN.md). It knows
HTTP, not Django models: the alert services build the body and headers, this sends them once
and says how it went. Retries are the services' (a delivery record tried again by later
check_alerts runs), never here.

Fixed timeouts: CONNECT_TIMEOUT to connect, and `read_timeout` (PORTAL_WEBHOOK_TIMEOUT,
default READ_TIMEOUT) for the answer, so a receiver that hangs costs one run a few seconds at
most. No redirects are followed (a webhook that moved is a failure to look at, not a hop to an
address nobody chose), no proxy or netrc from the environment, no cookies.

A webhook URL is a credential (Slack's and Teams' paths are the secret), so it never appears
in a log line, an exception text or a result: failures are reported by kind ("no answer
within 10 s"), never with the text of the underlying error, which names the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass

import requests

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
USER_AGENT = "venice-account-portal/0.1 (alerts)"
SIGNATURE_HEADER = "X-Portal-Signature"
SIGNING_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status: int | None = None  # the HTTP status, None when no answer came
    error: str = ""  # why not, in words that never hold the URL
    duration_ms: int = 0

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver says this webhook no longer exists (switch the channel off)."""
        return self.status == 410


# urllib3 logs each request line, path included, at DEBUG: while a webhook is being sent (in
# this thread), paths in its log records are hidden.
_sending: ContextVar[bool] = ContextVar("webhook_sending", default=False)
HIDDEN_PATH = "/(a webhook's path, not logged)"


class _HideWebhookPaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _sending.get() and isinstance(record.args, tuple):
            record.args = tuple(
                HIDDEN_PATH if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideWebhookPaths())


def new_signing_secret() -> str:
    """A webhook's signing secret: shown once to whoever sets the receiver up."""
    return SIGNING_SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The X-Portal-Signature value: HMAC-SHA256 of the exact body bytes, hex, prefixed."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _NoCookies(requests.cookies.cookielib.DefaultCookiePolicy):
    def set_ok(self, cookie, request):
        return False


def post_webhook(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    read_timeout: float = READ_TIMEOUT,
    ca_bundle: str = "",
) -> WebhookResult:
    """Send `body` (JSON bytes) once; 2xx is success, anything else a failure with its status.
    `ca_bundle`: a PEM file of the authorities to trust instead of certifi's."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(_NoCookies())
    sent_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **(headers or {}),
    }
    started = time.monotonic()
    token = _sending.set(True)
    try:
        response = session.post(
            url,
            data=body,
            headers=sent_headers,
            timeout=(CONNECT_TIMEOUT, read_timeout),
            allow_redirects=False,
            verify=ca_bundle or True,
            stream=True,  # the answer's body is not needed: never read a large one
        )
    except requests.ConnectTimeout:
        return _failed(started, f"no connection within {CONNECT_TIMEOUT:g} s")
    except requests.ReadTimeout:
        return _failed(started, f"no answer within {read_timeout:g} s")
    except requests.exceptions.SSLError:
        return _failed(started, "the TLS handshake failed")
    except requests.ConnectionError:
        return _failed(started, "could not connect, or the connection dropped")
    except requests.RequestException as error:
        return _failed(started, f"the request failed ({type(error).__name__})")
    finally:
        _sending.reset(token)
        session.close()
    status = response.status_code
    response.close()
    duration = _ms(started)
    if 200 <= status < 300:
        return WebhookResult(ok=True, status=status, duration_ms=duration)
    reason = "the webhook is gone (410)" if status == 410 else f"answered {status}"
    if 300 <= status < 400:
        reason = f"answered {status} (a redirect, which is not followed)"
    return WebhookResult(ok=False, status=status, error=reason, duration_ms=duration)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _failed(started: float, error: str) -> WebhookResult:
    return WebhookResult(ok=False, error=error, duration_ms=_ms(started))
