from django.core.management.base import BaseCommand, CommandError

from accounts.selectors.audit import ChainBreak, audit_chain_verify

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
        "must match its hash and link to the one before. Changes nothing. Exits 1 when the "
        "chain does not hold, with how many records are broken and the first of them."
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
