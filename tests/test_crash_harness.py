"""A portal process killed (SIGKILL) at every step of a key change or a rotation leaves
nothing that the scheduled commands and the Resume/Abort buttons cannot resolve.

Each case runs the portal's own services in a child process, as a worker would, on this
test's PostgreSQL database and against the sandbox served over real HTTP, with
PORTAL_FAULT_POINT naming one crash point (accounts/faults.py): the child kills itself there.
Then, as an operator's cron would, `reconcile_audit` and `finish_rotations` run, a rotation
the crash left mid-step is resumed once its lease has run out (as the key page's Resume does),
and the test proves: the child died at that point; no key was created twice at Venice; no
audit record is left pending; no rotation is left open without a way on; and verify_audit
finds the chain intact.
"""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent, AuditOutcome, Rotation, RotationState
from accounts.roles import ADMINISTRATOR
from accounts.services.audit import audit_context_for_command
from accounts.services.rotation import rotation_resume
from accounts.venice import VeniceClient
from tests.factories import UserFactory
from tests.fixtures.audit import postgres_only
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

ROOT = Path(__file__).resolve().parent.parent
NEW_DESCRIPTION = "made by a worker that died"

# One operation, as a worker runs it: the services the views call, as the given member.
CHILD = """
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from accounts.services.audit import audit_context_for_command
from accounts.services.keys import api_key_create, api_key_delete, api_key_update
from accounts.services.rotation import rotation_start
from accounts.venice import get_client

op = json.loads(sys.argv[1])
user = get_user_model().objects.get(username=op["user"])
context = audit_context_for_command(user, command="crash-harness")
client = get_client()
if op["op"] == "create":
    api_key_create(context=context, description=op["description"])
elif op["op"] == "update":
    key = client.api_keys.get(op["key_id"])
    api_key_update(context=context, key=key, description=op["description"])
elif op["op"] == "delete":
    api_key_delete(context=context, key=client.api_keys.get(op["key_id"]))
elif op["op"] == "rotate":
    outcome = rotation_start(context=context, key_id=op["key_id"], grace=op["grace"])
    assert outcome.ok, outcome.error
print("finished without crashing", flush=True)
"""


def _steps(action: str, method: str | None = None) -> list[str]:
    points = [f"audit.{action}.pending"]
    if method:
        points.append(f"venice.{method}.answered")
    return [*points, f"audit.{action}.finishing"]


ROTATION_START = [
    *_steps("key.rotation.started"),
    *_steps("key.rotation.replacement_created", "POST"),
]
CASES = [
    *(("create", point) for point in _steps("key.created", "POST")),
    *(("update", point) for point in _steps("key.updated", "PATCH")),
    *(("delete", point) for point in _steps("key.deleted", "DELETE")),
    *(
        ("rotate-grace", point)
        for point in [*ROTATION_START, *_steps("key.rotation.old_key_scheduled", "PATCH")]
    ),
    *(
        ("rotate-now", point)
        # "completed" is written with the rotation's state in one transaction: no step.
        for point in [*ROTATION_START, *_steps("key.rotation.old_key_deleted", "DELETE")]
    ),
]


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def _operation(flow: str, user: str) -> dict:
    key_id = seeded_key_id(INFERENCE_KEY)
    return {
        "create": {"op": "create", "description": NEW_DESCRIPTION},
        "update": {"op": "update", "key_id": key_id, "description": "renamed by a dead worker"},
        "delete": {"op": "delete", "key_id": key_id},
        "rotate-grace": {"op": "rotate", "key_id": key_id, "grace": "24h"},
        "rotate-now": {"op": "rotate", "key_id": key_id, "grace": "now"},
    }[flow] | {"user": user}


def _run_child(operation: dict, *, point: str, served: str, admin_key: str):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "VENICE_", "REDIS_", "PORTAL_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=_database_url(),
        VENICE_API_KEY=admin_key,
        VENICE_API_BASE=served,
        VENICE_SANDBOX_STATE_FILE="",
        PORTAL_REQUIRE_MFA="",
        PORTAL_FAULT_POINT=point,
    )
    return subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(operation)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@postgres_only
