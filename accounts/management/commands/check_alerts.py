from django.core.management.base import BaseCommand, CommandError

from accounts.services.alerts import alerts_check
from accounts.services.audit import audit_context_for_command


class Command(BaseCommand):
    help = (
        "Evaluate every alert rule against the Venice account, fire what became true (once "
        "per episode), and send what is owed by email, Slack, Teams, webhooks and the portal's "
        "bell, retrying failed deliveries from earlier runs. For cron, every 5 minutes; safe "
        "to run on several machines at once. Exits 1 when Venice could not be read, a rule "
        "could not be evaluated or a delivery failed for good."
    )

    def handle(self, *args, **options):
        report = alerts_check(context=audit_context_for_command(command="check_alerts"))
        for event in report.fired:
            self.stdout.write(f"Fired: [{event.severity}] {event.title}")
        for name in report.deliveries.disabled_channels:
            self.stdout.write(f"Switched off channel {name}: its webhook is gone (410).")
        sent = report.deliveries
        if report.evaluated:
            summary = f"{report.rules} rule(s) checked, {len(report.fired)} fired"
            if report.skipped:
                summary += f", {len(report.skipped)} not checked (Venice could not be read)"
        else:
            summary = "Another check_alerts run is evaluating the rules; this one only sent"
        summary += f"; {sent.sent} sent, {sent.retrying} to retry, {sent.failed} failed."
        self.stdout.write(summary)
        problems = []
        if report.upstream_error:
            problems.append(f"Venice could not be read: {report.upstream_error}")
        if report.broken:
            problems.append(f"Rule(s) could not be evaluated: {', '.join(report.broken)}")
        if sent.failed:
            problems.append(f"{sent.failed} delivery(ies) failed for good; see /alerts/log/.")
        if problems:
            raise CommandError("\n".join(problems))
