from allauth.mfa.models import Authenticator
from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import crypto
from accounts.models import AlertChannel, RotationSchedule

# What allauth keeps encrypted (through PortalMFAAdapter): a TOTP secret, a recovery seed.
AUTHENTICATOR_FIELDS = ("secret", "seed")


class Command(BaseCommand):
    help = (
        "Rewrite every secret the portal keeps encrypted (alert webhook URLs and signing "
        "secrets, rotation schedules' secret destinations, TOTP and recovery-code seeds) with "
        "the first key of PORTAL_ENCRYPTION_KEY. Run it after putting a new key first (NEW,OLD); "
        "then the old key can be dropped. Safe to run again; sessions are not rewritten (they "
        "end within PORTAL_SESSION_MAX_AGE)."
    )

    def handle(self, *args, **options):
        self.rewritten = self.unreadable = 0
        with transaction.atomic():
            for channel in AlertChannel.objects.select_for_update():
                self._rewrite_fields(
                    channel, ("url_encrypted", "secret_encrypted"), f"Alert channel {channel.pk}"
                )
            for schedule in RotationSchedule.objects.select_for_update():
                self._rewrite_fields(
                    schedule,
                    ("sink_target_encrypted", "sink_secret_encrypted"),
                    f"Rotation schedule {schedule.pk}",
                )
            for authenticator in Authenticator.objects.select_for_update():
                self._rewrite_authenticator(authenticator)
        self.stdout.write(f"{self.rewritten} secret(s) rewritten with the first key.")
        if self.unreadable:
            raise CommandError(
                f"{self.unreadable} secret(s) could not be read: keep (or put back) the key they "
                "were encrypted with in PORTAL_ENCRYPTION_KEY."
            )

    def _rewrite_fields(self, record, fields, name):
        values = {field: getattr(record, field) for field in fields if getattr(record, field)}
        changed = [field for field in values if self._rewrite(values, field, name)]
        for field in changed:
            setattr(record, field, values[field])
        if changed:
            record.save(update_fields=changed)

    def _rewrite_authenticator(self, authenticator):
        data = dict(authenticator.data or {})
        name = f"Second factor {authenticator.pk} ({authenticator.type})"
        changed = [
            field
            for field in AUTHENTICATOR_FIELDS
            if data.get(field) and self._rewrite(data, field, name)
        ]
        if changed:
            authenticator.data = data
            authenticator.save(update_fields=["data"])

    def _rewrite(self, values: dict, field: str, name: str) -> bool:
        """Re-encrypt values[field] in place; False (and said on stderr) when no key reads it."""
        try:
            values[field] = crypto.reencrypt(values[field])
        except InvalidToken:
            self.unreadable += 1
            self.stderr.write(f"{name}: {field} cannot be read with any key given.")
            return False
        self.rewritten += 1
        return True
