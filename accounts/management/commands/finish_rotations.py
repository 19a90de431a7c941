import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.users import active_user
from accounts.services.audit import audit_context_for_command
from accounts.services.policies import ApprovalRequired, PolicyForbids
from accounts.services.rotation import (
    RotationError,
    grace_from_text,
    is_portal_key,
    may_rotate,
    parse_duration,
    rotation_finish_due,
    rotation_start,
    rotations_policy_due,
)
from accounts.services.rotation_watch import rotations_finish_quiet
from accounts.venice import VeniceError


class Command(BaseCommand):
    help = (
        "Delete the old keys of rotations whose grace period has ended, recording each in the "
        "audit log; note every grace rotation's traffic (the keys' lastUsedAt), and delete "
        "early the old keys of rotations set to finish when quiet that have gone quiet. "
        "Idempotent and safe to run from cron every minute, also concurrently. "
        "With --older-than, list the keys older than a rotation policy instead; with --apply "
        "too, rotate them (secrets written to --secrets-dir)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--actor",
            help="The portal user the audit log names (default: the system, for cron).",
        )
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="A rotation policy such as 90d: list keys created longer ago than this.",
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help="With --older-than: rotate the listed keys (needs --actor and --secrets-dir).",
        )
        parser.add_argument(
            "--grace", default="24h", help="With --apply: the old keys' grace period (24h)."
        )
        parser.add_argument(
            "--secrets-dir",
            metavar="DIR",
            help="With --apply: write each new secret to DIR/<new key id>.key (mode 600).",
        )

    def handle(self, *args, actor, older_than, apply, grace, secrets_dir, **options):
        user = active_user(actor) if actor else None
        context = audit_context_for_command(user, command="finish_rotations")
        if older_than:
            return self._policy(context, user, older_than, apply, grace, secrets_dir)
        if apply:
            raise CommandError("--apply goes with --older-than.")

        try:
            quiet = rotations_finish_quiet(context=context)
        except VeniceError as error:
            self.stderr.write(f"Could not read the keys' traffic: {error.user_message}")
            quiet = []
        for rotation in quiet:
            self.stdout.write(
                f"Rotation {rotation.pk}: the old key {rotation.old_key_id} "
                f"(…{rotation.old_last6}) went quiet; deleted early, completed."
            )
        outcomes = rotation_finish_due(context=context)
        failed = 0
        for outcome in outcomes:
            rotation = outcome.rotation
            if outcome.ok:
                self.stdout.write(
                    f"Rotation {rotation.pk}: deleted old key {rotation.old_key_id} "
                    f"(…{rotation.old_last6}); completed."
                )
            else:
                failed += 1
                self.stderr.write(
                    f"Rotation {rotation.pk}: could not delete old key {rotation.old_key_id}: "
                    f"{outcome.error.user_message}"
                )
        self.stdout.write(
            f"{len(outcomes) - failed} rotation(s) finished, {failed} failed."
            if outcomes
            else "No grace period has ended; nothing to do."
        )
        if failed:
            raise CommandError(
                f"{failed} rotation(s) failed; resume or abort them on the key page."
            )

    def _policy(self, context, user, older_than, apply, grace, secrets_dir):
        try:
            age = parse_duration(older_than)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if apply and (user is None or not secrets_dir):
            raise CommandError("--apply needs --actor and --secrets-dir.")
        now = timezone.now()
        try:
            keys = rotations_policy_due(older_than=age, now=now)
        except VeniceError as error:
            raise CommandError(error.user_message) from None
        for key in keys:
            self.stdout.write(
                f"{key.id}  {key.api_key_type:<9}  created {key.created_at:%Y-%m-%d}  "
                f"…{key.last6}  {key.description}"
            )
        if not apply:
            self.stdout.write(
                f"{len(keys)} key(s) older than {older_than}; rerun with --apply to rotate them."
            )
            return

        directory = Path(secrets_dir)
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        try:
            grace_choice, grace_ends_at = grace_from_text(grace, now=now)
        except ValueError as error:
            raise CommandError(str(error)) from None
        rotated = failed = skipped = 0
        for key in keys:
            if is_portal_key(key):
                skipped += 1
                self.stdout.write(
                    f"{key.id}: skipped: the portal's own ADMIN key; rotate it by hand and put "
                    f"the new key in VENICE_API_KEY."
                )
                continue
            if not may_rotate(user, key.api_key_type):
                skipped += 1
                self.stdout.write(f"{key.id}: skipped: {user.get_username()} may not rotate it.")
                continue
            try:
                outcome = rotation_start(
                    context=context,
                    key_id=key.id,
                    grace=grace_choice,
                    grace_ends_at=grace_ends_at,
                    now=now,
                )
            except (RotationError, VeniceError, ApprovalRequired, PolicyForbids) as error:
                failed += 1
                message = getattr(error, "user_message", None) or str(error)
                self.stderr.write(f"{key.id}: not rotated: {message}")
                continue
            if outcome.secret:
                path = directory / f"{outcome.rotation.new_key_id}.key"
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(f"{outcome.secret}\n")
                self.stdout.write(f"{key.id}: replaced by {outcome.rotation.new_key_id} ({path}).")
            if outcome.ok:
                rotated += 1
            else:
                failed += 1
                self.stderr.write(f"{key.id}: rotation failed: {outcome.error.user_message}")
        self.stdout.write(f"{rotated} key(s) rotated, {skipped} skipped, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} rotation(s) failed.")
