"""Audit records: append-only, hash-chained, one chain for every change that matters."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC, datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from django.db.models import F, Q
from django.utils import timezone


class AuditAction(models.TextChoices):
    KEY_CREATED = "key.created", "Key created"
    KEY_UPDATED = "key.updated", "Key updated"
    KEY_DELETED = "key.deleted", "Key deleted"
    ROTATION_STARTED = "key.rotation.started", "Rotation started"
    ROTATION_REPLACEMENT_CREATED = (
        "key.rotation.replacement_created",
        "Rotation: replacement created",
    )
    ROTATION_OLD_KEY_SCHEDULED = "key.rotation.old_key_scheduled", "Rotation: old key scheduled"
    ROTATION_OLD_KEY_DELETED = "key.rotation.old_key_deleted", "Rotation: old key deleted"
    ROTATION_COMPLETED = "key.rotation.completed", "Rotation completed"
    ROTATION_FAILED = "key.rotation.failed", "Rotation failed"
    ROTATION_ABORTED = "key.rotation.aborted", "Rotation aborted"
    ROTATION_GRACE_EXTENDED = "key.rotation.grace_extended", "Rotation: grace period extended"
    ROTATION_FINISHED_EARLY = (
        "key.rotation.finished_early",
        "Rotation finished early (old key quiet)",
    )
    ROTATION_SECRET_DELIVERED = (
        "key.rotation.secret_delivered",
        "Rotation: new secret delivered to the schedule's sink",
    )
    ROTATION_SCHEDULE_SET = "key.rotation.schedule_set", "Rotation schedule set"
    ROTATION_SCHEDULE_REMOVED = "key.rotation.schedule_removed", "Rotation schedule removed"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    TOKEN_CREATED = "token.created", "API token created"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    BILLING_USAGE_EXPORTED = "billing.usage_exported", "Usage exported"
    # Who may do what: members, invitations, roles.
    MEMBER_INVITED = "member.invited", "Member invited"
    MEMBER_INVITATION_RESENT = "member.invitation_resent", "Invitation sent again"
    MEMBER_INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    MEMBER_DEACTIVATED = "member.deactivated", "Member deactivated"
    MEMBER_REACTIVATED = "member.reactivated", "Member reactivated"
    MEMBER_MFA_RESET = "member.mfa_reset", "Member's two-factor authentication reset"
    MEMBER_SESSIONS_REVOKED = "member.sessions_revoked", "Member signed out everywhere"
    # Signing in and what signs a person in.
    AUTH_LOGIN_SUCCEEDED = "auth.login_succeeded", "Logged in"
    AUTH_LOGIN_FAILED = "auth.login_failed", "Login failed"
    AUTH_LOCKED_OUT = "auth.locked_out", "Login locked out"
    AUTH_SSO_LOGIN = "auth.sso_login", "Logged in with single sign-on"
    AUTH_MFA_ENROLLED = "auth.mfa_enrolled", "Second factor added"
    AUTH_MFA_REMOVED = "auth.mfa_removed", "Second factor removed"
    AUTH_PASSWORD_CHANGED = "auth.password_changed", "Password changed"
    AUTH_SESSION_ENDED = "auth.session_ended", "Session ended"
    # Key policies and the changes they hold for a second Administrator.
    POLICY_CHANGED = "policy.changed", "Key policies changed"
    CHANGE_REQUESTED = "change.requested", "Change requested"
    CHANGE_APPROVED = "change.approved", "Change approved"
    CHANGE_REJECTED = "change.rejected", "Change rejected"
    CHANGE_WITHDRAWN = "change.withdrawn", "Change request withdrawn"
    CHANGE_EXPIRED = "change.expired", "Change request expired"
    CHANGE_EXECUTED = "change.executed", "Approved change made"
    CHANGE_FAILED = "change.failed", "Approved change failed"
    # Alert rules and the channels they notify (never a webhook URL or secret).
    ALERT_RULE_CREATED = "alert.rule_created", "Alert rule created"
    ALERT_RULE_CHANGED = "alert.rule_changed", "Alert rule changed"
    ALERT_RULE_DELETED = "alert.rule_deleted", "Alert rule deleted"
    ALERT_CHANNEL_CREATED = "alert.channel_created", "Alert channel created"
    ALERT_CHANNEL_DELETED = "alert.channel_deleted", "Alert channel deleted"
    ALERT_CHANNEL_DISABLED = "alert.channel_disabled", "Alert channel switched off"
    # Teams, key ownership and the audit baseline.
    TEAM_CREATED = "team.created", "Team created"
    TEAM_UPDATED = "team.updated", "Team changed"
    TEAM_DELETED = "team.deleted", "Team deleted"
    TEAM_MEMBER_ADDED = "team.member_added", "Member added to a team"
    TEAM_MEMBER_REMOVED = "team.member_removed", "Member removed from a team"
    MEMBER_KEY_SCOPE_CHANGED = "member.key_scope_changed", "Key manager's scope changed"
    KEY_ASSIGNED = "key.assigned", "Key's team or owner changed"
    KEYS_ADOPTED = "keys.adopted", "Existing keys adopted"


class AuditOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The chain starts from this "previous hash".
GENESIS_HASH = "0" * 64
# Bumped if the canonical serialisation ever changes; part of every hash.
HASH_VERSION = 1

# Fields a pending record may still change on its way to finished (the key snapshot is known
# only after a create; details gather notes). Everything else is fixed when the record is first
# written; the PostgreSQL trigger (migration 0003) enforces the same list.
PENDING_MUTABLE_FIELDS = (
    "key_id",
    "key_description",
    "key_last6",
    "details",
    "outcome",
    "error",
    "completed_at",
    "sequence",
    "previous_hash",
    "hash",
)


class AppendOnlyError(Exception):
    """An attempt to change a finished audit record or to delete any audit record."""


APPEND_ONLY_DELETE = "Audit records are append-only: they cannot be deleted."
APPEND_ONLY_FINISHED = "Audit record #{pk} is finished: it cannot be changed."
APPEND_ONLY_IDENTITY = "Audit record #{pk}: only its outcome, key snapshot and details may change."
APPEND_ONLY_UPDATE = "Audit records are append-only: save() them one by one (a pending record "
APPEND_ONLY_UPDATE += "may be finished once); bulk updates are refused."
APPEND_ONLY_BULK_CREATE = "Audit records are chained one by one: use save(), not bulk_create()."


class AuditEventQuerySet(models.QuerySet):
    """Refuses what would bypass AuditEvent.save(): bulk update, delete and bulk create."""

    def update(self, **kwargs):
        # Deleting a user sets the actor of its records to NULL (the username snapshot stays,
        # and the hash does not cover actor_id); that is the one bulk update allowed.
        if (
            kwargs
            and set(kwargs) <= {"actor", "actor_id"}
            and all(v is None for v in kwargs.values())
        ):
            return super().update(**kwargs)
        raise AppendOnlyError(APPEND_ONLY_UPDATE)

    update.queryset_only = True

    def delete(self):
        raise AppendOnlyError(APPEND_ONLY_DELETE)

    delete.queryset_only = True
    delete.alters_data = True

    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY_BULK_CREATE)

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY_UPDATE)

    def _append_only_write(self, **fields) -> int:
        """AuditEvent.save()'s own path: update pending records only."""
        return models.QuerySet.update(self.filter(outcome=AuditOutcome.PENDING), **fields)


