"""One family of errors for everything the Venice API (or the way to it) can do wrong.

Catch by kind (`except RateLimitedError`) or by area: every failure raised by
`client.api_keys` is also an `APIKeyError`, and every failure raised by `client.billing` a
`BillingError`, as the original SDK promised. Each error's `user_message` says what happened
and what the person in front of the portal can do about it.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache


class VeniceError(Exception):
    # A headline for the message box: what kind of trouble this is, in the user's words.
    title = "Venice could not be reached."
    user_action = "Try again in a minute; if it keeps failing, check Venice's status page."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or {}

    @property
    def user_message(self) -> str:
        return f"{self.message} {self.user_action}"


class APIKeyError(VeniceError):
    """Any failure of a `client.api_keys` call (the original SDK's key error)."""


class BillingError(VeniceError):
    """Any failure of a `client.billing` call (the original SDK's billing error)."""


class UnauthorizedError(VeniceError):
    """401 (the key is wrong or revoked) or 403 (the key is not an ADMIN key)."""

    user_action = "Check that VENICE_API_KEY holds a valid Venice ADMIN key."
    title = "Venice refused the portal's key."


class ValidationError(VeniceError):
    """400: Venice rejected the input. `field_errors` maps field names to messages."""

    user_action = "Correct the input and try again."
    title = "Venice did not accept this."

    @property
    def field_errors(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name, value in self.details.items():
            if name == "_errors":
                continue
            if isinstance(value, dict):
                messages = [str(message) for message in value.get("_errors", [])]
            elif isinstance(value, list):
                messages = [str(message) for message in value]
            else:
                messages = [str(value)]
            if messages:
                errors[name] = messages
        return errors


class NotFoundError(VeniceError):
    user_action = "It may have been deleted; reload the list."
    title = "Venice has no such key."


class RateLimitedError(VeniceError):
    """429. `reset_at` is when Venice will accept requests again, when it said."""

    title = "Venice is limiting how fast the portal may ask."

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at

    @property
    def user_action(self) -> str:
        if self.reset_at is not None:
            return f"Wait until {self.reset_at:%H:%M:%S} UTC and try again."
        return "Wait a minute and try again."


class UpstreamUnavailableError(VeniceError):
    """5xx, a timeout, a dropped connection, or the circuit breaker failing fast.

    `request_sent` says whether the request reached Venice (or may have): True after a read
    timeout, a connection dropped mid-answer or a 5xx answer, so its effect is unknown; False
    when it surely never left (connect failure, open circuit). A caller that POSTed (`create`)
    and sees `request_sent=True` must reconcile, e.g. look for the new key in `list()`, before
    trying again: POST is never retried automatically. `retry_at` is when the circuit breaker
    will let a call through again, when it is the reason.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = False,
        retry_at: datetime | None = None,
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.request_sent = request_sent
        self.retry_at = retry_at


class InvalidResponseError(VeniceError):
    """Venice answered with something that is not what the spec promises."""

    title = "Venice sent an answer the portal could not read."


class EndpointGoneError(VeniceError):
    """410: the endpoint was sunset. `successor` names its replacement (from the Link header)."""

    user_action = "This portal no longer uses it; please report the page you were on."
    title = "Venice no longer offers this."

    def __init__(self, message: str, *, successor: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.successor = successor


@cache
def _in_area(kind: type[VeniceError], area: type[VeniceError]) -> type[VeniceError]:
    return type(kind.__name__, (kind, area), {"__module__": __name__})


def in_area(error: VeniceError, area: type[VeniceError]) -> VeniceError:
    """The same error, re-made so that it is also an instance of `area` (APIKeyError, ...)."""
    if isinstance(error, area):
        return error
    clone = _in_area(type(error), area).__new__(_in_area(type(error), area))
    clone.__dict__.update(error.__dict__)
    clone.args = error.args
    return clone
