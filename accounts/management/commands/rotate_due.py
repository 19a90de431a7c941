from django.core.management.base import BaseCommand, CommandError

from accounts.services.rotation_schedules import rotate_due, schedules_due


class Command(BaseCommand):
    help = (
        "Rotate the keys whose rotation schedule is due (see rotation_schedule), each as its "
        "schedule's owner, with the new secret handed to the schedule's sink. Safe to run from "
        "cron hourly, also concurrently. With --dry-run, only list what is due."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List, rotate nothing.")

    def handle(self, *args, dry_run, **options):
        if dry_run:
            due = schedules_due()
            for schedule in due:
                self.stdout.write(
                    f"{schedule.key_id}: due since {schedule.next_due_at:%Y-%m-%d %H:%M} UTC; "
                    f"would rotate as {schedule.owner_username}."
                )
            self.stdout.write(f"{len(due)} schedule(s) due." if due else "Nothing is due.")
            return
        runs = rotate_due()
        for run in runs:
            if run.rotated:
                self.stdout.write(run.message)
            else:
                self.stderr.write(f"{run.schedule.key_id}: not rotated: {run.message}")
        failed = sum(not run.rotated for run in runs)
        self.stdout.write(
            f"{len(runs) - failed} key(s) rotated, {failed} not." if runs else "Nothing is due."
        )
        if failed:
            raise CommandError(f"{failed} scheduled rotation(s) did not run; see above.")
