"""Request validation in the shape Venice (zod) reports it:
{"_errors": [form-level messages], "field": {"_errors": [...]}, "nested": {"field": {...}}}."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

from accounts.sandbox.clock import to_ms
from accounts.sandbox.responses import ApiError
from accounts.sandbox.rules import DESCRIPTION_MAX, INVALID_PARAMETERS, LIMIT_MAX

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
_TIMESTAMP_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


class Validation:
    """Collects zod-style errors: {"_errors": [...], "field": {"_errors": [...]}}."""

    def __init__(self):
        self.details: dict = {"_errors": []}
        self.failed = False

    def form(self, message: str) -> None:
        self.details["_errors"].append(message)
        self.failed = True

    def field(self, *path: str, message: str) -> None:
        node = self.details
        for name in path:
            node = node.setdefault(name, {"_errors": []})
        node["_errors"].append(message)
        self.failed = True

    def raise_if_failed(self) -> None:
        if self.failed:
            raise ApiError(400, INVALID_PARAMETERS, details=self.details)


def received_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    return values[-1]


def json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise ApiError(
            400,
            INVALID_PARAMETERS,
            details={
                "_errors": ["The request body is not valid JSON"],
            },
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(
            400,
            INVALID_PARAMETERS,
            details={
                "_errors": [f"Expected object, received {received_type(payload)}"],
            },
        )
    return payload


def unknown_keys(check: Validation, payload: dict, allowed: set[str]) -> None:
    unknown = [name for name in payload if name not in allowed]
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        check.form(f"Unrecognized key(s) in object: {names}")


def enum_message(options, value) -> str:
    expected = " | ".join(f"'{option}'" for option in options)
    return f"Invalid enum value. Expected {expected}, received '{value}'"


def enum_field(check: Validation, payload: dict, name: str, options) -> None:
    if name not in payload:
        return
    value = payload[name]
    if not isinstance(value, str):
        expected = " | ".join(f"'{option}'" for option in options)
        check.field(name, message=f"Expected {expected}, received {received_type(value)}")
    elif value not in options:
        check.field(name, message=enum_message(options, value))


def description_field(check: Validation, payload: dict) -> None:
    value = payload["description"]
    if not isinstance(value, str):
        check.field("description", message=f"Expected string, received {received_type(value)}")
    elif not value.strip():
        check.field("description", message="String must contain at least 1 character(s)")
    elif len(value) > DESCRIPTION_MAX:
        check.field(
            "description", message=f"String must contain at most {DESCRIPTION_MAX} character(s)"
        )


def limits_field(check: Validation, payload: dict) -> dict:
    if "consumptionLimit" not in payload:
        return {}
    value = payload["consumptionLimit"]
    if not isinstance(value, dict):
        check.field("consumptionLimit", message=f"Expected object, received {received_type(value)}")
        return {}
    found = {}
    for name in ("usd", "diem", "vcu"):
        if name not in value:
            continue
        amount = value[name]
        if amount is None:
            found[name] = None
        elif isinstance(amount, bool) or not isinstance(amount, int | float):
            check.field(
                "consumptionLimit",
                name,
                message=f"Expected number, received {received_type(amount)}",
            )
        elif amount != amount or amount < 0:  # NaN or negative
            check.field(
                "consumptionLimit", name, message="Number must be greater than or equal to 0"
            )
        elif amount > LIMIT_MAX:
            check.field(
                "consumptionLimit",
                name,
                message=f"Number must be less than or equal to {LIMIT_MAX}",
            )
        else:
            found[name] = amount
    return found


def expires_field(check: Validation, payload: dict, now_ms: int, *, allow_null: bool):
    """The expiry in ms, None to clear it, or ... when the field was not sent."""
    if "expiresAt" not in payload:
        return ...
    value = payload["expiresAt"]
    if value is None:
        if allow_null:
            return None
        check.field("expiresAt", message="Expected string, received null")
        return ...
    if not isinstance(value, str):
        check.field("expiresAt", message=f"Expected string, received {received_type(value)}")
        return ...
    if value == "":
        return None
    try:
        if _DATE.match(value):
            when = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        elif _DATETIME_Z.match(value):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise ValueError
    except ValueError:
        check.field(
            "expiresAt", message="Invalid date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS(.sss)Z"
        )
        return ...
    expires_ms = to_ms(when)
    if expires_ms <= now_ms:
        check.field("expiresAt", message="Expiration date must be in the future")
        return ...
    return expires_ms


def timestamp_param(check: Validation, name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if len(value) > 40 or not _TIMESTAMP_Z.match(value):
        check.field(name, message='Invalid datetime: use ISO 8601 in UTC with a "Z" suffix')
        return None
    try:
        return to_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        check.field(name, message="Invalid datetime")
        return None


def day_param(check: Validation, name: str, value: str | None) -> date | None:
    if value is None:
        check.field(
            name,
            message=f"Required when {'endDate' if name == 'startDate' else 'startDate'} is given",
        )
        return None
    if not _DATE.match(value):
        check.field(name, message="Invalid date: use YYYY-MM-DD")
        return None
    try:
        year, month, day = (int(part) for part in value.split("-"))
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError
        return date(year, month, day)
    except ValueError:
        check.field(name, message="Invalid date")
        return None
