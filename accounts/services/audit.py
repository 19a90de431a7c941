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

import getpass
import ipaddress
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.faults import fault_point
from accounts.models import (
    AppendOnlyError,
    AuditAction,
    AuditEvent,
    AuditOutcome,
    without_zone_id,
)
from accounts.roles import role_of

logger = logging.getLogger(__name__)

USER_AGENT_MAX = 512
ERROR_MAX = 2000
# details key set by services (and reconcile_audit) when a key was created but its one-time
# secret never reached anyone: the key page flags such keys for rotation or deletion.
SECRET_LOST = "secret_lost"  # noqa: S105 (a details key, not a secret)
# details key holding why a record was left pending on purpose (see AuditRecord.keep_pending).
UNRESOLVED = "unresolved"
# The actor of changes made by no person the portal knows (migrations, the shell).
SYSTEM_ACTOR = "system"
# details key naming the API token a change was made with.
VIA_TOKEN = "via_token"  # noqa: S105 - a details key, not a secret


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, and from where: copied onto every record written on their behalf."""

    user: Any  # the acting User, or None (a command run by nobody in particular)
    username: str
    role: str
    ip: str | None
    user_agent: str
    request_id: str
    # The API token the user acts through ({"name", "prefix"}), named on every record.
    token: dict | None = None


def client_ip(request) -> str | None:
    # The same precedence django-axes uses (settings.AXES_IPWARE_META_PRECEDENCE_ORDER): behind
    # a proxy the client is the first address of X-Forwarded-For. A link-local address may
    # carry a zone id ("fe80::1%eth0"), which is dropped: the record cannot store it.
    order = getattr(settings, "AXES_IPWARE_META_PRECEDENCE_ORDER", ["REMOTE_ADDR"])
    for header in order:
        for candidate in request.META.get(header, "").split(","):
            candidate = without_zone_id(candidate.strip())
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    return None


def member_details(member) -> dict:
    """Who an access record is about, for its details (records about members name no key)."""
    return {"member": member.get_username(), "member_id": member.pk}


def audit_context_from_request(request) -> AuditContext:
    user = request.user if request.user.is_authenticated else None
    return AuditContext(
        user=user,
        username=user.get_username() if user else "",
        role=(role_of(user) or "") if user else "",
        ip=client_ip(request),
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


def audit_context_for_system(*, command: str = "") -> AuditContext:
    """For changes no request or named command made (a migration, the shell, a script): the
    actor "system", and the operating-system user where it can be told."""
    command = command or " ".join(sys.argv[1:2]) or "python"
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = "unknown"
    return AuditContext(
        user=None,
        username=SYSTEM_ACTOR,
        role="",
        ip=None,
        user_agent=f"manage.py {command} (OS user {os_user})"[:USER_AGENT_MAX],
        request_id=uuid.uuid4().hex,
    )


# The request being served in this thread (accounts.middleware.AuditActorMiddleware), so that
# records written without one in hand (role changes seen by a signal) still name their actor.
_current_request: ContextVar = ContextVar("audit_current_request", default=None)


@contextmanager
def acting_request(request) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def acting_context() -> AuditContext:
    """Who is acting now: the request's user, else the system."""
    request = _current_request.get()
    if request is not None:
        return audit_context_from_request(request)
    return audit_context_for_system()


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
        details={**(details or {}), **({VIA_TOKEN: context.token} if context.token else {})},
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
    fault_point(f"audit.{action}.pending")
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
        fault_point(f"audit.{action}.finishing")
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


# --- reconciliation -------------------------------------------------------------------------