class AuditChainHead(models.Model):
    """One row: the last sealed record's sequence and hash.

    Sealing a record first *writes* this row, which serialises sealers: on PostgreSQL the row
    lock makes every other sealer wait until the first commits; on SQLite the write takes the
    database's write lock at once (a read first would let two transactions read the same head
    and then fail to upgrade their locks). It also lets verify_audit notice records missing at
    the end of the chain.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        default_permissions = ()
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audit_chain_head_single")]

    def __str__(self):
        return f"audit chain head #{self.sequence}"

    @classmethod
    def lock(cls, using: str) -> AuditChainHead:
        """Take the chain's lock (inside a transaction) and return the head."""
        if not cls.objects.using(using).filter(pk=1).update(sequence=F("sequence")):
            # Only after a flush (tests) or a hand-made database: create it, race-safely.
            cls.objects.using(using).get_or_create(pk=1)
            cls.objects.using(using).filter(pk=1).update(sequence=F("sequence"))
        return cls.objects.using(using).get(pk=1)


def _utc_iso(value: datetime | None) -> str | None:
    """`2026-12-03T09:56:01.123456Z`. isoformat, not strftime: the same text (for years after
    999) at a fraction of the cost, which counts when verify_audit reads a million records."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# What JSON holds most: returned as they are, before any of the checks below.
_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def _canonical_json(value):
    """JSON values as the database hands them back: floats with integral values become ints
    (PostgreSQL's jsonb prints 1e16 as 10000000000000000), everything else as is."""
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, dict):
        return {str(k): _canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise_json(value) -> dict:
    """What a JSON field holds after a round trip: Decimals and datetimes as strings."""
    return _canonical_json(json.loads(json.dumps(value or {}, cls=DjangoJSONEncoder)))


def without_zone_id(address: str) -> str:
    """An IPv6 address without its zone id ("fe80::1%eth0" -> "fe80::1"). The zone names an
    interface of the machine that saw the address, means nothing anywhere else, and neither
    Django's GenericIPAddressField nor PostgreSQL's inet keeps it."""
    if ":" in address:
        return address.partition("%")[0]
    return address


def _stored_ip(value: str | None) -> str | None:
    """The address as AuditEvent.ip will hand it back: no zone id, and in the form the field
    writes (compressed IPv6). Text that is no address is left for the field to refuse."""
    if not value:
        return None
    text = without_zone_id(str(value).strip())
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return AuditEvent._meta.get_field("ip").get_prep_value(text)


def _canonical_ip(value: str | None) -> str | None:
    if not value:
        return None
    if ":" not in value:
        # IPv4, or text that is no address: either way the value itself (a valid IPv4
        # address is its own exploded form), without parsing it a million times.
        return value
    try:
        return ipaddress.ip_address(value).exploded
    except ValueError:
        return value


# The stored fields a record's hash covers, in docs/audit-format.md's order. Not actor_id (a
# deleted user's records keep their username snapshot and their hash), not id (records sealed
# on insert have none yet).
HASHED_FIELDS = (
    "sequence",
    "time",
    "actor_username",
    "actor_role",
    "action",
    "key_id",
    "key_description",
    "key_last6",
    "changes",
    "details",
    "ip",
    "user_agent",
    "request_id",
    "outcome",
    "error",
    "completed_at",
)


def canonical_record(values) -> dict:
    """A record's canonical content, from its stored values (a model or a `.values()` row):
    times in UTC with microseconds, addresses exploded, integral floats as integers. The
    one definition the chain, verify_audit and the exports share (docs/audit-format.md)."""
    return {
        "v": HASH_VERSION,
        "sequence": values["sequence"],
        "time": _utc_iso(values["time"]),
        "actor_username": values["actor_username"],
        "actor_role": values["actor_role"],
        "action": values["action"],
        "key_id": values["key_id"],
        "key_description": values["key_description"],
        "key_last6": values["key_last6"],
        "changes": _canonical_json(values["changes"] or {}),
        "details": _canonical_json(values["details"] or {}),
        "ip": _canonical_ip(values["ip"]),
        "user_agent": values["user_agent"],
        "request_id": values["request_id"],
        "outcome": values["outcome"],
        "error": values["error"],
        "completed_at": _utc_iso(values["completed_at"]),
    }


# json.dumps with these options, made once (json.dumps makes a new encoder on every call).
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_text(previous_hash: str, record: dict) -> str:
    """The exact text a record's hash is the SHA-256 of (ASCII JSON, keys sorted, no spaces)."""
    return _CANONICAL_ENCODER.encode({"previous_hash": previous_hash, "record": record})


def chain_hash(previous_hash: str, record: dict) -> str:
    return hashlib.sha256(canonical_text(previous_hash, record).encode("ascii")).hexdigest()


class AuditEvent(models.Model):
    """One audited action: who, what, which key, when, from where, and how it ended.

    Append-only. A record is written `pending` before the upstream call and finished once
    (`succeeded` or `failed`); finishing it *seals* it into the hash chain: it gets the next
    `sequence`, the previous sealed record's hash, and its own hash over its final content.
    Records written already finished (exports) are sealed as they are inserted. Pending records
    are not in the chain yet (they cannot be deleted, and only their outcome, key snapshot and
    details may change); `reconcile_audit` finishes the ones a crash left behind.
    """

    time = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    key_id = models.CharField(max_length=64, blank=True)
    key_description = models.CharField(max_length=128, blank=True)
    key_last6 = models.CharField(max_length=6, blank=True)
    # {field: [before, after]} for updates.
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.PENDING
    )
    error = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The hash chain, in sealing order. Empty while pending.
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # The guarded manager is also the base manager, so no Django path gets a plain one.
        base_manager_name = "objects"
        ordering = ("-time", "-id")
        verbose_name = "audit record"
        # Pages walk (time, id) newest first; each filter has an index that starts with its
        # column and ends with (time, id), so a filtered page is one index range scan.
        indexes = [
            models.Index(fields=["time", "id"], name="audit_time_id"),
            models.Index(fields=["actor_username", "time", "id"], name="audit_actor_time_id"),
            # Actor and action together: the pair people combine most ("what did Kim
            # delete?"). With only the one-column indexes, a pair that matches nothing made
            # the database read every record of the action (400,000 of a million: 250 ms).
            models.Index(
                fields=["actor_username", "action", "time", "id"], name="audit_actor_action_time_id"
            ),
            models.Index(fields=["action", "time", "id"], name="audit_action_time_id"),
            models.Index(fields=["key_id", "time", "id"], name="audit_key_time_id"),
            models.Index(fields=["outcome", "time", "id"], name="audit_outcome_time_id"),
            # A rare outcome (pending, failed) with an actor or an action: the one-column
            # indexes read every record of the busiest actor or action to find none
            # (bench/audit_worst.py: 350 ms on SQLite at 1M; issue 18's 1,885 ms).
            models.Index(
                fields=["actor_username", "outcome", "time", "id"], name="audit_actor_outcome"
            ),
            models.Index(fields=["action", "outcome", "time", "id"], name="audit_action_outcome"),
            # Drift asks "was key K ever created / deleted here?" for hundreds of keys at once:
            # one index-only seek per key instead of reading each key's whole history.
            models.Index(fields=["key_id", "action", "outcome"], name="audit_key_action_outcome"),
            # Finding a key by its description or last 6 (selectors/audit_keys.py): the
            # directory of the names the records give each key is read from this index alone.
            models.Index(
                fields=["key_id", "key_description", "key_last6", "id"], name="audit_key_names"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=AuditOutcome.values), name="audit_outcome_valid"
            ),
            # Pending records are outside the chain; finished ones are sealed into it.
            models.CheckConstraint(
                condition=(
                    Q(outcome=AuditOutcome.PENDING, sequence__isnull=True, hash="")
                    | (
                        ~Q(outcome=AuditOutcome.PENDING)
                        & Q(sequence__isnull=False, completed_at__isnull=False)
                        & ~Q(hash="")
                    )
                ),
                name="audit_sealed_iff_finished",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.action} {self.outcome}"

    def save(self, *args, using=None, **kwargs):
        """Insert a record, or move a pending one on (once, to finished). Anything else —
        changing a finished record, or a pending record's who/what/when — raises
        AppendOnlyError. Finished records are sealed into the hash chain as they are saved."""
        using = using or router.db_for_write(type(self), instance=self)
        self._normalise()
        if self._state.adding:
            with transaction.atomic(using=using):
                if self.is_finished:
                    self._seal(using)
                super().save(force_insert=True, using=using)
            return
        with transaction.atomic(using=using):
            fixed = [f.attname for f in self._meta.concrete_fields]
            fixed = [name for name in fixed if name not in PENDING_MUTABLE_FIELDS]
            fixed.remove("id")
            fixed.remove("actor_id")
            if self.is_finished:
                # Lock the chain first (a write), then read: see AuditChainHead.
                self._seal(using)
            stored = (
                type(self)
                ._base_manager.using(using)
                .filter(pk=self.pk, outcome=AuditOutcome.PENDING)
                .values(*fixed)
                .first()
            )
            if stored is None:
                raise AppendOnlyError(APPEND_ONLY_FINISHED.format(pk=self.pk))
            mine = {name: getattr(self, name) for name in fixed}
            mine["changes"] = normalise_json(mine["changes"])
            stored["changes"] = normalise_json(stored["changes"])
            if _canonical_ip(mine["ip"]) == _canonical_ip(stored["ip"]):
                mine["ip"] = stored["ip"]
            if mine != stored:
                raise AppendOnlyError(APPEND_ONLY_IDENTITY.format(pk=self.pk))
            written = (
                type(self)
                ._base_manager.using(using)
                .filter(pk=self.pk)
                ._append_only_write(
                    **{name: getattr(self, name) for name in PENDING_MUTABLE_FIELDS}
                )
            )
            if written != 1:
                raise AppendOnlyError(APPEND_ONLY_FINISHED.format(pk=self.pk))

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY_DELETE)

    @property
    def is_pending(self) -> bool:
        return self.outcome == AuditOutcome.PENDING

    @property
    def is_finished(self) -> bool:
        return not self.is_pending

    # --- what the services fill in while a record is open ----------------------------------

    def note_key(self, api_key, *, save: bool = True) -> None:
        """Snapshot the key (id, description, last 6) — never its secret. On a saved pending
        record it is written at once, so a crash after a create still leaves the key's id."""
        self.key_id = api_key.id or ""
        self.key_description = (api_key.description or "")[:128]
        self.key_last6 = (api_key.last6 or "")[-6:]
        if save and self.pk is not None and self.is_pending:
            self.save()

    def add_details(self, **details) -> None:
        """Merge into `details` (saved when the record is finished)."""
        self.details = {**(self.details or {}), **normalise_json(details)}

    # --- the hash chain ---------------------------------------------------------------------

    def canonical_content(self) -> dict:
        """Everything the hash covers (see `canonical_record`)."""
        return canonical_record({name: getattr(self, name) for name in HASHED_FIELDS})

    def compute_hash(self, previous_hash: str | None = None) -> str:
        previous = self.previous_hash if previous_hash is None else previous_hash
        return chain_hash(previous, self.canonical_content())

    def _seal(self, using: str) -> None:
        """Append to the chain; call inside a transaction (the head stays locked until commit)."""
        head = AuditChainHead.lock(using)
        self.sequence = head.sequence + 1
        self.previous_hash = head.hash
        self.hash = self.compute_hash()
        AuditChainHead.objects.using(using).filter(pk=1).update(
            sequence=self.sequence, hash=self.hash
        )

    # --- append-only persistence ------------------------------------------------------------

    def _normalise(self) -> None:
        # The values hashed must be the values the database will hand back. Every write passes
        # here before it is hashed or compared with the stored record (an address kept with a
        # zone id was hashed with it, stored without it, and its record failed verify_audit
        # forever, or could not be finished).
        self.changes = normalise_json(self.changes)
        self.details = normalise_json(self.details)
        self.ip = _stored_ip(self.ip)
        if self.time is None:
            self.time = timezone.now()
        if self.is_finished and self.completed_at is None:
            self.completed_at = timezone.now()
        if self.is_pending:
            self.sequence, self.previous_hash, self.hash = None, "", ""
