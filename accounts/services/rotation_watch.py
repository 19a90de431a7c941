"""Watching a rotation's traffic: whether anything still uses the old key, and acting on it.

Venice reports each key's `lastUsedAt`. During a grace period the portal compares the old
key's with the new key's: once the new key has been used and the old one has been idle for
the rotation's quiet period, the old key can go before the grace ends ("finish early", by a
person or, with "finish when quiet", by `finish_rotations`); while the old key is still in
use near the end of the grace, the person is offered more time ("extend grace"). Each action
is an audit record naming its evidence: the two keys' lastUsedAt.

The rotation steps it reuses (claiming a rotation, deleting its old key with every safety
check, completing it) live in rotation.py, in the same package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import AuditAction, Rotation
from accounts.presentation import dates
from accounts.services.audit import AuditContext, audited
from accounts.services.key_ownership import check_key_in_scope
from accounts.services.rotation import (
    ROTATION_BUSY,
    RotationError,
    _check_may_rotate,
    _claim,
    _complete,
    _delete_old,
    _get,
    _save,
)
from accounts.venice import APIKey, VeniceError, get_client

State = Rotation.State
logger = logging.getLogger(__name__)

# "Still in use": the old key was used this recently.
RECENT_USE = timedelta(minutes=15)
# Grace that ends within this is "ending soon".
ENDING_SOON = timedelta(hours=1)

NOT_IN_GRACE = "This rotation is not in its grace period."
NOT_QUIET_YET = (
    "The old key is not quiet yet: {why}. It can go early once the new key has been used and "
    "the old one has been idle for {quiet}."
)
EXTEND_NOT_LATER = "Choose an end after the current one ({retire_at})."
EXTEND_PAST_EXPIRY = (
    "The old key was set to expire on {expires} before the rotation: a grace "
    "period never makes it live longer."
)


@dataclass(frozen=True)
class RotationTraffic:
    """What the two keys' lastUsedAt say about a rotation in grace, as of `now`."""

    rotation: Rotation
    now: datetime
    old_last_used_at: datetime | None
    new_last_used_at: datetime | None
    new_first_used_at: datetime | None

    @property
    def new_in_use(self) -> bool:
        return self.new_last_used_at is not None

    @property
    def old_idle_for(self) -> timedelta | None:
        """How long the old key has gone unused: since its last use, or since the rotation
        began if it was last used before that."""
        moments = [m for m in (self.old_last_used_at, self.rotation.created_at) if m]
        return max(self.now - max(moments), timedelta(0)) if moments else None

    @property
    def quiet(self) -> bool:
        idle = self.old_idle_for
        return self.new_in_use and idle is not None and idle >= self.rotation.quiet_period

    @property
    def old_still_used(self) -> bool:
        return self.old_last_used_at is not None and self.now - self.old_last_used_at <= RECENT_USE

    @property
    def grace_ends_soon(self) -> bool:
        retire_at = self.rotation.retire_at
        return retire_at is not None and retire_at - self.now <= ENDING_SOON

    @property
    def offer_extension(self) -> bool:
        """The grace ends within the hour and the old key was used in the last 15 minutes."""
        return self.grace_ends_soon and self.old_still_used

    @property
    def why_not_quiet(self) -> str:
        if not self.new_in_use:
            return "the new key has not been used yet"
        if self.old_still_used or not self.quiet:
            return f"the old key was used {dates.ago(self.old_last_used_at, self.now)}"
        return ""

    @property
    def old_sentence(self) -> str:
        if self.old_last_used_at is None:
            return "Old key: never used."
        last = dates.ago(self.old_last_used_at, self.now)
        if self.old_still_used:
            return f"Old key last used {last}: something still uses it."
        return f"Old key idle for {dates.span(self.old_idle_for)} (last used {last})."

    @property
    def new_sentence(self) -> str:
        if self.new_first_used_at is None:
            return "New key: not used yet."
        return (
            f"New key first seen {dates.prose(self.new_first_used_at)}, last used "
            f"{dates.ago(self.new_last_used_at, self.now)}."
        )


def rotation_traffic(
    rotation: Rotation, *, keys: dict[str, APIKey], now: datetime | None = None
) -> RotationTraffic:
    """The traffic as the given key list shows it (no upstream call; the row's memory of the
    new key's first use fills in what the list no longer says)."""
    now = now or timezone.now()
    old, new = keys.get(rotation.old_key_id), keys.get(rotation.new_key_id)
    old_used = old.last_used_at if old else None
    new_used = new.last_used_at if new else None
    return RotationTraffic(
        rotation=rotation,
        now=now,
        old_last_used_at=old_used or rotation.old_last_used_at,
        new_last_used_at=new_used,
        new_first_used_at=rotation.new_first_used_at or new_used,
    )


def rotation_observe(
    rotation: Rotation, *, client=None, now: datetime | None = None, fresh: bool = False
) -> RotationTraffic:
    """Read both keys and remember what they say on the rotation (the new key's first use,
    the old key's last): the history line of a finished rotation comes from this."""
    client = client or get_client()
    keys = {
        key.id: key
        for key in client.api_keys.list(fresh=fresh)
        if key.id in (rotation.old_key_id, rotation.new_key_id)
    }
    traffic = rotation_traffic(rotation, keys=keys, now=now)
    _remember(rotation, traffic)
    return traffic


