"""The alert pages: rules by kind and role, channels (the secret shown once), the log, one
firing, the bell."""

import re

import pytest
from django.urls import reverse

from accounts.models import AlertChannel, AlertKind, AlertRule, AuditEvent
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

pytestmark = pytest.mark.django_db


def test_an_empty_alerts_page_offers_the_starter_rules_and_they_tell_whoever_added_them(
    client, fran
):
    client.force_login(fran)
    page = client.get(reverse("alerts:rules")).content.decode()
    assert "Add the starter rules" in page
    response = client.post(reverse("alerts:starter"))
    assert response.status_code == 302
    rules = AlertRule.objects.all()
    # Finance manages the balance and spend rules (a key's limit and a team's budget are
    # budgets) only.
    assert {rule.kind for rule in rules} == {
        AlertKind.BALANCE_BELOW,
        AlertKind.SPEND_ABOVE,
        AlertKind.KEY_LIMIT,
        AlertKind.TEAM_BUDGET,
    }
    assert all(list(rule.notify_users.all()) == [fran] and rule.email_users for rule in rules)
    assert AuditEvent.objects.filter(action="alert.rule_created").count() == rules.count()
    page = client.get(reverse("alerts:rules")).content.decode()
    assert "Add the starter rules" not in page
    assert "USD balance below $50.00" in page


def test_the_kind_picker_lists_only_the_kinds_the_role_manages(client, kim):
    client.force_login(kim)
    page = client.get(reverse("alerts:new")).content.decode()
    assert "Key near its consumption limit" in page
    assert "Balance below" not in page
    assert "Audit integrity" not in page


