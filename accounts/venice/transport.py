"""HTTP to Venice: one pooled session, timeouts, retries with backoff, the circuit breaker, the
GET cache, and the mapping of every way a call can fail onto the `VeniceError` family.

The only module of the portal (with the sandbox's adapter and server) that imports `requests`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from accounts.faults import fault_point
from accounts.venice.breaker import CircuitBreaker
from accounts.venice.cache import ResponseCache
from accounts.venice.errors import (
    EndpointGoneError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VeniceError,
)
from accounts.venice.parsing import ResponseFormatError

logger = logging.getLogger("accounts.venice")

T = TypeVar("T")

# Repeating these is safe: GET reads; PATCH sets fields to given values; DELETE of a deleted key
# changes nothing more. POST creates a key each time, so it is never repeated automatically.
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "PATCH", "DELETE"})
ADMIN_KEY_REQUIRED = (
    "Admin API key required: Venice refused the request because the portal's key is not an "
    "ADMIN key."
)


KEY_CANNOT_BE_SENT = (
    "The portal's API key cannot be sent: it contains whitespace or control characters, which "
    "an HTTP header cannot carry."
)
# Characters no header value may hold; http.client's refusal would quote the whole header.
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")


class UnsendableKeyError(ValueError):
    """The key holds characters an HTTP header cannot carry (raised before anything is sent;
    the message never holds the key)."""


class BearerAuth(requests.auth.AuthBase):
    """Adds the key to each request; its repr never shows it."""

    def __init__(self, api_key: str):
        self._api_key = api_key

    def __call__(self, request):
        if _UNSENDABLE.search(self._api_key):
            raise UnsendableKeyError(KEY_CANNOT_BE_SENT)
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth (key hidden)>"


class _NoCookies(requests.cookies.cookielib.DefaultCookiePolicy):
    """The API sets no cookies we need; refusing them keeps the shared session stateless,
    which is what makes one session safe to share between threads."""

    def set_ok(self, cookie, request):
        return False


def make_session(*, user_agent: str, api_key: str, pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    session.auth = BearerAuth(api_key)
    session.cookies.set_policy(_NoCookies())
    # Proxies and netrc from the environment must not decide where the admin key goes.
    session.trust_env = False
    # Retries are ours (counted, backed off, breaker-aware), so urllib3 must not add its own.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- reading answers --------------------------------------------------------------------------


def decode_json(response: requests.Response, endpoint: str) -> Any:
    """The body as JSON with every non-integer number a Decimal (money stays exact)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise InvalidResponseError(
            f"Invalid response format from Venice ({endpoint}): the body is not JSON.",
            status=response.status_code,
        ) from None


def parse_body(parser: Callable[[Any], T], body: Any, endpoint: str, status: int | None) -> T:
    try:
        return parser(body)
    except ResponseFormatError as exc:
        raise InvalidResponseError(
            f"Invalid response format from Venice ({endpoint}): {exc}.", status=status
        ) from None


_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?")


def parse_reset(value: str | None, now: float) -> datetime | None:
    """`x-ratelimit-reset-requests` as an aware datetime.

    Venice documents a Unix timestamp; we also accept milliseconds, a number of seconds from
    now, a duration such as `1m30s` or `250ms`, an ISO timestamp and an HTTP date, because a
    wrong guess here would turn a 429 into a hammering loop or a needless wait.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number > 1e11:
            return datetime.fromtimestamp(number / 1000, UTC)
        if number > 1e9:
            return datetime.fromtimestamp(number, UTC)
        return datetime.fromtimestamp(now + max(number, 0), UTC)
    if text.endswith("ms") and text[:-2].replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(now + float(text[:-2]) / 1000, UTC)
    match = _DURATION.fullmatch(text)
    if match and any(match.groupdict().values()):
        parts = {name: float(amount or 0) for name, amount in match.groupdict().items()}
        return datetime.fromtimestamp(now + parts["h"] * 3600 + parts["m"] * 60 + parts["s"], UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _error_fields(response: requests.Response) -> tuple[str, dict]:
    """Venice's `{"error": ..., "details": ...}`, tolerating bodies that are not JSON (a proxy's
    HTML 502) or not that shape."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        message = body.get("error")
        details = body.get("details")
        return (
            message.strip() if isinstance(message, str) else "",
            dict(details) if isinstance(details, Mapping) else {},
        )
    return "", {}


def _successor(response: requests.Response) -> str | None:
    links = response.links
    link = links.get("successor-version") or next(iter(links.values()), None)
    return link.get("url") if link else None