def rotation_finish_early(
    *, context: AuditContext, rotation_id: int, now: datetime | None = None
) -> Rotation:
    """Delete the old key before the grace ends, because the traffic has moved: the new key
    has been used and the old one idle for the quiet period (read past the cache now)."""
    rotation = _get(rotation_id)
    _check_may_rotate(context.user, rotation.old_key_type)
    check_key_in_scope(context.user, rotation.old_key_id, rotation.old_description)
    return _finish_early(rotation, context, now=now or timezone.now())


def _finish_early(rotation: Rotation, context: AuditContext, *, now: datetime) -> Rotation:
    # No role check here: a person's request checks it above; cron acts on "finish when
    # quiet", asked for by whoever started the rotation (who had the right to).
    if rotation.state != State.GRACE:
        raise RotationError(NOT_IN_GRACE)
    if not _claim(rotation):
        raise RotationError(ROTATION_BUSY)
    client = get_client()
    try:
        traffic = rotation_observe(rotation, client=client, now=now, fresh=True)
        if not traffic.quiet:
            raise RotationError(
                NOT_QUIET_YET.format(
                    why=traffic.why_not_quiet, quiet=dates.span(rotation.quiet_period)
                )
            )
        evidence = {
            "rotation": rotation.pk,
            "old_last_used_at": _iso(traffic.old_last_used_at),
            "new_last_used_at": _iso(traffic.new_last_used_at),
            "new_first_used_at": _iso(traffic.new_first_used_at),
            "quiet_period": dates.span(rotation.quiet_period),
            "grace_would_end": _iso(rotation.retire_at),
        }
        with audited(
            context,
            action=AuditAction.ROTATION_FINISHED_EARLY,
            key_id=rotation.old_key_id,
            description=rotation.old_description,
            last6=rotation.old_last6,
            details=evidence,
        ):
            _delete_old(rotation, context, client=client, now=now)
        _complete(rotation, context, now=now)
    except (RotationError, VeniceError) as failure:
        _save(rotation, last_error=getattr(failure, "user_message", ""), lease_until=None)
        raise
    _save(rotation, lease_until=None)
    return rotation


def rotation_extend_grace(
    *, context: AuditContext, rotation_id: int, until: datetime, now: datetime | None = None
) -> Rotation:
    """Give the old key more time: its expiry (and the rotation's end) moves to `until`."""
    now = now or timezone.now()
    rotation = _get(rotation_id)
    _check_may_rotate(context.user, rotation.old_key_type)
    check_key_in_scope(context.user, rotation.old_key_id, rotation.old_description)
    check_key_in_scope(context.user, rotation.old_key_id, rotation.old_description)
    if rotation.state != State.GRACE:
        raise RotationError(NOT_IN_GRACE)
    until = until.replace(microsecond=0)
    if until <= rotation.retire_at or until <= now:
        raise RotationError(EXTEND_NOT_LATER.format(retire_at=dates.prose(rotation.retire_at)))
    if rotation.old_expires_at is not None and until > rotation.old_expires_at:
        raise RotationError(EXTEND_PAST_EXPIRY.format(expires=dates.prose(rotation.old_expires_at)))
    if not _claim(rotation):
        raise RotationError(ROTATION_BUSY)
    client = get_client()
    traffic = rotation_traffic(rotation, keys={}, now=now)
    try:
        with audited(
            context,
            action=AuditAction.ROTATION_GRACE_EXTENDED,
            key_id=rotation.old_key_id,
            description=rotation.old_description,
            last6=rotation.old_last6,
            changes={"expires_at": [_iso(rotation.retire_at), _iso(until)]},
            details={
                "rotation": rotation.pk,
                "old_last_used_at": _iso(rotation.old_last_used_at),
                "old_still_used": traffic.old_still_used,
            },
        ):
            client.api_keys.update(rotation.old_key_id, expires_at=until)
    except VeniceError as failure:
        _save(rotation, last_error=failure.user_message, lease_until=None)
        raise
    _save(rotation, retire_at=until, lease_until=None, last_error="")
    return rotation


def rotations_finish_quiet(*, context: AuditContext, now: datetime | None = None) -> list[Rotation]:
    """For cron (finish_rotations): note every grace rotation's traffic, and finish early the
    ones set to "finish when quiet" whose old key has gone quiet. One key list for all."""
    now = now or timezone.now()
    in_grace = list(Rotation.objects.filter(state=State.GRACE))
    if not in_grace:
        return []
    client = get_client()
    keys = {key.id: key for key in client.api_keys.list(fresh=True)}
    finished = []
    for rotation in in_grace:
        traffic = rotation_traffic(rotation, keys=keys, now=now)
        _remember(rotation, traffic)
        if rotation.finish_when_quiet and traffic.quiet and not rotation.grace_is_over:
            try:
                finished.append(_finish_early(rotation, context, now=now))
            except (RotationError, VeniceError) as failure:
                # Noted on the rotation (and its record, if it got that far): the key's page
                # shows it. The grace period still ends on time.
                logger.warning("Rotation %s did not finish early: %s", rotation.pk, failure)
    return finished


def _remember(rotation: Rotation, traffic: RotationTraffic) -> None:
    updates = {"traffic_seen_at": traffic.now}
    if rotation.new_first_used_at is None and traffic.new_first_used_at is not None:
        updates["new_first_used_at"] = traffic.new_first_used_at
    if traffic.old_last_used_at and traffic.old_last_used_at != rotation.old_last_used_at:
        updates["old_last_used_at"] = traffic.old_last_used_at
    _save(rotation, **updates)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
