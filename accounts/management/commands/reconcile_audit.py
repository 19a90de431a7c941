import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from accounts.services.audit import audit_reconcile
from accounts.venice import VeniceError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "minutes"}


def duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 2h or 1d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Finish audit records left pending (a crash or timeout between the record and the "
        "outcome) that are older than --older-than, by checking Venice's key list: each becomes "
        "succeeded or failed, with a note; those that cannot be decided stay pending. Exits 1 "
        "when Venice cannot be asked or some records still need a person."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=duration,
            default=timedelta(minutes=5),
            help="Only records pending for longer than this (30s, 5m, 2h, 1d; default 5m): "
            "younger ones may still be finished by the request that opened them.",
        )

    def handle(self, *args, older_than, **options):
        try:
            result = audit_reconcile(older_than=older_than)
        except VeniceError as error:
            raise CommandError(
                f"Could not fetch Venice's key list, nothing was changed: {error.user_message}",
                returncode=1,
            ) from error
        summary = (
            f"Reconciled {result.checked} pending record(s) older than {older_than}: "
            f"{result.succeeded} succeeded, {result.failed} failed, "
            f"{result.unresolved} left pending."
        )
        if result.unresolved:
            raise CommandError(summary + " Those need a person: see /audit/?outcome=pending.")
        self.stdout.write(summary)
