import os
from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.users import active_user
from accounts.models import ChangeRequest
from accounts.services.approvals import ApprovalError, change_request_execute
from accounts.services.audit import audit_context_for_command
from accounts.services.policies import ApprovalRequired, PolicyForbids
from accounts.services.rotation import (
    RotationError,
    grace_from_text,
    rotation_start,
)
from accounts.venice import UNSET, VeniceError

DESTINATION_REQUIRED = (
    "Say where the new secret goes: --secret-to FILE (created with mode 600) or "
    "--print-secret. Without one, the replacement's secret would be lost."
)


class Command(BaseCommand):
    help = (
        "Rotate a Venice key: create a replacement with the same settings, then delete the old "
        "key now (--grace now) or let it expire after a grace period (finish_rotations deletes "
        "it then). Audited as ACTOR. The new secret goes only where --secret-to or "
        "--print-secret says."
    )

    def add_arguments(self, parser):
        parser.add_argument("key_id", help="The id of the key to rotate.")
        parser.add_argument(
            "--grace",
            required=True,
            help="How long the old key keeps working: now, 1h, 24h, 7d, another duration "
            "(90m, 3d) or an ISO date/time.",
        )
        parser.add_argument("--actor", required=True, help="The portal user the audit log names.")
        parser.add_argument(
            "--expires-at",
            help="The new key's expiry: YYYY-MM-DD or an ISO date/time (UTC), or 'never'; "
            "default: as long a life as the old key was given, counted from now.",
        )
        parser.add_argument(
            "--secret-to",
            metavar="FILE",
            help="Write the new secret to FILE, created with mode 600; an existing FILE is "
            "never overwritten.",
        )
        parser.add_argument(
            "--approved-by",
            type=int,
            metavar="REQUEST_ID",
            help="Make the rotation an approved change request holds (its settings are the "
            "request's; --actor must be who asked for it). A rotation the key policies hold "
            "for approval fails without it, naming the policy.",
        )
        parser.add_argument(
            "--print-secret",
            action="store_true",
            help="Print the new secret on standard output (think of your shell's scrollback).",
        )

    def handle(
        self,
        *args,
        key_id,
        grace,
        actor,
        expires_at,
        secret_to,
        print_secret,
        approved_by=None,
        **options,
    ):
        if not secret_to and not print_secret:
            raise CommandError(DESTINATION_REQUIRED)
        user = active_user(actor)
        now = timezone.now()
        try:
            grace_choice, grace_ends_at = grace_from_text(grace, now=now)
        except ValueError as error:
            raise CommandError(str(error)) from None
        new_expires_at = _expiry(expires_at) if expires_at else UNSET

        # Open the file before anything changes: a path that exists or cannot be written
        # stops the command while the old key is still untouched.
        secret_file = _create_secret_file(secret_to) if secret_to else None
        wrote_secret = False
        context = audit_context_for_command(user, command="rotate_key")
        try:
            try:
                if approved_by is not None:
                    outcome = _approved_rotation(context, approved_by, key_id)
                else:
                    outcome = rotation_start(
                        context=context,
                        key_id=key_id,
                        grace=grace_choice,
                        grace_ends_at=grace_ends_at,
                        new_expires_at=new_expires_at,
                        now=now,
                    )
            except ApprovalRequired as held:
                raise CommandError(f"{held.message} {APPROVAL_HINT}") from None
            except (RotationError, VeniceError, PolicyForbids, ApprovalError) as error:
                raise CommandError(getattr(error, "user_message", None) or str(error)) from None
            if outcome.secret and secret_file is not None:
                os.write(secret_file, f"{outcome.secret}\n".encode())
                wrote_secret = True
        finally:
            if secret_file is not None:
                os.close(secret_file)
                if not wrote_secret:
                    os.unlink(secret_to)

        rotation = outcome.rotation
        if outcome.secret and print_secret:
            self.stdout.write(outcome.secret)
        if wrote_secret:
            self.stdout.write(f"The new secret is in {secret_to} (mode 600).")
        if not outcome.ok:
            raise CommandError(
                f"Rotation {rotation.pk} of key {rotation.old_key_id} failed while "
                f"{_step_label(rotation.failed_step)}: {outcome.error.user_message} "
                f"Resume or abort it on the key's page."
            )
        self.stdout.write(_summary(rotation))


APPROVAL_HINT = (
    "Ask for it in the portal (the key's Rotate page), and once approved run this again with "
    "--approved-by REQUEST_ID."
)
NOT_THIS_KEYS_ROTATION = "Change request {id} is not a rotation of key {key_id}."


def _approved_rotation(context, request_id: int, key_id: str):
    """The rotation an approved change request holds, made now by its requester."""
    change = ChangeRequest.objects.filter(pk=request_id).first()
    if change is None or change.action != ChangeRequest.Action.ROTATE or change.key_id != key_id:
        raise ApprovalError(NOT_THIS_KEYS_ROTATION.format(id=request_id, key_id=key_id))
    made = change_request_execute(context=context, request_id=request_id)
    if made.rotation is None:
        raise ApprovalError(made.error)
    return made.rotation


def _expiry(value: str) -> datetime | date | None:
    if value.strip().lower() == "never":
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--expires-at {value!r} is not a date (YYYY-MM-DD) or an ISO date and time."
        ) from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def _create_secret_file(path: str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(f"{path} already exists; it is never overwritten.") from None
    except OSError as error:
        raise CommandError(f"Cannot create {path}: {error.strerror}.") from None


def _step_label(step: str) -> str:
    return {
        "started": "creating the replacement",
        "replacement_created": "retiring the old key",
        "grace": "deleting the old key",
    }.get(step, step)


def _summary(rotation) -> str:
    head = (
        f"Rotation {rotation.pk}: key {rotation.old_key_id} (…{rotation.old_last6}) replaced by "
        f"{rotation.new_key_id} (…{rotation.new_last6})"
    )
    if rotation.state == "completed":
        return f"{head}; the old key is deleted."
    return (
        f"{head}; the old key stops working at {rotation.retire_at:%Y-%m-%d %H:%M} UTC and "
        f"finish_rotations deletes it then."
    )
