"""No secret — a webhook URL's path, a signing secret, a Venice key — in a log line, an audit
record, a page or the database's plain text, whatever happens to the deliveries."""

import json
import re

import pytest
from django.urls import reverse

from accounts.models import AlertChannel, AlertKind, AuditEvent
from tests.fixtures.webhooks import SECRET_PATH

pytestmark = pytest.mark.django_db

ALERT_PAGES = (
    "alerts:rules",
    "alerts:channels",
    "alerts:log",
    "alerts:notifications",
    "alerts:new",
    "alerts:channel_new",
)


def test_webhook_urls_and_signing_secrets_never_leave_the_encrypted_columns(
    client,
    ada,
    fran,
    kim,
    auditor,
    webhook_receiver,
    check_alerts_command,
    sandbox,
    alert_clock,
    all_logs,
    database_text,
    capsys,
):
    from datetime import timedelta

    client.force_login(ada)
    secrets = {"url path": SECRET_PATH.rsplit("/", 1)[-1], "venice key": sandbox.admin_key}
    created_pages = []
    for kind in ("webhook", "slack", "teams"):
        response = client.post(
            reverse("alerts:channel_new"),
            {"kind": kind, "name": f"{kind} hook", "url": webhook_receiver.url},
        )
        assert response.status_code == 200
        created_pages.append(response.content.decode())
    signing = re.search(r'id="signing-secret"[^>]*>(whsec_[^<]+)<', created_pages[0]).group(1)
    secrets["signing secret"] = signing
    webhook_receiver.secret = signing
    channels = list(AlertChannel.objects.order_by("pk"))
    response = client.post(
        reverse("alerts:new_kind", args=["balance_below"]),
        {
            "currency": "USD",
            "amount": "50",
            "notify_users": [ada.pk, fran.pk],
            "email_users": "on",
            "channels": [c.pk for c in channels],
            "name": "Low",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    sandbox.usd_balance = 3.0
    # Every way a delivery goes: a failure, a hang, success, a test, and a 410.
    webhook_receiver.answer(500, "hang")
    check_alerts_command()
    alert_clock.advance(timedelta(minutes=5))
    check_alerts_command()
    for channel in channels:
        client.post(reverse("alerts:channel_test", args=[channel.pk]))
    webhook_receiver.answer(410)
    client.post(reverse("alerts:channel_test", args=[channels[0].pk]))
    assert len(webhook_receiver.received) >= 7
    assert all(
        r.signature_ok for r in webhook_receiver.received if r.headers.get("x-portal-signature")
    )

    pages = []
    for user in (ada, fran, kim, auditor):
        client.force_login(user)
        for name in ALERT_PAGES:
            pages.append(client.get(reverse(name)).content.decode())
        for event_id in range(1, 12):
            response = client.get(reverse("alerts:event", args=[event_id]))
            if response.status_code == 200:
                pages.append(response.content.decode())
    pages.append(created_pages[1] + created_pages[2])  # Slack's and Teams' have no secret
    records = json.dumps(
        [
            {field.name: str(getattr(event, field.name)) for field in AuditEvent._meta.fields}
            for event in AuditEvent.objects.all()
        ]
    )
    assert AuditEvent.objects.filter(action__startswith="alert.").count() >= 5
    logs = "\n".join(record.getMessage() for record in all_logs.records)
    output = capsys.readouterr()
    stored = database_text()
    for what, secret in secrets.items():
        assert secret not in logs, f"{what} in the logs"
        assert secret not in records, f"{what} in an audit record"
        assert secret not in output.out + output.err, f"{what} in a command's output"
        assert secret not in stored, f"{what} in the database's plain text"
        for page in pages:
            assert secret not in page, f"{what} on a page"
    # ...but the first page after creating a webhook channel shows its signing secret, once.
    assert signing in created_pages[0]
    assert webhook_receiver.url not in created_pages[0]


def test_a_failing_webhooks_error_names_no_url(make_rule, make_channel, check_alerts, sandbox):
    # Nothing listens on this port: the connection error's own text would name the URL.
    channel, _ = make_channel("webhook", url=f"http://127.0.0.1:9{SECRET_PATH}")
    make_rule(AlertKind.BALANCE_BELOW, notify=[], channels=[channel])
    sandbox.usd_balance = 1.0
    check_alerts()
    delivery = channel.deliveries.get()
    assert delivery.last_error == "could not connect, or the connection dropped"
    assert SECRET_PATH not in delivery.tries.get().error
