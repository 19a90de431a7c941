"""What the API accepts and answers (django-ninja schemas: pydantic, in the OpenAPI document).

Money is a decimal string ("25.00"), as Venice sends it: never a float. Times are ISO 8601
in UTC. Enumerations are Venice's own words (INFERENCE, MONTH, PRIVATE_ONLY)."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from ninja import Field, Schema

from accounts.forms.keys import DESCRIPTION_MAX_LENGTH, LIMIT_DECIMAL_PLACES, LIMIT_MAX

KeyType = Literal["INFERENCE", "ADMIN"]
Period = Literal["EPOCH", "MONTH", "LIFETIME"]
Privacy = Literal["ALL", "PRIVATE_TEXT", "PRIVATE_ONLY"]
Grace = Literal["now", "1h", "24h", "7d", "custom"]
QuietPeriod = Literal["15m", "1h", "4h", "24h"]


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}


class Error(Schema):
    error: ErrorBody


class Limits(Schema):
    usd: Decimal | None = Field(None, description="USD per limit period; null: no limit")
    diem: Decimal | None = Field(None, description="DIEM per limit period; null: no limit")


class Usage(Schema):
    usd: Decimal
    diem: Decimal


class Key(Schema):
    id: str
    description: str
    type: KeyType
    last6: str
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    limits: Limits
    limit_period: Period
    model_privacy: Privacy
    current_period_usage: Usage | None = None
    trailing_seven_days: Usage | None = None
    team: str | None = Field(None, description="Its team's short name (the portal's, not Venice's)")
    owner: str | None = Field(None, description="Its owner: a member's username, or a contact")


class KeyList(Schema):
    keys: list[Key]
    total: int = Field(description="Keys in the account, before filtering")


def _limit(currency: str):
    places = LIMIT_DECIMAL_PLACES[f"{currency}_limit"]
    return Field(
        None,
        ge=0,
        le=LIMIT_MAX,
        decimal_places=places,
        description=f"{currency.upper()} per limit period, up to {places} decimals; null: none",
    )


class NewKey(Schema):
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX_LENGTH)
    type: KeyType = "INFERENCE"
    usd_limit: Decimal | None = _limit("usd")
    diem_limit: Decimal | None = _limit("diem")
    limit_period: Period = "MONTH"
    model_privacy: Privacy = "ALL"
    expires_at: datetime | None = Field(
        None, description="When Venice stops the key; left out: in 90 days; null: never"
    )
    reason: str = Field(
        "", description="When a policy holds the change for approval: why, for the approver"
    )
    team: str | None = Field(
        None, description="A team's short name (a scoped Key manager must name one of theirs)"
    )
    owner: str | None = Field(None, description="A member's username")
    owner_contact: str = Field("", max_length=120, description="Or a contact, not both")


class CreatedKey(Key):
    secret: str | None = Field(
        description="The key's secret, in this response only (null when it was already shown)"
    )


class KeyChange(Schema):
    description: str | None = Field(None, min_length=1, max_length=DESCRIPTION_MAX_LENGTH)
    usd_limit: Decimal | None = _limit("usd")
    diem_limit: Decimal | None = _limit("diem")
    limit_period: Period | None = None
    model_privacy: Privacy | None = None
    expires_at: datetime | None = None
    reason: str = ""


class Held(Schema):
    """A change a policy holds for a second Administrator's approval."""

    change_request: int
    state: str
    message: str


class RotationRequest(Schema):
    grace: Grace = "24h"
    grace_ends_at: datetime | None = Field(None, description="With grace=custom")
    new_expiry: Literal["lifetime", "never", "custom"] | None = Field(
        None, description="Default: the old key's lifetime again (or never, if it had none)"
    )
    new_expires_at: datetime | None = Field(None, description="With new_expiry=custom")
    finish_when_quiet: bool = False
    quiet_period: QuietPeriod = "1h"
    reason: str = ""


class Rotation(Schema):
    id: int
    state: str
    old_key_id: str
    new_key_id: str
    grace: str
    retire_at: datetime | None
    finish_when_quiet: bool
    last_error: str
    failed_step: str
    created_at: datetime
    finished_at: datetime | None


class RotationResult(Rotation):
    secret: str | None = Field(
        None, description="The new key's secret, when this call created it (only here)"
    )
    error: str | None = None


class AbortRequest(Schema):
    delete_replacement: bool