RECONCILE_WINDOW = timedelta(minutes=10)
RECONCILE_CREATED_FOUND = (
    "Found at Venice after the portal lost track of this create; its one-time secret was "
    "probably never shown, so rotate or delete the key."
)
RECONCILE_CREATED_GONE = (
    "The create reached Venice (its key id was recorded) but the key is no longer there."
)
RECONCILE_CREATED_MISSING = "No matching key was created at Venice around that time."
RECONCILE_CREATED_AMBIGUOUS = "Several keys at Venice could be this one; resolve it by hand."
RECONCILE_DELETED_GONE = "The key is gone from Venice."
RECONCILE_DELETED_PRESENT = "The key still exists at Venice: the delete did not happen."
RECONCILE_UPDATED_APPLIED = "Venice has the new values."
RECONCILE_UPDATED_NOT_APPLIED = "Venice still has the old values: the change did not happen."
RECONCILE_UPDATED_UNCLEAR = "Venice's values match neither before nor after; resolve by hand."
RECONCILE_UPDATED_GONE = "The key is no longer at Venice, so the change cannot be confirmed."
RECONCILE_NO_KEY = "The record names no key, so it cannot be checked against Venice."
RECONCILE_INTERRUPTED = "Interrupted: the portal stopped before this step finished."

_CREATES = (AuditAction.KEY_CREATED, AuditAction.ROTATION_REPLACEMENT_CREATED)
_DELETES = (AuditAction.KEY_DELETED, AuditAction.ROTATION_OLD_KEY_DELETED)
_UPDATES = (AuditAction.KEY_UPDATED, AuditAction.ROTATION_OLD_KEY_SCHEDULED)


@dataclass
class ReconcileResult:
    checked: int = 0
    succeeded: int = 0
    failed: int = 0
    unresolved: int = 0  # left pending: needs a person


def _same_value(current, recorded) -> bool:
    """Whether a key's current field value equals a value recorded in `changes`."""
    if isinstance(current, Enum):
        current = current.value
    if current is None or recorded is None or recorded == "":
        return current in (None, "") and recorded in (None, "")
    if isinstance(current, datetime | date):
        try:
            other = datetime.fromisoformat(str(recorded).replace("Z", "+00:00"))
        except ValueError:
            return False
        if isinstance(current, datetime) and other.tzinfo is not None:
            return abs(current - other) < timedelta(seconds=1)
        return current.date() == other.date() if isinstance(current, datetime) else False
    if isinstance(current, Decimal | int | float):
        try:
            return Decimal(str(current)) == Decimal(str(recorded))
        except InvalidOperation:
            return False
    return str(current) == str(recorded)


def _key_value(key, field: str):
    value = key
    for part in field.split("."):
        value = getattr(value, part)
    return value


def _resolve_update(event: AuditEvent, key) -> tuple[str | None, str]:
    if key is None:
        return AuditOutcome.FAILED, RECONCILE_UPDATED_GONE
    pairs = []
    for field_name, values in (event.changes or {}).items():
        try:
            current = _key_value(key, field_name)
        except AttributeError:
            return None, RECONCILE_UPDATED_UNCLEAR
        pairs.append((current, values[0], values[1]))
    if not pairs:
        # A schedule without recorded changes: the key's expiry is what it sets.
        if event.action == AuditAction.ROTATION_OLD_KEY_SCHEDULED and key.expires_at:
            return AuditOutcome.SUCCEEDED, RECONCILE_UPDATED_APPLIED
        return None, RECONCILE_UPDATED_UNCLEAR
    if all(_same_value(current, after) for current, _, after in pairs):
        return AuditOutcome.SUCCEEDED, RECONCILE_UPDATED_APPLIED
    if all(_same_value(current, before) for current, before, _ in pairs):
        return AuditOutcome.FAILED, RECONCILE_UPDATED_NOT_APPLIED
    return None, RECONCILE_UPDATED_UNCLEAR


