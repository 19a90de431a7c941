"""/api/v1/alerts/rules: alert rules through the same forms and services as /alerts/, each
change an audit record naming the member and the token."""

import pytest

from accounts.models import AlertKind, AlertRule, AuditEvent
from accounts.presentation.audit import audit_sentence
from accounts.roles import FINANCE, KEY_MANAGER
from accounts.selectors.audit import audit_chain_verify
from tests.fixtures.keys import INFERENCE_KEY, seeded_key_id

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    return response.json()["error"]


def test_finance_automates_a_balance_rule_from_creation_to_deletion(api_as, sandbox):
    fran = api_as(FINANCE, username="fran")

    created = fran.post(
        "/alerts/rules",
        {
            "kind": "balance_below",
            "name": "Top up soon",
            "params": {"currency": "USD", "amount": "25"},
            "notify_users": ["fran"],
        },
    )

    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["params"] == {"currency": "USD", "amount": "25"}
    assert (rule["notify_users"], rule["email_users"], rule["enabled"]) == (["fran"], True, True)
    assert rule["created_by"] == "fran"
    record = AuditEvent.objects.get(action="alert.rule_created")
    assert record.details["via_token"]["prefix"] == fran.token.prefix
    assert audit_sentence(record).startswith("fran (with the API token “CI”) created the alert")

    # Only what is sent changes; params as the API returned them go back in.
    switched = fran.patch(f"/alerts/rules/{rule['id']}", {"enabled": False})
    assert switched.status_code == 200, switched.content
    assert switched.json() == {**rule, "enabled": False}
    raised = fran.patch(
        f"/alerts/rules/{rule['id']}", {"params": {**rule["params"], "amount": "40"}}
    )
    assert raised.json()["params"]["amount"] == "40" and raised.json()["enabled"] is False
    assert fran.get(f"/alerts/rules/{rule['id']}").json() == raised.json()
    assert [r["id"] for r in fran.get("/alerts/rules").json()["rules"]] == [rule["id"]]

    assert fran.delete(f"/alerts/rules/{rule['id']}").status_code == 204
    assert not AlertRule.objects.exists()
    records = AuditEvent.objects.filter(action__startswith="alert.").order_by("id")
    actions = list(records.values_list("action", flat=True))
    assert actions == [
        "alert.rule_created",
        "alert.rule_changed",
        "alert.rule_changed",
        "alert.rule_deleted",
    ]
    assert audit_chain_verify().intact


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"params": {"currency": "USD", "amount": "-3"}}, "amount", "greater than or equal to 0"),
        ({"params": {"currency": "EUR", "amount": "3"}}, "currency", "Select a valid choice"),
        ({"notify_users": ["nobody"]}, "notify_users", "No active member is called nobody"),
        ({"notify_users": []}, "", "Choose who is told"),
    ],
)
def test_a_rule_the_form_refuses_is_a_422_naming_the_field(api_as, body, field, message):
    response = api_as(FINANCE).post(
        "/alerts/rules", {"kind": "balance_below", "notify_users": ["api-finance"], **body}
    )
    assert response.status_code == 422, response.content
    error = _error(response)
    assert any(message in text for text in error["fields"][field]), error
    assert not AlertRule.objects.exists()


def test_an_unknown_kind_is_a_422_listing_the_kinds(api_as):
    response = api_as(FINANCE).post("/alerts/rules", {"kind": "weather", "notify_users": []})
    assert response.status_code == 422
    assert "balance_below" in _error(response)["message"]


def test_each_role_manages_only_its_kinds_and_reads_only_what_it_may(api_as, sandbox):
    fran, kim = api_as(FINANCE, username="fran"), api_as(KEY_MANAGER, username="kim")
    refused = fran.post("/alerts/rules", {"kind": "key_expiring", "notify_users": ["fran"]})
    assert refused.status_code == 403 and not AlertRule.objects.exists()

    key_id = seeded_key_id(INFERENCE_KEY)
    made = kim.post(
        "/alerts/rules",
        {
            "kind": "key_expiring",
            "params": {"days": 7, "scope": "key", "key_id": key_id},
            "notify_users": ["kim"],
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["params"]["key_id"] == key_id
    assert made.json()["params"]["key_label"] == INFERENCE_KEY
    rule_id = made.json()["id"]
    # Finance reads key rules (it sees keys) but may not change them.
    assert fran.get(f"/alerts/rules/{rule_id}").status_code == 200
    assert fran.patch(f"/alerts/rules/{rule_id}", {"enabled": False}).status_code == 403
    assert fran.delete(f"/alerts/rules/{rule_id}").status_code == 403
    assert AlertRule.objects.get().enabled

    missing = kim.post(
        "/alerts/rules",
        {"kind": "key_expiring", "params": {"scope": "key", "key_id": ""}, "notify_users": ["kim"]},
    )
    assert missing.status_code == 422 and "key" in _error(missing)["fields"]
    assert AlertKind.KEY_EXPIRING == AlertRule.objects.get().kind


def test_a_team_budget_rule_names_its_team_by_id(api_as, make_team):
    data = make_team("Data", budget_usd="500")
    fran = api_as(FINANCE, username="fran")

    created = fran.post(
        "/alerts/rules",
        {"kind": "team_budget", "params": {"team_id": data.pk}, "notify_users": ["fran"]},
    )

    assert created.status_code == 201, created.content
    assert created.json()["params"] == {
        "thresholds": [80, 100],  # the kind's defaults, as on the page
        "team_id": data.pk,
        "team_label": "Data",
    }
    unknown = fran.post(
        "/alerts/rules",
        {"kind": "team_budget", "params": {"team_id": 999999}, "notify_users": ["fran"]},
    )
    assert unknown.status_code == 422
    assert "team" in _error(unknown)["fields"]