def error_for_status(response: requests.Response, endpoint: str, now: float) -> VeniceError:
    """The `VeniceError` a non-2xx answer means."""
    status = response.status_code
    said, details = _error_fields(response)
    venice_said = f" Venice said: {said}" if said else ""
    if status == 400 or status == 422:
        message = said or "Venice rejected the request as invalid."
        return ValidationError(message, status=status, details=details)
    if status == 401:
        if "admin" in said.lower():
            return UnauthorizedError(ADMIN_KEY_REQUIRED, status=status, details=details)
        return UnauthorizedError(
            f"Venice did not accept the portal's API key.{venice_said}",
            status=status,
            details=details,
        )
    if status == 403:
        return UnauthorizedError(ADMIN_KEY_REQUIRED, status=status, details=details)
    if status == 404:
        return NotFoundError(
            f"Venice has no such item ({endpoint}).{venice_said}", status=status, details=details
        )
    if status == 410:
        successor = _successor(response)
        instead = f" Use {successor} instead." if successor else ""
        return EndpointGoneError(
            f"{endpoint} is gone: Venice sunset it.{instead}{venice_said}",
            status=status,
            details=details,
            successor=successor,
        )
    if status == 429:
        reset_at = parse_reset(response.headers.get("x-ratelimit-reset-requests"), now)
        if reset_at is None:
            reset_at = parse_reset(response.headers.get("retry-after"), now)
        return RateLimitedError(
            f"Venice is rate limiting the portal.{venice_said}",
            status=status,
            details=details,
            reset_at=reset_at,
        )
    if status >= 500:
        return UpstreamUnavailableError(
            f"Venice failed to answer ({status}).{venice_said}",
            status=status,
            details=details,
            request_sent=True,
        )
    return VeniceError(
        f"Venice answered {endpoint} with an unexpected status {status}.{venice_said}",
        status=status,
        details=details,
    )