def _resolve_create(event: AuditEvent, upstream: dict, claimed: set[str]):
    """(outcome or None, note, key found)."""
    if event.key_id:
        key = upstream.get(event.key_id)
        if key is None:
            return AuditOutcome.SUCCEEDED, RECONCILE_CREATED_GONE, None
        return AuditOutcome.SUCCEEDED, RECONCILE_CREATED_FOUND, key
    # What the create would have produced: a key of that description (and type, where the
    # record says), created around the attempt, that no other record accounts for, and not
    # the key a rotation was replacing.
    earliest, latest = event.time - RECONCILE_WINDOW, event.time + RECONCILE_WINDOW
    details = event.details or {}
    key_type = details.get("key_type") or (details.get("settings") or {}).get("api_key_type")
    candidates = [
        key
        for key in upstream.values()
        if key.id not in claimed
        and key.id != details.get("old_key_id")
        and key.description == event.key_description
        and (not key_type or key.api_key_type == key_type)
        and key.created_at is not None
        and earliest <= key.created_at <= latest
    ]
    if not candidates:
        return AuditOutcome.FAILED, RECONCILE_CREATED_MISSING, None
    if len(candidates) > 1:
        return None, RECONCILE_CREATED_AMBIGUOUS, None
    return AuditOutcome.SUCCEEDED, RECONCILE_CREATED_FOUND, candidates[0]


def audit_reconcile(*, older_than: timedelta, now: datetime | None = None) -> ReconcileResult:
    """Resolve records left pending (a crash or timeout between the record and the outcome)
    that are older than `older_than`, against Venice's key list: a create whose key exists
    succeeded (its secret lost), a delete whose key is gone succeeded, an update whose values
    Venice has succeeded, and so on; records that cannot be told apart stay pending, with a
    note. Local steps (rotation bookkeeping, exports) that were interrupted are failed.
    Raises the client's VeniceError when the key list cannot be fetched."""
    from accounts.selectors.audit import CREATE_ACTIONS
    from accounts.venice import get_client

    cutoff = (now or timezone.now()) - older_than
    pending = list(
        AuditEvent.objects.filter(outcome=AuditOutcome.PENDING, time__lt=cutoff).order_by(
            "time", "id"
        )
    )
    result = ReconcileResult(checked=len(pending))
    if not pending:
        return result
    upstream = {key.id: key for key in get_client().api_keys.list(fresh=True)}
    # Keys some record already accounts for cannot be another create's key.
    claimed = set(
        AuditEvent.objects.filter(key_id__in=list(upstream), action__in=CREATE_ACTIONS)
        .exclude(outcome=AuditOutcome.FAILED)
        .values_list("key_id", flat=True)
    )
    for event in pending:
        found = None
        if event.action in _CREATES:
            outcome, note, found = _resolve_create(event, upstream, claimed)
        elif event.action in _DELETES:
            if not event.key_id:
                outcome, note = None, RECONCILE_NO_KEY
            elif event.key_id in upstream:
                outcome, note = AuditOutcome.FAILED, RECONCILE_DELETED_PRESENT
            else:
                outcome, note = AuditOutcome.SUCCEEDED, RECONCILE_DELETED_GONE
        elif event.action in _UPDATES:
            if not event.key_id:
                outcome, note = None, RECONCILE_NO_KEY
            else:
                outcome, note = _resolve_update(event, upstream.get(event.key_id))
        else:
            outcome, note = AuditOutcome.FAILED, RECONCILE_INTERRUPTED
        try:
            _apply_resolution(event, outcome, note, found)
        except AppendOnlyError:
            # Finished meanwhile by the request that opened it: nothing left to do.
            result.checked -= 1
            continue
        if found is not None:
            claimed.add(found.id)
        if outcome == AuditOutcome.SUCCEEDED:
            result.succeeded += 1
        elif outcome == AuditOutcome.FAILED:
            result.failed += 1
        else:
            result.unresolved += 1
    return result


def _apply_resolution(event: AuditEvent, outcome: str | None, note: str, found) -> None:
    if outcome is None:
        if (event.details or {}).get(UNRESOLVED) != note:
            event.add_details(**{UNRESOLVED: note})
            event.save()
        return
    if found is not None:
        event.note_key(found, save=False)
    reconciled = {"at": timezone.now().isoformat(), "note": note}
    event.add_details(reconciled=reconciled)
    if event.action in _CREATES and note == RECONCILE_CREATED_FOUND:
        event.add_details(**{SECRET_LOST: True})
    event.outcome = outcome
    event.error = note if outcome == AuditOutcome.FAILED else event.error
    event.completed_at = timezone.now()
    event.save()
