"""The API's errors: one JSON shape, `{"error": {"code", "message", "fields"}}`, and the status
that says what kind of failure it is. The portal's own exceptions map here the way the pages
map them to messages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, Throttled
from ninja.errors import ValidationError as SchemaValidationError

from accounts.services.key_ownership import KeyScopeRefused, OwnershipInvalid
from accounts.services.keys import KeyChangeRefused
from accounts.services.policies import ApprovalRequired, PolicyForbids
from accounts.services.rotation import RotationError, RotationRefused
from accounts.services.teams import TeamChangeRefused
from accounts.venice import (
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UpstreamUnavailableError,
    ValidationError,
    VeniceError,
)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, fields: dict | None = None, **extra
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra


def form_errors(form) -> dict[str, list[str]]:
    """A bound Django form's errors, by field ("" for the form as a whole)."""
    return {
        ("" if name == "__all__" else name): [str(message) for message in messages]
        for name, messages in form.errors.items()
    }


def check_form(form) -> None:
    """The same validation as the pages: a form that is not valid is a 422 naming its fields."""
    if not form.is_valid():
        errors = form_errors(form)
        first = next(iter(errors.values()))[0] if errors else "The input is not valid."
        raise ApiError(422, "invalid", first, fields=errors)


def install(api: NinjaAPI) -> None:
    def answer(request, error: ApiError):
        body = {"code": error.code, "message": error.message, "fields": error.fields}
        body.update(error.extra)
        response = api.create_response(request, {"error": body}, status=error.status)
        if error.status == 429 and error.extra.get("retry_after"):
            response["Retry-After"] = str(error.extra["retry_after"])
        return response

    handlers = {
        ApiError: lambda request, error: error,
        SchemaValidationError: _schema_invalid,
        AuthenticationError: lambda request, error: ApiError(
            401, "unauthorized", "Send a portal API token: Authorization: Bearer vpt_…"
        ),
        Throttled: lambda request, error: ApiError(
            429,
            "rate_limited",
            "Too many requests with this token; wait and try again.",
            retry_after=int(error.wait or 1),
        ),
        PermissionDenied: lambda request, error: ApiError(
            403, "forbidden", str(error) or "The token's role does not allow this."
        ),
        Http404: lambda request, error: ApiError(404, "not_found", str(error) or "Not found."),
        RotationRefused: lambda request, error: ApiError(403, "forbidden", error.message),
        RotationError: lambda request, error: ApiError(409, "rotation_conflict", error.message),
        KeyChangeRefused: lambda request, error: ApiError(409, "refused", error.message),
        PolicyForbids: lambda request, error: ApiError(
            403, "policy_forbids", error.message, policies=[str(hit) for hit in error.hits]
        ),
        ApprovalRequired: lambda request, error: ApiError(
            409,
            "approval_required",
            error.message.replace(
                "Give a reason, and it waits for one in Approvals.",
                'Send it again with a "reason" to ask for one.',
            ),
            policies=[str(hit) for hit in error.hits],
        ),
        KeyScopeRefused: lambda request, error: ApiError(403, "forbidden", error.message),
        OwnershipInvalid: lambda request, error: ApiError(
            422, "invalid", error.message, fields={error.field or "": [error.message]}
        ),
        TeamChangeRefused: lambda request, error: ApiError(409, "refused", error.message),
        VeniceError: _upstream,
    }
    for kind, translate in handlers.items():
        api.add_exception_handler(
            kind,
            lambda request, error, translate=translate: answer(request, translate(request, error)),
        )


def _schema_invalid(request, error: SchemaValidationError) -> ApiError:
    fields: dict[str, list[str]] = {}
    for problem in error.errors:
        location = [
            str(part)
            for part in problem.get("loc", ())
            if part not in ("body", "query", "path", "payload")
        ]
        fields.setdefault(".".join(location), []).append(problem.get("msg", "Not valid."))
    first_field, messages = next(iter(fields.items()), ("", ["The input is not valid."]))
    message = f"{first_field}: {messages[0]}" if first_field else messages[0]
    return ApiError(422, "invalid", message, fields=fields)


def _upstream(request, error: VeniceError) -> ApiError:
    if isinstance(error, ValidationError):
        return ApiError(422, "venice_refused", error.user_message, fields=error.field_errors)
    if isinstance(error, NotFoundError):
        return ApiError(404, "not_found", error.user_message)
    if isinstance(error, RateLimitedError):
        return ApiError(503, "venice_rate_limited", error.user_message)
    if isinstance(error, UnauthorizedError):
        return ApiError(503, "venice_refused_portal", error.user_message)
    if isinstance(error, UpstreamUnavailableError) and error.request_sent:
        return ApiError(
            503, "venice_outcome_unknown", error.user_message, request_may_have_reached_venice=True
        )
    return ApiError(503, "venice_unavailable", error.user_message)
