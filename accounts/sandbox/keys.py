"""/api_keys: list, get, create, update and delete, on the sandbox's key records."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from accounts.sandbox import seed as demo
from accounts.sandbox.clock import iso_ms, midnight_ms, month_start_ms
from accounts.sandbox.digest import secret_digest
from accounts.sandbox.responses import ApiError, money_text
from accounts.sandbox.rules import (
    CREATION_RATE_LIMITED,
    CREATIONS_PER_MINUTE,
    INVALID_PARAMETERS,
    KEY_NOT_FOUND,
    KEY_TYPES,
    LIMIT_PERIODS,
    MAX_ACTIVE_KEYS,
    MODEL_PRIVACIES,
    TOO_MANY_KEYS,
)
from accounts.sandbox.validation import (
    Validation,
    description_field,
    enum_field,
    expires_field,
    json_object,
    limits_field,
    received_type,
    unknown_keys,
)


@dataclass
class KeyRecord:
    """One simulated key. Its secret is not kept: only its SHA-256 (to recognise a Bearer
    token) and its last six characters (`last6Chars`); POST /api_keys hands it out once."""

    id: str
    secret_sha256: str
    last6: str
    api_key_type: str
    description: str
    created_ms: int
    expires_ms: int | None
    last_used_ms: int | None
    usd: float | None
    diem: float | None
    vcu: float | None
    limit_period: str
    model_privacy: str

    @property
    def has_limits(self) -> bool:
        return self.usd is not None or self.diem is not None or self.vcu is not None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and self.expires_ms <= now_ms

    def to_state(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, item: dict) -> KeyRecord:
        """A saved record; one saved before secrets were hashed (a plain `secret`, state
        version 1) is hashed here, so its secret still authenticates and is never saved again."""
        item = dict(item)
        if "secret" in item:
            secret = item.pop("secret")
            item["secret_sha256"] = secret_digest(secret)
            item["last6"] = secret[-6:]
        return cls(**item)


class KeyRoutes:
    """The /api_keys handlers, mixed into Sandbox (they run under its lock)."""

    # --- ----------------------------------------------------------------------------
    def _key_json(self, record: KeyRecord, now_ms: int, *, usage: bool = True) -> dict:
        limits = {"usd": record.usd, "diem": record.diem}
        if record.vcu is not None:
            limits["vcu"] = record.vcu
        data = {
            "apiKeyType": record.api_key_type,
            "consumptionLimits": limits,
            "limitPeriod": record.limit_period,
            "modelPrivacy": record.model_privacy,
            "createdAt": iso_ms(record.created_ms),
            "description": record.description,
            "expiresAt": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "id": record.id,
            "last6Chars": record.last6,
            "lastUsedAt": None if record.last_used_ms is None else iso_ms(record.last_used_ms),
        }
        if usage:
            week_usd, week_diem = self.ledger.sums(record.id, now_ms - 7 * demo.DAY_MS, now_ms + 1)
            data["usage"] = {
                "trailingSevenDays": {
                    "usd": money_text(week_usd),
                    "vcu": money_text(0.0),
                    "diem": money_text(week_diem),
                }
            }
            if record.has_limits:
                period_usd, period_diem = self.ledger.sums(
                    record.id, self._period_start(record, now_ms), now_ms + 1
                )
                data["currentPeriodUsage"] = {
                    "usd": money_text(period_usd),
                    "diem": money_text(period_diem),
                }
        return data

    @staticmethod
    def _period_start(record: KeyRecord, now_ms: int) -> int:
        if record.limit_period == "EPOCH":
            return midnight_ms(now_ms)
        if record.limit_period == "MONTH":
            return month_start_ms(now_ms)
        return 0

    def _list_keys(self, *, now_ms, **_):
        active = [record for record in self._keys.values() if not record.expired(now_ms)]
        active.sort(key=lambda record: record.created_ms, reverse=True)
        return 200, {"data": [self._key_json(r, now_ms) for r in active], "object": "list"}, {}

    def _get_key(self, *, id, now_ms, **_):  # noqa: A002 - the path parameter's name
        record = self._keys.get(id)
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        return 200, {"data": self._key_json(record, now_ms)}, {}

    def _create_key(self, *, body, now_ms, **_):
        self._prune_creations(now_ms)
        if len(self._creations) >= CREATIONS_PER_MINUTE:
            reset_ms = self._creations[0] + 60_000
            raise ApiError(
                429,
                CREATION_RATE_LIMITED,
                headers={
                    "x-ratelimit-limit-requests": str(CREATIONS_PER_MINUTE),
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": str(-(-reset_ms // 1000)),
                },
            )
        self._creations.append(now_ms)
        payload = json_object(body)
        check = Validation()
        unknown_keys(
            check,
            payload,
            {
                "apiKeyType",
                "consumptionLimit",
                "limitPeriod",
                "modelPrivacy",
                "description",
                "expiresAt",
            },
        )
        if "apiKeyType" not in payload:
            check.field("apiKeyType", message="Required")
        else:
            enum_field(check, payload, "apiKeyType", KEY_TYPES)
        if "description" not in payload:
            check.field("description", message="Required")
        else:
            description_field(check, payload)
        limits = limits_field(check, payload)
        enum_field(check, payload, "limitPeriod", LIMIT_PERIODS)
        enum_field(check, payload, "modelPrivacy", MODEL_PRIVACIES)
        expires_ms = expires_field(check, payload, now_ms, allow_null=False)
        check.raise_if_failed()
        active = sum(1 for record in self._keys.values() if not record.expired(now_ms))
        if active >= MAX_ACTIVE_KEYS:
            raise ApiError(400, TOO_MANY_KEYS)
        api_key_type = payload["apiKeyType"]
        secret = f"VENICE-{api_key_type}-KEY-{secrets.token_urlsafe(32)[:42]}"
        record = KeyRecord(
            id=_new_id(),
            secret_sha256=secret_digest(secret),
            last6=secret[-6:],
            api_key_type=api_key_type,
            description=payload["description"],
            created_ms=now_ms,
            expires_ms=None if expires_ms is ... else expires_ms,
            last_used_ms=None,
            usd=limits.get("usd"),
            diem=limits.get("diem"),
            vcu=limits.get("vcu"),
            limit_period=payload.get("limitPeriod", "EPOCH"),
            model_privacy=payload.get("modelPrivacy", "ALL"),
        )
        self._add_key(record)
        self._changed()
        limits_json = {"usd": record.usd, "diem": record.diem}
        if record.vcu is not None:
            limits_json["vcu"] = record.vcu
        data = {
            "apiKey": secret,  # the only time it is seen: the record keeps just its hash
            "apiKeyType": record.api_key_type,
            "consumptionLimit": limits_json,
            "limitPeriod": record.limit_period,
            "modelPrivacy": record.model_privacy,
            "description": record.description,
            "expiresAt": None if record.expires_ms is None else iso_ms(record.expires_ms),
            "id": record.id,
        }
        return 200, {"data": data, "success": True}, {}

    def _update_key(self, *, body, now_ms, **_):
        payload = json_object(body)
        check = Validation()
        unknown_keys(
            check,
            payload,
            {"id", "consumptionLimit", "limitPeriod", "modelPrivacy", "description", "expiresAt"},
        )
        if "id" not in payload:
            check.field("id", message="Required")
        elif not isinstance(payload["id"], str):
            check.field("id", message=f"Expected string, received {received_type(payload['id'])}")
        if "description" in payload:
            description_field(check, payload)
        limits = limits_field(check, payload)
        enum_field(check, payload, "limitPeriod", LIMIT_PERIODS)
        enum_field(check, payload, "modelPrivacy", MODEL_PRIVACIES)
        expires_ms = expires_field(check, payload, now_ms, allow_null=True)
        check.raise_if_failed()
        record = self._keys.get(payload["id"])
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        if "description" in payload:
            record.description = payload["description"]
            self._key_names[record.id] = record.description
        for name, value in limits.items():
            setattr(record, name, value)
        if "limitPeriod" in payload:
            record.limit_period = payload["limitPeriod"]
        if "modelPrivacy" in payload:
            record.model_privacy = payload["modelPrivacy"]
        if expires_ms is not ...:
            record.expires_ms = expires_ms
        self._changed()
        return 200, {"data": self._key_json(record, now_ms, usage=False), "success": True}, {}

    def _delete_key(self, *, query, now_ms, **_):
        key_id = (query.get("id") or [""])[0]
        if not key_id:
            raise ApiError(
                400,
                INVALID_PARAMETERS,
                details={
                    "_errors": [],
                    "id": {"_errors": ["Required"]},
                },
            )
        record = self._keys.get(key_id)
        if record is None:
            raise ApiError(404, KEY_NOT_FOUND)
        self._drop_key(record)
        self._changed()
        return 200, {"success": True}, {}


def _new_id() -> str:
    return str(uuid.uuid4())
