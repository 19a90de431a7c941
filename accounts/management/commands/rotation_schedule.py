from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.users import active_user
from accounts.models import RotationSchedule
from accounts.presentation.dates import span
from accounts.services.audit import audit_context_for_command
from accounts.services.rotation import parse_duration
from accounts.services.rotation_schedules import (
    ScheduleError,
    schedule_remove,
    schedule_set,
    target_fingerprint,
)
from accounts.services.secret_sinks import sink_target
from accounts.venice import VeniceError


class Command(BaseCommand):
    help = (
        "Set, remove or list the keys' rotation schedules. A schedule rotates its key every "
        "--every as its owner (--actor), and hands the new secret to a file (written 0600, "
        "atomically; the previous secret stays in FILE.previous until the old key is gone) or "
        "to a command's standard input. rotate_due (cron, hourly) runs them."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        set_ = actions.add_parser("set", help="Create or change a key's schedule.")
        set_.add_argument("key_id")
        set_.add_argument("--actor", required=True, help="The owner: it rotates as this user.")
        set_.add_argument("--every", required=True, help="How often, such as 30d or 90d.")
        set_.add_argument(
            "--grace", default="24h", help="The old key's grace period: 1h, 24h (default), 7d."
        )
        sink = set_.add_mutually_exclusive_group(required=True)
        sink.add_argument("--file", metavar="PATH", help="Write the new secret to PATH.")
        sink.add_argument(
            "--command",
            metavar="COMMAND",
            help="Run COMMAND (no shell) with the new secret on its standard input; a non-zero "
            "exit aborts the rotation and leaves the old key as it was.",
        )
        sink.add_argument(
            "--webhook",
            metavar="URL",
            help="POST the new secret to URL (https:// only) in a body signed with a secret "
            "shown once here; an answer other than 2xx aborts the rotation.",
        )
        set_.add_argument(
            "--finish-when-quiet",
            action="store_true",
            help="Delete the old key before the grace ends once it has gone quiet.",
        )
        set_.add_argument("--quiet-period", default="1h", help="With --finish-when-quiet (1h).")
        set_.add_argument(
            "--first-due",
            metavar="WHEN",
            help="The first rotation's time (ISO, UTC); default: --every from now.",
        )
        remove = actions.add_parser("remove", help="Remove a key's schedule.")
        remove.add_argument("key_id")
        remove.add_argument("--actor", required=True, help="The portal user the audit log names.")
        actions.add_parser("list", help="List the schedules.")

    def handle(self, *args, action, **options):
        if action == "list":
            return self._list()
        context = audit_context_for_command(active_user(options["actor"]))
        try:
            if action == "remove":
                schedule_remove(context=context, key_id=options["key_id"])
                self.stdout.write(f"Removed the schedule of {options['key_id']}.")
                return
            sink, target = _sink(options)
            saved = schedule_set(
                context=context,
                key_id=options["key_id"],
                every=_duration(options["every"]),
                grace=options["grace"],
                sink=sink,
                target=target,
                finish_when_quiet=options["finish_when_quiet"],
                quiet_period=_duration(options["quiet_period"]),
                first_due_at=_moment(options["first_due"]),
            )
        except ScheduleError as error:
            raise CommandError(error.message) from None
        except VeniceError as error:
            raise CommandError(error.user_message) from None
        schedule = saved.schedule
        self.stdout.write(
            f"{schedule.key_id} rotates every {span(schedule.every)} as "
            f"{schedule.owner_username}; next on {schedule.next_due_at:%Y-%m-%d %H:%M} UTC."
        )
        if saved.new_signing_secret:
            self.stdout.write(
                "The webhook's signing secret, shown only now (put it in the receiver; it "
                f"checks X-Portal-Signature with it): {saved.new_signing_secret}"
            )

    def _list(self):
        schedules = RotationSchedule.objects.order_by("next_due_at")
        now = timezone.now()
        for schedule in schedules:
            flag = "  OVERDUE" if schedule.is_overdue(now) else ""
            self.stdout.write(
                f"{schedule.key_id}  every {span(schedule.every)}  grace {schedule.grace}  "
                f"next {schedule.next_due_at:%Y-%m-%d %H:%M}  {schedule.sink} "
                f"{target_fingerprint(sink_target(schedule))}  as {schedule.owner_username}"
                f"{flag}"
                + (f"\n    last error: {schedule.last_error}" if schedule.last_error else "")
            )
        if not schedules:
            self.stdout.write("No rotation schedules.")


def _sink(options) -> tuple[str, str]:
    Sink = RotationSchedule.Sink
    if options["file"]:
        return Sink.FILE, options["file"]
    if options["webhook"]:
        return Sink.WEBHOOK, options["webhook"]
    return Sink.COMMAND, options["command"]


def _duration(text: str):
    try:
        return parse_duration(text)
    except ValueError as error:
        raise CommandError(str(error)) from None


def _moment(text: str | None):
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--first-due {text!r} is not an ISO date/time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