@pytest.mark.django_db(transaction=True)  # the child must see what this test commits
@pytest.mark.parametrize(("flow", "point"), CASES, ids=[f"{f}-{p}" for f, p in CASES])
def test_a_crash_at_any_step_leaves_nothing_unresolved(
    transactional_db, settings, sandbox, served, flow, point
):
    settings.VENICE_CACHE_TTL = 0  # the child changes Venice behind this process's cache
    admin = UserFactory(username="crash-admin", role=ADMINISTRATOR)
    old = seeded_key_id(INFERENCE_KEY)
    venice = VeniceClient(cache_ttl=0)
    before = {key.id: key for key in venice.api_keys.list()}

    child = _run_child(
        _operation(flow, admin.username), point=point, served=served, admin_key=sandbox.admin_key
    )
    assert child.returncode == -signal.SIGKILL, (
        f"the child did not die at {point}: {child.returncode}\n{child.stdout}{child.stderr}"
    )

    # What the operator's machine does next: the leases of a dead worker run out (5 minutes,
    # moved on here), cron reconciles and finishes, a person presses Resume where offered.
    Rotation.objects.filter(lease_until__isnull=False).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    call_command("reconcile_audit", "--older-than", "0s", stdout=StringIO())
    call_command("finish_rotations", stdout=StringIO(), stderr=StringIO())
    context = audit_context_for_command(admin, command="crash-harness")
    for rotation in Rotation.objects.all():
        assert rotation.state not in (RotationState.STARTED, RotationState.REPLACEMENT_CREATED) or (
            rotation.resumable and rotation.abortable
        ), f"rotation {rotation} is stuck without Resume/Abort"
        if rotation.resumable:
            outcome = rotation_resume(context=context, rotation_id=rotation.pk)
            assert outcome.ok, outcome.error
    call_command("reconcile_audit", "--older-than", "0s", stdout=StringIO())

    after = {key.id: key for key in venice.api_keys.list()}
    added = [key for key_id, key in after.items() if key_id not in before]
    pending = AuditEvent.objects.filter(outcome=AuditOutcome.PENDING)
    assert not pending.exists(), [(e.action, e.details) for e in pending]
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()

    if flow == "create":
        # Created once or not at all; when created, its record says so.
        assert len(added) <= 1, added
        created = AuditEvent.objects.get(action="key.created")
        if added:
            assert (created.key_id, created.outcome) == (added[0].id, AuditOutcome.SUCCEEDED)
        else:
            assert created.outcome == AuditOutcome.FAILED
    elif flow == "update":
        assert not added
        updated = AuditEvent.objects.get(action="key.updated")
        renamed = after[old].description == "renamed by a dead worker"
        assert updated.outcome == (AuditOutcome.SUCCEEDED if renamed else AuditOutcome.FAILED)
    elif flow == "delete":
        assert not added
        deleted = AuditEvent.objects.get(action="key.deleted")
        assert deleted.outcome == (AuditOutcome.FAILED if old in after else AuditOutcome.SUCCEEDED)
    elif not Rotation.objects.exists():
        # Died after recording the intent, before the rotation's row: nothing happened.
        assert point == "audit.key.rotation.started.pending"
        assert not added and old in after
        started = AuditEvent.objects.get(action="key.rotation.started")
        assert started.outcome == AuditOutcome.FAILED
    else:
        rotation = Rotation.objects.get()
        # One replacement at Venice, the rotation's own; a secret lost in the crash was
        # deleted with its key, never left working.
        assert [key.id for key in added] == [rotation.new_key_id], (rotation, added)
        expected = RotationState.GRACE if flow == "rotate-grace" else RotationState.COMPLETED
        assert rotation.state == expected, rotation
        assert (old in after) == (flow == "rotate-grace")
