"""`client.api_keys`: list, get, create, update, delete keys; the rate limits and their log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from accounts.venice import parsing
from accounts.venice.areas import raises_in
from accounts.venice.errors import APIKeyError, NotFoundError
from accounts.venice.transport import Transport, parse_body, parse_reset
from accounts.venice.types import (
    APIKey,
    APIKeyType,
    ConsumptionLimits,
    LimitPeriod,
    ModelPrivacy,
    RateLimitLog,
    RateLimits,
)


class _Unset:
    def __repr__(self):
        return "UNSET"

    def __reduce__(self):
        return "UNSET"


UNSET = _Unset()  # "leave this field as it is" in update(); None means "clear it"


def _type_from_permissions(permissions: list[str]) -> APIKeyType:
    """The original SDK's `permissions` list, which Venice does not take: a key is ADMIN or
    INFERENCE, nothing finer. `["admin"]` (in any case) asks for an ADMIN key; anything else
    (`["read", "write"]`, `["inference"]`, `[]`) for an INFERENCE key."""
    if any(str(name).lower() == "admin" for name in permissions):
        return APIKeyType.ADMIN
    return APIKeyType.INFERENCE


TYPE_IS_FIXED = (
    "Venice cannot change a key's type (its permissions) after creation: PATCH /api_keys "
    "takes no apiKeyType. Create a key of the other type, or rotate into one."
)


BUDGET_HEADERS = tuple(
    f"x-ratelimit-{part}-{unit}"
    for unit in ("requests", "tokens")
    for part in ("limit", "remaining", "reset")
)


def _request_budget(headers: dict[str, str]) -> dict[str, int]:
    """{"requests": used, "requests_remaining": n, "requests_limit": n} (and "tokens..." alike)
    from Venice's x-ratelimit-* headers; a unit whose headers are missing or not whole
    numbers is left out rather than guessed."""
    budget: dict[str, int] = {}
    for unit in ("requests", "tokens"):
        limit = headers.get(f"x-ratelimit-limit-{unit}", "").strip()
        remaining = headers.get(f"x-ratelimit-remaining-{unit}", "").strip()
        if limit.isdigit() and remaining.isdigit():
            budget[unit] = max(int(limit) - int(remaining), 0)
            budget[f"{unit}_remaining"] = int(remaining)
            budget[f"{unit}_limit"] = int(limit)
    return budget


class APIKeysAPI:
    """Venice's `/api_keys` paths. Every failure raised here is also an `APIKeyError`.

    Where the original SDK guessed, this follows the real API: `update` uses PATCH (Venice
    supports it), and the rate limits are the per-minute/per-day values Venice reports, not
    hourly estimates.
    """

    def __init__(self, transport: Transport):
        self._transport = transport

    def __repr__(self) -> str:
        return f"<APIKeysAPI {self._transport.base_url}>"

    @raises_in(APIKeyError)
    def list(self, *, fresh: bool = False) -> list[APIKey]:
        """Every active key (cached for VENICE_CACHE_TTL seconds). `fresh` skips the cache:
        for a decision on whether a key exists, which a cached list may predate."""
        return self._transport.get("/api_keys", parsing.parse_key_list, cache=not fresh)

    @raises_in(APIKeyError)
    def get(self, key_id: str, *, fresh: bool = False) -> APIKey | None:
        """One key, or None when Venice has no key with that id (404). `fresh` skips the
        cache: for a key about to be changed, whose cached copy may predate a change made
        outside this portal."""
        if not key_id or key_id in ("rate_limits",):
            return None  # not a key id; /api_keys/rate_limits is another endpoint
        try:
            return self._transport.get(
                f"/api_keys/{quote(key_id, safe='')}", parsing.parse_key_detail, cache=not fresh
            )
        except NotFoundError:
            return None

    @raises_in(APIKeyError)
    def create(
        self,
        description: str | None = None,
        *,
        api_key_type: APIKeyType | str = APIKeyType.INFERENCE,
        consumption_limits: ConsumptionLimits | None = None,
        limit_period: LimitPeriod | None = None,
        model_privacy: ModelPrivacy | None = None,
        expires_at: datetime | date | None = None,
        name: str | None = None,
        permissions: list[str] | None = None,
        expires_in_days: int | None = None,
    ) -> APIKey:
        """Create a key; the returned key carries its one-time `secret` (never cached).

        The original SDK's call `create(name, permissions=None, expires_in_days=None)` works
        as written: `name` is the SDK's word for the description; `permissions` is not sent
        (Venice has none) but `["admin"]` makes an ADMIN key and any other list an INFERENCE
        one; `expires_in_days`, which the SDK ignored, is sent as `expiresAt` that many days
        from now (Venice supports expiry).
        `expires_at` is a date (`YYYY-MM-DD`) or an aware datetime (sent as UTC with
        milliseconds); None means the key does not expire. The answer has no `createdAt`, so
        `created_at` is None unless Venice sends one, and `last6` comes from the secret.

        POST is never retried. If the call fails in a way that leaves its effect unknown (a
        timeout after the request was sent, a dropped connection, a 5xx), the
        `UpstreamUnavailableError` has `request_sent=True`: the key may exist, so reconcile
        (look for it in `list()`) before creating another. `request_sent=False` means it
        surely does not. An `InvalidResponseError` here means Venice created the key but
        its answer (and so the secret) could not be read: the key exists and is unusable.
        """
        if name is not None and description is not None and name != description:
            raise ValueError("give description or name (the same thing), not both")
        text = description if description is not None else name
        if text is None:
            raise ValueError("create() needs a description (or the SDK's name=)")
        if expires_in_days is not None:
            if expires_at is not None:
                raise ValueError("give expires_at or expires_in_days, not both")
            now = datetime.fromtimestamp(self._transport.clock(), UTC)
            expires_at = now + timedelta(days=expires_in_days)
        key_type = APIKeyType(api_key_type)
        if permissions is not None:
            from_permissions = _type_from_permissions(permissions)
            if key_type != APIKeyType.INFERENCE and key_type != from_permissions:
                raise ValueError(f"api_key_type={key_type} contradicts permissions={permissions}")
            key_type = from_permissions
        body: dict[str, Any] = {"apiKeyType": key_type.value, "description": text}
        if consumption_limits is not None:
            body["consumptionLimit"] = parsing.format_limits(consumption_limits)
        if limit_period is not None:
            body["limitPeriod"] = LimitPeriod(limit_period).value
        if model_privacy is not None:
            body["modelPrivacy"] = ModelPrivacy(model_privacy).value
        if expires_at is not None:
            body["expiresAt"] = parsing.format_expires_at(expires_at)
        data, status = self._transport.mutate("POST", "/api_keys", json_body=body)
        return self._parse(
            lambda raw: parsing.parse_created_key(raw, sent_description=text),
            data,
            "POST /api_keys",
            status,
        )

    @raises_in(APIKeyError)
    def update(
        self,
        key_id: str,
        *,
        description: str | _Unset = UNSET,
        expires_at: datetime | date | None | _Unset = UNSET,
        consumption_limits: ConsumptionLimits | _Unset = UNSET,
        limit_period: LimitPeriod | _Unset = UNSET,
        model_privacy: ModelPrivacy | _Unset = UNSET,
        name: str | _Unset = UNSET,
        permissions: list[str] | None = None,
    ) -> APIKey:
        """Change a key with PATCH (the original SDK said "not supported"; Venice supports it).

        Only the fields given are sent. `expires_at=None` removes the expiry;
        `ConsumptionLimits()` (both None) removes the caps. A 404 raises `NotFoundError`.
        Retried like a GET on transient failures: sending the same values twice is harmless.

        The SDK's `update(key_id, name=None, permissions=None)` works: `name` is the
        description. `permissions` would change the key's type, which Venice cannot do: any
        list raises `APIKeyError` before anything is sent (the SDK's own example catches it).
        """
        if not key_id:
            raise ValueError("update() needs a key id")
        if permissions is not None:
            raise APIKeyError(TYPE_IS_FIXED)
        if not isinstance(name, _Unset):
            if not isinstance(description, _Unset) and description != name:
                raise ValueError("give description or name (the same thing), not both")
            description = name
        body: dict[str, Any] = {"id": key_id}
        if not isinstance(description, _Unset):
            body["description"] = description
        if not isinstance(expires_at, _Unset):
            # None (JSON null) removes the expiry, as the spec allows.
            body["expiresAt"] = (
                None if expires_at is None else parsing.format_expires_at(expires_at)
            )
        if not isinstance(consumption_limits, _Unset):
            body["consumptionLimit"] = parsing.format_limits(consumption_limits)
        if not isinstance(limit_period, _Unset):
            body["limitPeriod"] = LimitPeriod(limit_period).value
        if not isinstance(model_privacy, _Unset):
            body["modelPrivacy"] = ModelPrivacy(model_privacy).value
        data, status = self._transport.mutate("PATCH", "/api_keys", json_body=body)
        return self._parse(parsing.parse_key_detail, data, "PATCH /api_keys", status)

    @raises_in(APIKeyError)
    def delete(self, key_id: str) -> bool:
        """Delete a key: True when Venice deleted it, False when it had no such key.

        Retried on transient failures; if an earlier attempt may have gone through and the
        retry finds no key, that is the delete having worked, and the answer is True.
        """
        if not key_id:
            raise ValueError("delete() needs a key id")
        try:
            data, status = self._transport.mutate("DELETE", "/api_keys", params={"id": key_id})
        except NotFoundError as error:
            return bool(getattr(error, "after_ambiguous_attempt", False))
        return self._parse(parsing.parse_delete, data, "DELETE /api_keys", status)

    @raises_in(APIKeyError)
    def get_rate_limits(self) -> RateLimits:
        """The calling key's tier, balances and per-model limits (per minute and per day, as
        Venice reports them; the original SDK estimated hourly limits instead), with the
        request budget Venice's rate-limit headers reported on the answer (`current_usage`,
        `reset_time`)."""
        return self._transport.get(
            "/api_keys/rate_limits", self._parse_rate_limits, headers=BUDGET_HEADERS
        )

    def _parse_rate_limits(self, body: Any, headers: dict[str, str]) -> RateLimits:
        reset = headers.get("x-ratelimit-reset-requests")
        return replace(
            parsing.parse_rate_limits(body),
            current_usage=_request_budget(headers),
            reset_time=parse_reset(reset, self._transport.clock()),
        )

    @raises_in(APIKeyError)
    def get_rate_limits_log(self, limit: int | None = None) -> list[RateLimitLog]:
        """The account's recent rate-limit violations (Venice keeps the last 50), newest first;
        `limit` keeps only the first `limit` of them."""
        entries = self._transport.get("/api_keys/rate_limits/log", parsing.parse_rate_limit_log)
        entries = sorted(entries, key=lambda entry: entry.timestamp, reverse=True)
        return entries if limit is None else entries[: max(limit, 0)]

    @staticmethod
    def _parse(parser, data, endpoint, status):
        return parse_body(parser, data, endpoint, status)
