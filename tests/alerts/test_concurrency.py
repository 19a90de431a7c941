"""Several machines running check_alerts at once send each notification exactly once: real
processes, one PostgreSQL database, one shared sandbox state file, one SMTP server and one
webhook receiver between them."""

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import AlertAttempt, AlertDelivery, AlertEvent, AlertKind
from tests.fixtures.audit import postgres_only

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3


def _database_url() -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def _rules(make_rule, channel, fran, kim):
    make_rule(AlertKind.BALANCE_BELOW, notify=[fran], channels=[channel], by=fran)
    make_rule(AlertKind.KEY_UNUSED, days=30, notify=[kim], channels=[channel], by=kim)
    make_rule(AlertKind.KEY_EXPIRING, days=14, notify=[kim, fran], channels=[channel], by=kim)


def _run_at_once(smtp_server, state_file) -> list[tuple[str, str]]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "VENICE_SANDBOX_STATE_FILE": str(state_file),
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "PORTAL_WEBHOOK_ALLOW_HTTP": "1",
        "PORTAL_REQUIRE_MFA": "",
        "DJANGO_DEBUG": "1",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    env.pop("VENICE_API_KEY", None)
    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "check_alerts"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    return outputs


def _assert_each_sent_once(smtp_server, webhook_receiver):
    events = list(AlertEvent.objects.all())
    # One balance, three unused keys, four expiring ones (the seeded account).
    assert Counter(event.kind for event in events) == {
        AlertKind.BALANCE_BELOW: 1,
        AlertKind.KEY_UNUSED: 3,
        AlertKind.KEY_EXPIRING: 4,
    }
    # Every email once: fran for the balance and the expiring keys, kim for unused and expiring.
    assert Counter(m["To"] for m in smtp_server.messages) == {
        "fran@example.com": 1 + 4,
        "kim@example.com": 3 + 4,
    }
    assert len(smtp_server.messages) == len({m["Subject"] + m["To"] for m in smtp_server.messages})
    # Every firing once to the webhook, signed.
    ids = [received.json["id"] for received in webhook_receiver.received]
    assert sorted(ids) == sorted(str(event.public_id) for event in events)
    assert all(received.signature_ok for received in webhook_receiver.received)
    assert set(AlertDelivery.objects.values_list("state", flat=True)) == {"sent"}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_check_alerts_processes_at_once_send_each_notification_exactly_once(
    make_rule, make_channel, smtp_server, webhook_receiver, sandbox, tmp_path, fran, kim
):
    sandbox.usd_balance = 5.0
    state_file = tmp_path / "sandbox.json"
    sandbox.save(state_file)
    channel, secret = make_channel("webhook", url=webhook_receiver.url, name="Receiver")
    webhook_receiver.secret = secret
    _rules(make_rule, channel, fran, kim)
    outputs = _run_at_once(smtp_server, state_file)
    # One of them evaluated the rules (the lease); the others only sent.
    assert sum("rule(s) checked" in out for out, _ in outputs) >= 1
    _assert_each_sent_once(smtp_server, webhook_receiver)
    assert AlertAttempt.objects.count() == AlertDelivery.objects.count()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_processes_at_once_retry_each_owed_delivery_exactly_once(
    make_rule, make_channel, smtp_server, webhook_receiver, sandbox, tmp_path, fran, kim, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services.alerts import alerts_check
    from accounts.services.audit import audit_context_for_command

    sandbox.usd_balance = 5.0
    channel, secret = make_channel("webhook", url=webhook_receiver.url, name="Receiver")
    webhook_receiver.secret = secret
    _rules(make_rule, channel, fran, kim)
    # A first run whose every delivery fails: the SMTP server and the receiver are down.
    settings.EMAIL_PORT = 9
    webhook_receiver.answer(*[503] * 8)
    report = alerts_check(context=audit_context_for_command(command="check_alerts"))
    assert report.deliveries.retrying == 20 and len(report.fired) == 8
    webhook_receiver.received.clear()
    # Their retries are due now; every process wants to send all twenty.
    AlertDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    state_file = tmp_path / "sandbox.json"
    sandbox.save(state_file)
    outputs = _run_at_once(smtp_server, state_file)
    sent = [int(re.search(r"; (\d+) sent", out).group(1)) for out, _ in outputs]
    assert sum(sent) == 20  # however the processes shared them out
    _assert_each_sent_once(smtp_server, webhook_receiver)
    assert AlertAttempt.objects.count() == 2 * AlertDelivery.objects.count()
