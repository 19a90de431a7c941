"""The rotation's invariant, over every step, every way it can fail, and every way to go on.

    At every moment at least one of the two keys is alive at Venice, and the person holding
    the secret of each live key is known, or the key is flagged secret-lost.

A table, not samples: each failure point of each step (Venice refusing, Venice acting
without answering, an unreadable answer, the portal's database refusing a write) is
combined with each way a person or cron goes on (resume, abort keeping or deleting the
replacement, the grace period ending), for a rotation with and without grace. "At every
moment" is checked after every request that changes something at the sandbox; "the holder is
known" after every call into the service, once the caller has what the call returned.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Rotation
from accounts.selectors.audit import audit_key_ids_with_lost_secret
from accounts.services.audit import audit_reconcile
from accounts.services.rotation import (
    RotationError,
    rotation_abort,
    rotation_finish_due,
    rotation_resume,
    rotation_start,
)
from accounts.venice import VeniceError

State = Rotation.State

# GET/PATCH/DELETE are retried twice: three faults in a row make the call fail.
EVERY_ATTEMPT = 3


def _fault(path, method, **kwargs):
    return lambda sandbox: sandbox.faults.inject(path, method, **kwargs)


# Faults that make sense only once the replacement exists.
ARMED_AFTER_THE_CREATE = {"replacement check fails"}

VENICE_FAULTS = {
    "create refused": _fault("/api_keys", "POST", status=500, times=1),
    "create made without an answer": _fault("/api_keys", "POST", timeout="after", times=1),
    "create answer unreadable": _fault("/api_keys", "POST", malformed=True, times=1),
    # Armed once the replacement exists (see Witness.after_exchange): the read of the old key
    # before anything starts is another call.
    "replacement check fails": _fault("/api_keys/*", "GET", status=500, times=EVERY_ATTEMPT),
    "expiry change refused": _fault("/api_keys", "PATCH", status=500, times=EVERY_ATTEMPT),
    "expiry changed without an answer": _fault(
        "/api_keys", "PATCH", timeout="after", times=EVERY_ATTEMPT
    ),
    "delete refused": _fault("/api_keys", "DELETE", status=500, times=EVERY_ATTEMPT),
    "deleted without an answer": _fault("/api_keys", "DELETE", timeout="after", times=1),
}

DATABASE_FAULTS = {
    "database refuses the replacement's record": lambda sql, params: (
        sql.startswith('UPDATE "accounts_rotation"') and "replacement_created" in params
    ),
    "database refuses the next step's record": lambda sql, params: (
        sql.startswith('INSERT INTO "accounts_auditevent"')
        and any(
            action in params
            for action in ("key.rotation.old_key_scheduled", "key.rotation.old_key_deleted")
        )
    ),
}

FOLLOW_UPS = ["resume", "abort keeping the replacement", "abort deleting it", "grace ends"]


class Witness:
    """Watches the sandbox while a rotation of `old` runs: which keys the rotation made,
    which secrets reached a caller, and whether one of the two keys was alive throughout."""

    def __init__(self, sandbox, old):
        self.sandbox = sandbox
        self.old = old
        self.before = set(sandbox.key_ids())
        self.secrets = {old.id: old.secret}
        self.moments_without_a_key: list[str] = []
        self.after_the_create = None  # a fault to inject once a key has been created

    def made(self) -> set[str]:
        """Keys created since the rotation started (replacements, and orphans)."""
        return set(self.sandbox.key_ids()) - self.before - {self.old.id}

    def alive(self) -> set[str]:
        return set(self.sandbox.key_ids(include_expired=False)) & ({self.old.id} | self.made())

    def held(self) -> set[str]:
        """Live keys whose secret some caller has: the old key's owner, or a returned one."""
        return {key_id for key_id in self.alive() if key_id in self.secrets}

    def after_exchange(self, method, path):
        if method.upper() in ("POST", "PATCH", "DELETE") and not self.alive():
            self.moments_without_a_key.append(f"{method} {path}")
        if method.upper() == "POST" and self.after_the_create and self.made():
            self.after_the_create(self.sandbox)
            self.after_the_create = None

    def received(self, outcome) -> None:
        if outcome is not None and outcome.secret:
            self.secrets[self.sandbox.find_key(outcome.secret).id] = outcome.secret

    def check(self, when: str) -> None:
        assert not self.moments_without_a_key, (
            f"{when}: no key alive after {self.moments_without_a_key}"
        )
        assert self.held(), f"{when}: no live key whose secret anyone holds"
        flagged = audit_key_ids_with_lost_secret()
        unaccounted = self.alive() - set(self.secrets) - flagged
        assert not unaccounted, f"{when}: live keys nobody holds and nobody flagged: {unaccounted}"


