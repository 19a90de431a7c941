"""Writing audit records: the one module every audited change goes through.

    context = audit_context_from_request(request)
    with audited(context, action=AuditAction.KEY_DELETED, key=api_key) as record:
        client.api_keys.delete(api_key.id)

`audited` commits a `pending` record before the block runs (so a crash mid-call leaves a
trace that `reconcile_audit` resolves), then finishes it: `succeeded` when the block ends,
`failed` with the error text when it raises (the error is re-raised). Call it outside any
`transaction.atomic()` block: the pending record must be committed on its own before the
upstream call, and `audited` refuses (RuntimeError) when it cannot be.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.roles import role_of

logger = logging.getLogger(__name__)

USER_AGENT_MAX = 512
ERROR_MAX = 2000
# details key set by services (and reconcile_audit) when a key was created but its one-time
# secret never reached anyone: the key page flags such keys for rotation or deletion.
SECRET_LOST = "secret_lost"  # noqa: S105 (a details key, not a secret)
# details key holding why a record was left pending on purpose (see AuditRecord.keep_pending).
UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, and from where: copied onto every record written on their behalf."""

    user: Any  # the acting User, or None (a command run by nobody in particular)
    username: str
    role: str
    ip: str | None
    user_agent: str
    request_id: str


def _client_ip(request) -> str | None:
    # The same precedence django-axes uses (settings.AXES_IPWARE_META_PRECEDENCE_ORDER): behind
    # a proxy the client is the first address of X-Forwarded-For.
    order = getattr(settings, "AXES_IPWARE_META_PRECEDENCE_ORDER", ["REMOTE_ADDR"])
    for header in order:
        for candidate in request.META.get(header, "").split(","):
            candidate = candidate.strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    return None


def audit_context_from_request(request) -> AuditContext:
    user = request.user if request.user.is_authenticated else None
    return AuditContext(
        user=user,
        username=user.get_username() if user else "",
        role=(role_of(user) or "") if user else "",
        ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        request_id=getattr(request, "request_id", "") or uuid.uuid4().hex,
    )


def audit_context_for_command(user=None, *, command: str = "") -> AuditContext:
    """For management commands: the user they act as (or None), no address, the command's
    name as the user agent, and a fresh request id."""
    command = command or (sys.argv[1] if len(sys.argv) > 1 else "command")
    return AuditContext(
        user=user,
        username=user.get_username() if user else "",
        role=(role_of(user) or "") if user else "",
        ip=None,
        user_agent=f"manage.py {command}"[:USER_AGENT_MAX],
        request_id=uuid.uuid4().hex,
    )


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    status = getattr(error, "status", None)
    if status:
        text += f" (HTTP {status})"
    return text[:ERROR_MAX]


def _new_event(
    context: AuditContext,
    *,
    action: str,
    key,
    key_id: str | None,
    description: str,
    last6: str,
    changes: dict | None,
    details: dict | None,
) -> AuditEvent:
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}")
    event = AuditEvent(
        time=timezone.now(),
        actor=context.user,
        actor_username=context.username,
        actor_role=context.role,
        action=action,
        key_id=key_id or "",
        key_description=(description or "")[:128],
        key_last6=(last6 or "")[-6:],
        changes=changes or {},
        details=details or {},
        ip=context.ip,
        user_agent=context.user_agent[:USER_AGENT_MAX],
        request_id=context.request_id[:64],
    )
    if key is not None:
        event.note_key(key, save=False)
    return event


class AuditRecord:
    """What `audited` yields: the open record, and what a service may add to it."""

    def __init__(self, event: AuditEvent):
        self.event = event
        self._keep_pending: str | None = None

    @property
    def id(self) -> int:
        return self.event.pk

    def note_key(self, api_key) -> None:
        """Snapshot the key once known (after a create): id, description, last 6 characters
        — never the secret. Written at once, so a crash afterwards still names the key."""
        try:
            self.event.note_key(api_key)
        except Exception:
            # The upstream change has happened; finishing will try to write it again.
            logger.exception("Could not write the key snapshot of audit record %s", self.id)

    def add_details(self, **details) -> None:
        """Add facts to the record's details (written when it is finished)."""
        self.event.add_details(**details)

    def keep_pending(self, reason: str) -> None:
        """Leave the record pending when the block ends (or raises): the outcome is unknown
        (e.g. a create timed out after sending and the key could not be looked up), and
        `reconcile_audit` will resolve it against the upstream key list."""
        self._keep_pending = reason


def _finish(event: AuditEvent, outcome: str, error: str = "") -> None:
    event.outcome = outcome
    event.error = error
    event.completed_at = timezone.now()
    with transaction.atomic(durable=True):
        event.save()