def _never_left(exc: BaseException) -> bool:
    """Whether a connection error happened before the request could reach Venice."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(error, MaxRetryError) and error.reason is not None:
            stack.append(error.reason)
        stack.extend(arg for arg in error.args if isinstance(arg, BaseException))
        for linked in (error.__cause__, error.__context__):
            if linked is not None:
                stack.append(linked)
    return False


def error_for_exception(
    exc: requests.RequestException, endpoint: str, timeouts: tuple[float, float]
) -> UpstreamUnavailableError:
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamUnavailableError(
            f"Venice did not accept a connection within {timeouts[0]:g} s ({endpoint}).",
            request_sent=False,
        )
    if isinstance(exc, requests.ReadTimeout):
        return UpstreamUnavailableError(
            f"Venice did not answer within {timeouts[1]:g} s ({endpoint}).", request_sent=True
        )
    if isinstance(exc, requests.ConnectionError) and _never_left(exc):
        return UpstreamUnavailableError(
            f"Could not connect to Venice ({endpoint}).", request_sent=False
        )
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return UpstreamUnavailableError(
            f"The connection to Venice dropped before it answered ({endpoint}).",
            request_sent=True,
        )
    # Only the kind: the text of other errors (InvalidHeader, ...) may quote a header value.
    return UpstreamUnavailableError(
        f"Calling Venice failed ({endpoint}): {type(exc).__name__}.", request_sent=True
    )


def _parse_stored(parser: Callable[..., T], stored: Any, headers: tuple[str, ...]) -> T:
    """A body (or, when `headers` are wanted, the body with its headers) through its parser."""
    if not headers:
        return parser(stored)
    if not isinstance(stored, Mapping) or set(stored) != {"body", "headers"}:
        raise ResponseFormatError("a stored answer without its headers")
    return parser(stored["body"], stored["headers"])


# --- the transport ----------------------------------------------------------------------------


class Transport:
    """Sends one logical call: admission by the breaker, the attempts, the waits between them."""

    def __init__(
        self,
        *,
        base_url: str,
        session: requests.Session,
        timeouts: tuple[float, float],
        breaker: CircuitBreaker,
        cache: ResponseCache,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        rate_limit_wait_cap: float = 5.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.timeouts = timeouts
        self.breaker = breaker
        self.cache = cache
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rate_limit_wait_cap = rate_limit_wait_cap

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (0-based): exponential, capped, with jitter in
        [50 %, 100 %] so that workers that failed together do not retry together."""
        delay = min(self.backoff_cap, self.backoff_base * (2**retry))
        return delay * self.rng.uniform(0.5, 1.0)

    def _wait_before_retry(self, retry: int, error: VeniceError) -> float | None:
        """How long to wait before retrying after `error`, or None to give up now."""
        if isinstance(error, RateLimitedError):
            if error.reset_at is None:
                return self.backoff(retry)
            wait = error.reset_at.timestamp() - self.clock()
            if wait > self.rate_limit_wait_cap:
                return None  # too long to hold a page: tell the user when instead
            return wait if wait > 0 else self.backoff(retry)
        if isinstance(error, UpstreamUnavailableError):
            return self.backoff(retry)
        return None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """A 2xx response, or the `VeniceError` the last attempt ended with."""
        endpoint = f"{method} {path}"
        attempts = 1 + (self.max_retries if method in RETRYABLE_METHODS else 0)
        error: VeniceError | None = None
        # Whether an earlier attempt may have reached Venice: a DELETE retried after a timeout
        # that then finds no key has most likely deleted it the first time.
        ambiguous = False
        for attempt in range(attempts):
            try:
                ticket = self.breaker.admit()
            except UpstreamUnavailableError as refused:
                if error is not None:
                    # Mid-call: the last real answer tells more than "paused", and whether
                    # an earlier attempt reached Venice still matters to the caller.
                    refused.request_sent = ambiguous or getattr(error, "request_sent", False)
                raise refused from error
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json_body,
                    headers=dict(headers or {}),
                    timeout=self.timeouts,
                    allow_redirects=False,
                )
            except UnsendableKeyError:
                self.breaker.release(ticket)  # not Venice's doing, and retrying cannot help
                raise UnauthorizedError(KEY_CANNOT_BE_SENT) from None
            except requests.RequestException as exc:
                self.breaker.failed(ticket)
                error = error_for_exception(exc, endpoint, self.timeouts)
                if isinstance(exc, requests.Timeout | requests.ConnectionError):
                    error.__cause__ = exc  # their text names the host, never a header
                else:
                    error.__suppress_context__ = True
            except Exception as exc:
                # Anything else raised while sending (http.client's ValueError for a header
                # it refuses, a bug in an adapter): its text may hold the Authorization
                # header, so only its kind goes on, into the client's own error family.
                self.breaker.release(ticket)
                logger.error("Sending %s failed before an answer: %s", endpoint, type(exc).__name__)
                raise UpstreamUnavailableError(
                    f"Calling Venice failed ({endpoint}): {type(exc).__name__}.",
                    request_sent=True,
                ) from None
            except BaseException:
                self.breaker.release(ticket)  # not Venice's doing: give the slot back
                raise
            else:
                if response.status_code >= 500:
                    self.breaker.failed(ticket)
                elif response.status_code >= 400:
                    self.breaker.refused(ticket)
                else:
                    self.breaker.succeeded(ticket)
                if 200 <= response.status_code < 300:
                    return response
                error = error_for_status(response, endpoint, self.clock())
            if attempt + 1 >= attempts:
                break
            ambiguous = ambiguous or getattr(error, "request_sent", False)
            wait = self._wait_before_retry(attempt, error)
            if wait is None:
                break
            logger.warning(
                "Venice %s failed (%s); retry %d of %d in %.2f s",
                endpoint,
                error.status or type(error).__name__,
                attempt + 1,
                attempts - 1,
                wait,
            )
            self.sleep(wait)
        assert error is not None
        error.after_ambiguous_attempt = ambiguous
        raise error

    # --- conveniences the API classes use --------------------------------------------------

    def get(
        self,
        path: str,
        parser: Callable[..., T],
        *,
        params: Mapping[str, Any] | None = None,
        cache: bool = True,
        headers: tuple[str, ...] = (),
    ) -> T:
        """GET and parse, through the cache when `cache` (a hit makes no request).

        `headers` names response headers (lower case) the parser needs too: it is then called
        as `parser(body, {name: value})`, and the cache keeps them with the body."""
        endpoint = f"GET {path}"
        key = self.cache.key(path, params) if cache and self.cache.enabled else None
        if key is not None:
            stored = self.cache.get(key)
            if stored is not None:
                try:
                    return _parse_stored(parser, stored, headers)
                except ResponseFormatError:
                    pass  # stored by an older release with another idea of the format
        response = self.request("GET", path, params=params)
        body = decode_json(response, endpoint)
        stored = body
        if headers:
            kept = {name: response.headers[name] for name in headers if name in response.headers}
            stored = {"body": body, "headers": kept}
        result = parse_body(
            lambda value: _parse_stored(parser, value, headers),
            stored,
            endpoint,
            response.status_code,
        )
        if key is not None:
            self.cache.set(key, stored)
        return result

    def mutate(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> tuple[Any, int]:
        """POST/PATCH/DELETE; drops the account's cached answers whatever the outcome (a
        failed call may still have changed something). Returns the JSON body and status."""
        try:
            response = self.request(method, path, params=params, json_body=json_body)
        finally:
            self.cache.invalidate()
        fault_point(f"venice.{method}.answered")
        return decode_json(response, f"{method} {path}"), response.status_code
