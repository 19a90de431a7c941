from django.core.management.base import BaseCommand, CommandError

from accounts.selectors.audit_chain import ChainBreak
from accounts.services.audit_checkpoints import audit_chain_check

# Breaks listed in the error; the count says how many there are in all.
BREAKS_SHOWN = 20


def _where(chain_break: ChainBreak) -> str:
    if chain_break.record_id is None:
        return "at the end of the chain"
    return (
        f"record #{chain_break.record_id} (sequence {chain_break.sequence}, "
        f"{chain_break.action}, {chain_break.time:%Y-%m-%d %H:%M:%S} UTC)"
    )


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain: every finished record, in the order it was sealed, "
        "must match its hash and link to the one before. With AUDIT_CHECKPOINT_KEY set, only "
        "the records sealed since the last signed checkpoint are read, and an intact run signs "
        "a new one; --full reads every record. Writes nothing but that checkpoint. Exits 1 "
        "when the chain does not hold, with how many records are broken and the first of them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="check every record from the first, not only those after the last checkpoint",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes sharing a walk of 100,000 records or more (default: one per CPU)",
        )

    def handle(self, *args, **options):
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        check = audit_chain_check(full=options["full"], workers=options["workers"])
        report = check.report
        if report.pending:
            self.stdout.write(
                f"{report.pending} pending record(s) are not sealed yet "
                "(reconcile_audit resolves those older than a few minutes)."
            )
        if check.unverifiable is not None:
            self.stdout.write(
                f"The newest checkpoint (#{check.unverifiable.pk}) is not signed with "
                "AUDIT_CHECKPOINT_KEY (the key changed, or it was forged); every record was read."
            )
        if not check.signed:
            self.stdout.write(
                "AUDIT_CHECKPOINT_KEY is not set: every record was checked, and no checkpoint "
                "was signed for the next run."
            )
        if report.intact:
            if report.started_after:
                scope = (
                    f"{report.count} records after the checkpoint at sequence "
                    f"{report.started_after}"
                )
            else:
                scope = f"{report.count} records"
            if report.processes > 1:
                scope += f", read by {report.processes} processes"
            self.stdout.write(f"Head hash: {report.head_hash}")
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {scope}."))
            return
        shown = report.breaks[:BREAKS_SHOWN]
        places = "place" if report.break_count == 1 else "places"
        lines = [
            f"Audit chain broken in {report.break_count} {places} "
            f"({report.count} sealed records checked):",
            *(f"  {_where(chain_break)}: {chain_break.problem}" for chain_break in shown),
        ]
        if report.break_count > len(shown):
            lines.append(f"  ... and {report.break_count - len(shown)} more.")
        raise CommandError("\n".join(lines), returncode=1)