@contextmanager
def audited(
    context: AuditContext,
    *,
    action: str,
    key=None,
    key_id: str | None = None,
    description: str = "",
    last6: str = "",
    changes: dict | None = None,
    details: dict | None = None,
) -> Iterator[AuditRecord]:
    """Record an audited action around the block that performs it (see the module docstring).

    `key` (an APIKey) fills the key snapshot; without one, give `key_id`, `description` and
    `last6` as known. `changes` is {field: [before, after]}. Never pass a secret.
    """
    event = _new_event(
        context,
        action=action,
        key=key,
        key_id=key_id,
        description=description,
        last6=last6,
        changes=changes,
        details=details,
    )
    # durable: refuses to run inside an atomic block, where "committed before the call" would
    # silently become "committed with the caller's transaction, or never".
    with transaction.atomic(durable=True):
        event.save()
    record = AuditRecord(event)
    try:
        yield record
    except Exception as error:
        try:
            if record._keep_pending is not None:
                event.add_details(**{UNRESOLVED: record._keep_pending})
                event.error = _error_text(error)
                with transaction.atomic(durable=True):
                    event.save()
            else:
                _finish(event, AuditOutcome.FAILED, _error_text(error))
        except Exception:
            logger.exception("Could not finish audit record %s; it stays pending", event.pk)
        raise
    except BaseException:
        # Interrupted (KeyboardInterrupt, a worker being killed): the upstream call may or may
        # not have happened, so the record stays pending for reconcile_audit.
        raise
    else:
        # A failure to write the outcome must not turn a done change (and a secret about to
        # be shown once) into an error page: the record stays pending and is reconciled.
        try:
            if record._keep_pending is not None:
                event.add_details(**{UNRESOLVED: record._keep_pending})
                with transaction.atomic(durable=True):
                    event.save()
            else:
                _finish(event, AuditOutcome.SUCCEEDED)
        except Exception:
            logger.exception("Could not finish audit record %s; it stays pending", event.pk)


def audit_log(
    context: AuditContext,
    *,
    action: str,
    key=None,
    key_id: str | None = None,
    description: str = "",
    last6: str = "",
    changes: dict | None = None,
    details: dict | None = None,
    outcome: str = AuditOutcome.SUCCEEDED,
    error: str = "",
) -> AuditEvent:
    """Write a finished record in one go (exports, local bookkeeping). It joins the caller's
    transaction if there is one."""
    if outcome not in (AuditOutcome.SUCCEEDED, AuditOutcome.FAILED):
        raise ValueError(f"audit_log writes finished records, not {outcome!r}")
    event = _new_event(
        context,
        action=action,
        key=key,
        key_id=key_id,
        description=description,
        last6=last6,
        changes=changes,
        details=details,
    )
    event.outcome = outcome
    event.error = error[:ERROR_MAX]
    event.completed_at = event.time
    event.save()
    return event


# --- export ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "time",
    "actor",
    "role",
    "action",
    "outcome",
    "key_id",
    "key_description",
    "key_last6",
    "changes",
    "details",
    "error",
    "ip",
    "user_agent",
    "request_id",
    "completed_at",
    "sequence",
    "hash",
)


class _Line:
    """A file-like sink for csv.writer that hands back each line as it is written."""

    def write(self, text: str) -> str:
        return text


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_row(event: AuditEvent) -> list[str]:
    return [
        _cell(value)
        for value in (
            event.pk,
            event.time.isoformat(),
            event.actor_username,
            event.actor_role,
            event.action,
            event.outcome,
            event.key_id,
            event.key_description,
            event.key_last6,
            json.dumps(event.changes, sort_keys=True) if event.changes else "",
            json.dumps(event.details, sort_keys=True) if event.details else "",
            event.error,
            event.ip,
            event.user_agent,
            event.request_id,
            event.completed_at.isoformat() if event.completed_at else "",
            event.sequence,
            event.hash,
        )
    ]


def audit_export_csv(context: AuditContext, *, filters) -> Iterator[str]:
    """Record the export (with its filters), then return the matching records as CSV lines,
    newest first, read in chunks as the caller consumes them. The export lists the records
    as they stood when it began."""
    from accounts.selectors.audit import audit_events_iter

    as_of = timezone.now()
    audit_log(context, action=AuditAction.AUDIT_EXPORTED, details={"filters": filters.as_dict()})

    def lines() -> Iterator[str]:
        writer = csv.writer(_Line())
        yield writer.writerow(CSV_COLUMNS)
        for event in audit_events_iter(filters, until=as_of):
            yield writer.writerow(_csv_row(event))

    return lines()