def test_a_finance_lead_makes_a_balance_rule_telling_them_by_email_and_slack(
    client, fran, make_channel
):
    slack, _ = make_channel("slack", url="https://hooks.slack.com/services/T0/B0/xyz", name="Slack")
    client.force_login(fran)
    url = reverse("alerts:new_kind", args=["balance_below"])
    page = client.get(url).content.decode()
    assert 'name="amount"' in page and "Members told" in page
    response = client.post(
        url,
        {
            "currency": "USD",
            "amount": "50",
            "notify_users": [fran.pk],
            "email_users": "on",
            "channels": [slack.pk],
            "name": "Low balance",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get(name="Low balance")
    assert rule.params == {"currency": "USD", "amount": "50"}
    assert list(rule.channels.all()) == [slack]
    record = AuditEvent.objects.get(action="alert.rule_created")
    assert (record.actor_username, record.details["rule"]) == ("fran", rule.pk)


def test_a_rule_that_tells_nobody_is_refused_with_the_reason(client, fran):
    client.force_login(fran)
    url = reverse("alerts:new_kind", args=["balance_below"])
    response = client.post(url, {"currency": "USD", "amount": "50", "enabled": "on"})
    assert response.status_code == 200
    assert "Choose who is told" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_a_key_rule_names_its_key_from_venices_list(client, kim, sandbox):
    client.force_login(kim)
    url = reverse("alerts:new_kind", args=["key_limit"])
    key_id = seeded_key_id(INFERENCE_KEY)
    page = client.get(url).content.decode()
    assert f'value="{key_id}"' in page
    response = client.post(
        url,
        {
            "thresholds": "90, 80",
            "scope": "key",
            "key": key_id,
            "notify_users": [kim.pk],
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = AlertRule.objects.get()
    assert rule.params["thresholds"] == [80, 90]
    assert rule.params["key_label"] == INFERENCE_KEY
    assert (
        "Usage reaches 80 %, 90 % of the limit, key “Production backend”"
        in client.get(reverse("alerts:rules")).content.decode()
    )


def test_finance_makes_a_team_budget_rule_naming_the_team(client, fran, make_team):
    make_team("Data", budget_usd="500")
    web = make_team("Web", budget_usd="200")
    client.force_login(fran)
    url = reverse("alerts:new_kind", args=["team_budget"])
    page = client.get(url).content.decode()
    assert "Every team with a budget" in page and ">Web</option>" in page
    response = client.post(
        url, {"thresholds": "1200, 80", "team": "", "notify_users": [fran.pk], "enabled": "on"}
    )
    assert response.status_code == 200 and not AlertRule.objects.exists()
    assert "Give percentages from 1 to 1000" in response.content.decode()
    response = client.post(
        url,
        {"thresholds": "90, 75 %", "team": web.pk, "notify_users": [fran.pk], "enabled": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = AlertRule.objects.get()
    assert rule.params == {"thresholds": [75, 90], "team_id": web.pk, "team_label": "Web"}
    assert (
        "Spend of team “Web” reaches 75 %, 90 % of its monthly budget (calendar month, UTC)"
        in client.get(reverse("alerts:rules")).content.decode()
    )
    edit = client.get(reverse("alerts:edit", args=[rule.pk])).content.decode()
    assert 'value="75, 90"' in edit and f'<option value="{web.pk}" selected>Web</option>' in edit


def test_finance_may_not_make_a_key_rule_even_by_posting(client, fran):
    client.force_login(fran)
    response = client.post(
        reverse("alerts:new_kind", args=["key_unused"]),
        {"days": "30", "scope": "all", "notify_users": [fran.pk]},
    )
    assert response.status_code == 403
    assert not AlertRule.objects.exists()


def test_editing_a_rule_records_what_changed(client, fran, make_rule):
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[fran], by=fran, name="Low")
    client.force_login(fran)
    url = reverse("alerts:edit", args=[rule.pk])
    assert 'value="50"' in client.get(url).content.decode()
    response = client.post(
        url,
        {
            "currency": "USD",
            "amount": "75",
            "notify_users": [fran.pk],
            "name": "Low",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    record = AuditEvent.objects.get(action="alert.rule_changed")
    assert record.changes["params"] == [
        {"currency": "USD", "amount": "50"},
        {"currency": "USD", "amount": "75"},
    ]
    assert record.changes["email_users"] == [True, False]


def test_switching_off_and_deleting_a_rule_are_audit_records(client, ada, make_rule):
    rule = make_rule(AlertKind.RATE_LIMITS)
    client.force_login(ada)
    client.post(reverse("alerts:toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert not rule.enabled
    assert "Switch on" in client.get(reverse("alerts:rules")).content.decode()
    assert "Delete “" in client.get(reverse("alerts:delete", args=[rule.pk])).content.decode()
    client.post(reverse("alerts:delete", args=[rule.pk]))
    assert not AlertRule.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="alert.rule")
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions == ["alert.rule_created", "alert.rule_changed", "alert.rule_deleted"]


def test_a_key_manager_does_not_see_balance_rules_or_their_firings(
    client, kim, fran, make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW, notify=[fran], by=fran, name="Low balance")
    make_rule(AlertKind.KEY_EXPIRING, notify=[kim], by=kim, name="Expiring")
    check_alerts()
    client.force_login(kim)
    rules = client.get(reverse("alerts:rules")).content.decode()
    assert "Expiring" in rules and "Low balance" not in rules
    log = client.get(reverse("alerts:log")).content.decode()
    assert "expires in" in log and "USD balance" not in log
    balance_event = AlertRule.objects.get(name="Low balance").events.get()
    assert client.get(reverse("alerts:event", args=[balance_event.pk])).status_code == 404


def test_an_auditor_reads_every_rule_and_firing_but_changes_none(
    client, auditor, fran, make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 5.0
    rule = make_rule(AlertKind.BALANCE_BELOW, notify=[fran], by=fran, name="Low balance")
    check_alerts()
    client.force_login(auditor)
    page = client.get(reverse("alerts:rules")).content.decode()
    assert "Low balance" in page and "Edit" not in page
    assert "USD balance is $5.00" in client.get(reverse("alerts:log")).content.decode()
    assert client.post(reverse("alerts:toggle", args=[rule.pk])).status_code == 403


def test_the_bell_counts_unread_notifications_and_opening_one_reads_it(
    client, ada, make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW)
    check_alerts()
    client.force_login(ada)
    page = client.get(reverse("dashboard")).content.decode()
    assert re.search(r'class="bell__count" aria-hidden="true">1<', page)
    assert "Notifications: 1 unread" in page
    listing = client.get(reverse("alerts:notifications")).content.decode()
    event_url = re.search(r'href="(/alerts/log/\d+/)"', listing).group(1)
    detail = client.get(event_url).content.decode()
    assert "The USD balance is $5.00, below $50.00" in detail
    assert "Go to the page" in detail and 'href="/billing/"' in detail
    assert "bell__count" not in client.get(reverse("dashboard")).content.decode()


def test_mark_all_read_empties_the_bell(client, ada, make_rule, check_alerts, sandbox):
    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW, currency="USD")
    make_rule(AlertKind.KEY_UNUSED, days=30, name="unused")
    check_alerts()
    client.force_login(ada)
    assert "Mark all read" in client.get(reverse("alerts:notifications")).content.decode()
    client.post(reverse("alerts:notifications_read"))
    assert "bell__count" not in client.get(reverse("alerts:notifications")).content.decode()


def test_the_log_shows_time_rule_what_was_true_to_whom_and_how_it_went(
    client, ada, make_rule, check_alerts, sandbox
):
    sandbox.usd_balance = 5.0
    make_rule(AlertKind.BALANCE_BELOW, name="Balance watch")
    check_alerts()
    client.force_login(ada)
    page = client.get(reverse("alerts:log")).content.decode()
    assert "Balance watch" in page
    assert "The USD balance is $5.00, below $50.00" in page
    assert "ada@example.com" in page and ">sent</span>" in page
    assert "in the portal to Ada" in page


def test_a_new_webhook_channel_shows_its_signing_secret_once_and_never_its_url(
    client, ada, webhook_receiver
):
    client.force_login(ada)
    response = client.post(
        reverse("alerts:channel_new"),
        {"kind": "webhook", "name": "Ops receiver", "url": webhook_receiver.url},
    )
    assert response.status_code == 200
    page = response.content.decode()
    secret = re.search(r'id="signing-secret"[^>]*>(whsec_[^<]+)<', page).group(1)
    assert "will not be shown again" in page
    assert webhook_receiver.url not in page and "very-secret-path" not in page
    assert response["Cache-Control"].startswith("max-age=0")
    listing = client.get(reverse("alerts:channels")).content.decode()
    assert "127.0.0.1:" in listing and "very-secret-path" not in listing and secret not in listing
    channel = AlertChannel.objects.get()
    assert channel.signing_secret() == secret and channel.url() == webhook_receiver.url


def test_a_channel_url_must_be_https_in_production(client, ada, settings):
    settings.PORTAL_WEBHOOK_ALLOW_HTTP = False
    client.force_login(ada)
    response = client.post(
        reverse("alerts:channel_new"),
        {"kind": "slack", "name": "Plain", "url": "http://hooks.example.com/x"},
    )
    assert "must start with https://" in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_send_test_reports_the_outcome_and_logs_it(client, ada, make_channel, webhook_receiver):
    channel, secret = make_channel("webhook", url=webhook_receiver.url, name="Receiver")
    webhook_receiver.secret = secret
    client.force_login(ada)
    response = client.post(reverse("alerts:channel_test", args=[channel.pk]), follow=True)
    assert "Test message sent to “Receiver”." in response.content.decode()
    (received,) = webhook_receiver.received
    assert received.signature_ok and received.json["event"] == "alert.test"
    webhook_receiver.answer(500)
    response = client.post(reverse("alerts:channel_test", args=[channel.pk]), follow=True)
    assert "failed: answered 500" in response.content.decode()
    assert client.get(reverse("alerts:log")).content.decode().count("Test message to") == 2


def test_a_channel_is_deleted_by_its_creator_or_an_administrator_only(
    client, fran, kim, make_channel
):
    from accounts.services.alerts import alert_channel_create
    from tests.fixtures.alerts import context_of

    created = alert_channel_create(
        context=context_of(fran), kind="email", name="Finance box", addresses="fin@example.com"
    )
    client.force_login(kim)
    assert (
        client.post(reverse("alerts:channel_delete", args=[created.channel.pk])).status_code == 403
    )
    client.force_login(fran)
    client.post(reverse("alerts:channel_delete", args=[created.channel.pk]))
    assert not AlertChannel.objects.exists()
    assert AuditEvent.objects.filter(action="alert.channel_deleted").count() == 1
