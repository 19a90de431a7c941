from django.core.management.base import BaseCommand, CommandError

from accounts.selectors.audit_chain import audit_chain_export


class Command(BaseCommand):
    help = (
        "Write the audit log's sealed records after --after SEQUENCE, up to the chain's head, "
        "as JSON Lines in their canonical form (docs/audit-format.md), to --output or standard "
        "output. Changes nothing. The summary (the head to check the file against, and the "
        "--after of the next incremental export) goes to standard error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--after",
            type=int,
            default=0,
            metavar="SEQUENCE",
            help="export the records after this sequence (default 0: from the first)",
        )
        parser.add_argument("--format", choices=["jsonl"], default="jsonl")
        parser.add_argument(
            "--output", metavar="FILE", help="write here instead of standard output"
        )

    def handle(self, *args, **options):
        if options["after"] < 0:
            raise CommandError("--after must be 0 or more.")
        export = audit_chain_export(after=options["after"])
        if options["output"]:
            with open(options["output"], "w", encoding="ascii", newline="\n") as out:
                for text in export.lines:
                    out.write(text)
        else:
            for text in export.lines:
                self.stdout.write(text, ending="")
        count = export.head_sequence - export.after
        self.stderr.write(
            f"Exported {count} records (sequence {export.after + 1}..{export.head_sequence}); "
            f"previous hash {export.previous_hash}; head hash {export.head_hash}; next: "
            f"--after {export.head_sequence}"
        )
