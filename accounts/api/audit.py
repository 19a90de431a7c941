"""/api/v1/audit: the audit log as the Audit page filters it, one record, and the chain's head
(what an auditor compares an exported copy with)."""

from datetime import date, datetime
from typing import Any, Literal

from django.http import QueryDict
from ninja import Query, Router, Schema

from accounts.api.auth import require
from accounts.api.errors import ApiError, check_form
from accounts.api.keys import ERRORS
from accounts.forms import AuditFilterForm
from accounts.models import AuditChainHead, AuditEvent
from accounts.presentation.audit import audit_sentence
from accounts.roles import Ability
from accounts.selectors.audit import audit_page

router = Router(tags=["audit"])

NO_SUCH_RECORD = "There is no audit record with this id."


class AuditQuery(Schema):
    actor: str | None = None
    action: list[str] | None = None
    key: str | None = None
    outcome: Literal["succeeded", "failed", "pending"] | None = None
    date_from: date | None = None
    date_to: date | None = None
    before: str | None = None


class Record(Schema):
    id: int
    sequence: int | None
    time: datetime
    actor: str
    role: str
    action: str
    sentence: str
    key_id: str
    key_description: str
    key_last6: str
    changes: dict[str, Any]
    details: dict[str, Any]
    outcome: str
    error: str
    ip: str | None
    request_id: str
    previous_hash: str
    hash: str


class Records(Schema):
    records: list[Record]
    next_cursor: str | None


class Head(Schema):
    sequence: int
    hash: str


@router.get("/audit", response={200: Records, **ERRORS})
def audit_list(request, query: Query[AuditQuery]):
    """Newest first, 50 at a time; pass `next_cursor` back as `before` for older ones."""
    require(request, Ability.VIEW_AUDIT)
    data = QueryDict(mutable=True)
    for name, value in query.dict(exclude_none=True).items():
        if isinstance(value, list):
            data.setlist(name, value)
        else:
            data[name] = value.isoformat() if isinstance(value, date) else value
    form = AuditFilterForm(data)
    check_form(form)
    page = audit_page(form.filters(), before=form.cleaned_data["before"])
    return {
        "records": [record_out(event) for event in page.events],
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
    }


@router.get("/audit/head", response={200: Head, **ERRORS})
def audit_head(request):
    """The chain's last sequence number and hash."""
    require(request, Ability.VIEW_AUDIT)
    head = AuditChainHead.objects.filter(pk=1).first() or AuditChainHead()
    return {"sequence": head.sequence, "hash": head.hash}


@router.get("/audit/{record_id}", response={200: Record, **ERRORS})
def audit_get(request, record_id: int):
    require(request, Ability.VIEW_AUDIT)
    event = AuditEvent.objects.filter(pk=record_id).first()
    if event is None:
        raise ApiError(404, "not_found", NO_SUCH_RECORD)
    return record_out(event)


def record_out(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "sequence": event.sequence,
        "time": event.time,
        "actor": event.actor_username,
        "role": event.actor_role,
        "action": event.action,
        "sentence": audit_sentence(event),
        "key_id": event.key_id,
        "key_description": event.key_description,
        "key_last6": event.key_last6,
        "changes": event.changes,
        "details": event.details,
        "outcome": event.outcome,
        "error": event.error,
        "ip": event.ip,
        "request_id": event.request_id,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }
