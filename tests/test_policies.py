"""Key policies: each lets an allowed change through, refuses a forbidden one naming itself,
and holds an approval-bound one as a change request that sends nothing to Venice."""

from datetime import timedelta
from decimal import Decimal
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, ChangeRequest, KeyPolicy
from accounts.services import policies
from accounts.venice import APIKeyType, ConsumptionLimits

pytestmark = [pytest.mark.django_db, pytest.mark.default_policies]

IN_A_WEEK = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
IN_A_YEAR = (timezone.now() + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M")


def _text(response) -> str:
    return unescape(response.content.decode())


def _set(**values):
    KeyPolicy.objects.update_or_create(pk=1, defaults=values)


def _upstream_changes(sandbox):
    return [r for r in sandbox.received if r.method in ("POST", "PATCH", "DELETE")]


def _new_key_form(client, **values):
    page = client.get(reverse("keys:new"))
    token = page.context["form"].initial["submission"]
    data = {
        "description": "Policy test",
        "api_key_type": "INFERENCE",
        "limit_period": "MONTH",
        "model_privacy": "ALL",
        "submission": token,
        **values,
    }
    return client.post(reverse("keys:new"), data)


def _in_use(sandbox, key):
    sandbox.use_key(key.secret or key.id, usd=0.01)
    return key


@pytest.fixture
def key_in_use(shared_venice, sandbox):
    key = shared_venice.api_keys.create(
        "Checkout service", expires_at=timezone.now() + timedelta(30)
    )
    return _in_use(sandbox, key)


# --- new INFERENCE keys ------------------------------------------------------------------------


def test_an_expiry_policy_refuses_a_key_without_one_or_beyond_it_and_lets_one_within_through(
    client, key_manager, sandbox
):
    _set(inference_max_expiry_days=30)
    client.force_login(key_manager)
    name = policies.EXPIRY_REQUIRED.format(days=30)

    none = _new_key_form(client)
    late = _new_key_form(client, expires_at=IN_A_YEAR)

    for refused in (none, late):
        assert refused.status_code == 200 and name in _text(refused)
    assert not _upstream_changes(sandbox) and not ChangeRequest.objects.exists()
    ok = _new_key_form(client, expires_at=IN_A_WEEK)
    assert "this will not be shown again" in _text(ok)
    assert len([r for r in sandbox.received if r.method == "POST"]) == 1


def test_a_limit_policy_refuses_no_limit_and_holds_one_above_its_ceiling(
    client, key_manager, sandbox
):
    _set(inference_require_limit=True, inference_limit_usd_max=Decimal("100"))
    client.force_login(key_manager)

    unlimited = _new_key_form(client)
    assert policies.LIMIT_REQUIRED in _text(unlimited)

    big = _new_key_form(client, usd_limit="500")
    assert "needs a second Administrator" in _text(big)
    assert not ChangeRequest.objects.exists()  # a reason comes first
    asked = _new_key_form(client, usd_limit="500", approval_reason="Black Friday traffic")
    change = ChangeRequest.objects.get()
    assert asked.status_code == 302 and asked["Location"] == reverse(
        "approvals:detail", args=[change.pk]
    )
    assert change.policies == [policies.LIMIT_CEILING.format(ceiling="$100")]
    assert change.payload["consumption_limits"] == {"usd": "500", "diem": None}
    assert not _upstream_changes(sandbox)  # nothing reached Venice

    small = _new_key_form(client, usd_limit="50")
    assert small.status_code == 200 and "not be shown again" in _text(small)


# --- ADMIN keys --------------------------------------------------------------------------------


def test_an_administrator_cannot_create_an_admin_key_alone(client, admin_user, sandbox):
    client.force_login(admin_user)
    held = _new_key_form(client, api_key_type="ADMIN", approval_reason="New CI runner")
    assert held.status_code == 302
    change = ChangeRequest.objects.get()
    assert (change.action, change.key_type) == ("create", "ADMIN")
    assert not _upstream_changes(sandbox)
    requested = AuditEvent.objects.get(action="change.requested")
    assert requested.details["policies"] == [f"{policies.ADMIN_KEYS}: this is a new ADMIN key"]


def test_changing_deleting_and_rotating_an_admin_key_need_approval(
    client, admin_user, admin_api_key, sandbox
):
    client.force_login(admin_user)
    key_id = admin_api_key.id
    edit = client.post(
        reverse("keys:edit", args=[key_id]),
        {**_shown_edit_form(client, key_id), "description": "Ops (renamed)"},
    )
    delete = client.post(
        reverse("keys:delete", args=[key_id]), {"confirm_description": "Ops automation"}
    )
    rotate = client.get(reverse("keys:rotate", args=[key_id]))
    for page in (edit, delete):
        assert "needs a second Administrator" in _text(page)
    assert "Rotating this key needs a second Administrator" in _text(rotate)
    assert not _upstream_changes(sandbox)[1:]  # only the fixture's create


def _shown_edit_form(client, key_id) -> dict:
    form = client.get(reverse("keys:edit", args=[key_id])).context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        value = "" if value is None else field.widget.format_value(value) or value
        data[name] = value
        data[f"initial-{name}"] = value
    return data


# --- keys in use -------------------------------------------------------------------------------


def test_deleting_a_key_in_use_needs_approval_and_an_unused_one_goes(
    client, key_manager, key_in_use, shared_venice, sandbox
):
    client.force_login(key_manager)
    page = client.get(reverse("keys:delete", args=[key_in_use.id])).content.decode()
    assert "needs a second Administrator" in page and "the key was used 1 minutes ago" in page

    client.post(reverse("keys:delete", args=[key_in_use.id]), {"approval_reason": "Retired"})
    assert ChangeRequest.objects.get().action == "delete"
    assert sandbox.find_key(key_in_use.id) is not None

    idle = shared_venice.api_keys.create("Never used")
    response = client.post(reverse("keys:delete", args=[idle.id]))
    assert response.status_code == 302 and sandbox.find_key(idle.id) is None


def test_rotating_a_key_in_use_without_grace_needs_approval_and_with_grace_goes(
    client, key_manager, key_in_use, sandbox
):
    client.force_login(key_manager)
    url = reverse("keys:rotate", args=[key_in_use.id])
    assert "Without a grace period, this rotation needs" in client.get(url).content.decode()

    held = client.post(url, {"grace": "now", "new_expiry": "lifetime"})
    assert "needs a second Administrator" in _text(held)
    assert not [r for r in sandbox.received if r.method == "POST"][1:]

    with_grace = client.post(url, {"grace": "24h", "new_expiry": "lifetime"})
    assert with_grace.status_code == 200 and "this will not be shown again" in _text(with_grace)


# --- limits and expiries -----------------------------------------------------------------------


def test_raising_a_limit_above_a_threshold_or_removing_one_needs_approval(
    client, key_manager, shared_venice, sandbox
):
    _set(limit_raise_usd_threshold=Decimal("100"))
    key = shared_venice.api_keys.create(
        "Capped", consumption_limits=ConsumptionLimits(usd=Decimal("50"))
    )
    client.force_login(key_manager)
    url = reverse("keys:edit", args=[key.id])

    raised = client.post(url, {**_shown_edit_form(client, key.id), "usd_limit": "500"})
    removed = client.post(url, {**_shown_edit_form(client, key.id), "usd_limit": ""})
    lowered = client.post(url, {**_shown_edit_form(client, key.id), "usd_limit": "20"})

    assert policies.LIMIT_RAISE.format(ceiling="$100") in _text(raised)
    assert policies.REMOVING_GUARDS in _text(removed)
    assert lowered.status_code == 302
    assert [r.json.get("consumptionLimit") for r in sandbox.received if r.method == "PATCH"] == [
        {"usd": 20, "diem": None}
    ]


def test_removing_an_expiry_needs_approval(client, key_manager, key_in_use):
    client.force_login(key_manager)
    page = client.post(
        reverse("keys:edit", args=[key_in_use.id]),
        {**_shown_edit_form(client, key_in_use.id), "expires_at": ""},
    )
    assert policies.REMOVING_GUARDS in _text(page)


# --- the services are the second lock ----------------------------------------------------------


def test_the_services_refuse_a_policy_bound_change_whatever_page_or_command_calls_them(
    admin_context, shared_venice, sandbox
):
    from accounts.services.keys import api_key_create

    with pytest.raises(policies.ApprovalRequired):
        api_key_create(context=admin_context, description="Sneaky", api_key_type=APIKeyType.ADMIN)
    assert not [r for r in sandbox.received if r.method == "POST"]


def test_rotate_key_refuses_a_held_rotation_and_names_the_policy(key_manager, key_in_use, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(
        CommandError, match="used in the last 24 hours without grace needs approval"
    ):
        call_command(
            "rotate_key",
            *(key_in_use.id, "--grace", "now", "--actor", key_manager.username),
            *("--secret-to", str(tmp_path / "k")),
            stdout=StringIO(),
        )
    assert not (tmp_path / "k").exists()


# --- the policies page -------------------------------------------------------------------------


def test_an_administrator_changes_the_policies_and_the_change_is_recorded(client, admin_user):
    client.force_login(admin_user)
    form = client.get(reverse("policies:edit")).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data["inference_max_expiry_days"] = "90"

    client.post(reverse("policies:edit"), data)

    assert KeyPolicy.current().inference_max_expiry_days == 90
    (record,) = AuditEvent.objects.filter(action="policy.changed")
    assert record.changes == {"inference_max_expiry_days": [None, 90]}
    assert (
        policies.EXPIRY_REQUIRED.format(days=90) in client.get(reverse("keys:new")).content.decode()
    )


def test_finance_reads_the_policies_but_may_not_change_them(client, finance_user):
    client.force_login(finance_user)
    page = client.get(reverse("policies:edit"))
    assert page.status_code == 200 and "Only Administrators change these" in _text(page)
    assert client.post(reverse("policies:edit"), {"recent_use_hours": "1"}).status_code == 403
    assert KeyPolicy.current().recent_use_hours == 24
