from django.core.management.base import BaseCommand, CommandError

from accounts.selectors.audit import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain: every finished record, in the order it was sealed, "
        "must match its hash and link to the one before. Changes nothing. Exits 1 and names "
        "the first broken record when the chain does not hold."
    )

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if report.pending:
            self.stdout.write(
                f"{report.pending} pending record(s) are not sealed yet "
                "(reconcile_audit resolves those older than a few minutes)."
            )
        if report.intact:
            self.stdout.write(f"Head hash: {report.head_hash}")
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.count} records."))
            return
        where = (
            f"at record #{report.broken.pk} (sequence {report.broken.sequence}, "
            f"{report.broken.action}, {report.broken.time:%Y-%m-%d %H:%M:%S} UTC)"
            if report.broken is not None
            else f"after record sequence {report.count}"
        )
        raise CommandError(
            f"Audit chain broken {where}: {report.problem}. "
            f"The {report.count} records before it are intact.",
            returncode=1,
        )
