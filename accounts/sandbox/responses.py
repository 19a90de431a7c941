"""What the sandbox answers with, what it records, and the small formats its JSON uses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.sandbox.faults import Fault


@dataclass(frozen=True)
class SandboxResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class RecordedRequest:
    """What the sandbox received (the Authorization header removed)."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Exchange:
    """One request and the answer the sandbox gave, kept for the conformance check."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    response: SandboxResponse
    injected: str | None = None  # "status" or "malformed" when a fault made the answer


@dataclass
class Outcome:
    """What a transport should do: wait `delay` seconds, then answer `response` or fail with
    `error` ("connect_timeout", "read_timeout" or "drop")."""

    response: SandboxResponse | None
    delay: float = 0.0
    error: str | None = None
    fault: Fault | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


def json_response(status: int, payload, headers: Mapping[str, str] | None = None):
    merged = {"Content-Type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return SandboxResponse(status, merged, json.dumps(payload, separators=(",", ":")).encode())


def truncated(response: SandboxResponse) -> SandboxResponse:
    """The same answer cut off half way, as when a proxy truncates the body."""
    body = response.body[: max(1, len(response.body) // 2)]
    if body == response.body or not body.strip():
        body = b'{"data": ['
    headers = dict(response.headers)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return SandboxResponse(response.status, headers, body)


def copy_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: list(values) for name, values in (query or {}).items()}


def money_text(value: float) -> str:
    return f"{value:.4f}"


def rounded(value: float) -> float:
    return round(value, 6)


class RecentList(list):
    """A list that keeps only its newest `limit` items, so a long-running demo sandbox does
    not grow without bound. Otherwise a plain list: tests index, compare and clear it."""

    def __init__(self, limit: int = 10_000):
        super().__init__()
        self.limit = limit

    def append(self, item) -> None:
        super().append(item)
        if len(self) > self.limit:
            del self[: len(self) - self.limit]