@pytest.fixture
def witness(sandbox, inference_key, monkeypatch):
    watching = Witness(sandbox, inference_key)
    exchange = sandbox.exchange

    def watched(method, path, *args, **kwargs):
        outcome = exchange(method, path, *args, **kwargs)
        watching.after_exchange(method, path)
        return outcome

    monkeypatch.setattr(sandbox, "exchange", watched)
    return watching


def _go_on(follow_up, rotation, *, context, witness, sandbox):
    """One way of going on after the first call, then whatever finishing it takes."""
    rotation.refresh_from_db()
    if rotation.lease_until:
        # A crashed or interrupted step holds the rotation until its lease runs out.
        Rotation.objects.filter(pk=rotation.pk).update(lease_until=None)
        rotation.refresh_from_db()
    try:
        if follow_up == "resume" and rotation.resumable:
            witness.received(rotation_resume(context=context, rotation_id=rotation.pk))
        elif follow_up.startswith("abort") and rotation.is_open:
            rotation_abort(
                context=context,
                rotation_id=rotation.pk,
                delete_replacement=follow_up == "abort deleting it",
            )
        elif follow_up == "grace ends" and rotation.retire_at:
            later = rotation.retire_at + timedelta(seconds=1)
            sandbox.clock.set(later)
            for outcome in rotation_finish_due(context=context, now=later):
                witness.received(outcome)
            rotation.refresh_from_db()
            if rotation.resumable:
                witness.received(
                    rotation_resume(context=context, rotation_id=rotation.pk, now=later)
                )
    except (RotationError, VeniceError):
        pass  # a refusal is an answer too; the invariant must hold either way
    witness.check(f"after {follow_up}")


def _cases():
    for grace in ("now", "1h"):
        for fault in [*VENICE_FAULTS, *DATABASE_FAULTS]:
            for follow_up in FOLLOW_UPS:
                marks = [pytest.mark.django_db(transaction=fault in DATABASE_FAULTS)]
                yield pytest.param(
                    grace, fault, follow_up, id=f"{grace}-{fault}-{follow_up}", marks=marks
                )


@pytest.mark.parametrize(("grace", "fault", "follow_up"), list(_cases()))
def test_one_key_of_the_two_is_always_alive_and_every_live_key_has_a_known_holder(
    grace, fault, follow_up, manager_context, inference_key, sandbox, witness, database_fails
):
    if fault in ARMED_AFTER_THE_CREATE:
        witness.after_the_create = VENICE_FAULTS[fault]
    elif fault in VENICE_FAULTS:
        VENICE_FAULTS[fault](sandbox)
    with database_fails(DATABASE_FAULTS.get(fault, lambda sql, params: False), times=1):
        outcome = rotation_start(context=manager_context, key_id=inference_key.id, grace=grace)
    witness.received(outcome)
    witness.check("after the first call")
    sandbox.faults.clear()

    _go_on(follow_up, outcome.rotation, context=manager_context, witness=witness, sandbox=sandbox)

    # Whatever is left pending is what reconcile_audit resolves; then the chain holds.
    audit_reconcile(older_than=timedelta(0), now=timezone.now() + timedelta(hours=1))
    witness.check("after reconcile")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()
