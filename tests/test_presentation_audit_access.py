"""accounts/presentation/audit_access.py (and the rotation watch and schedule wording in
audit.py): every record about people, sign-ins, policies, change requests and watched or
scheduled rotations reads as a sentence, and none holds a secret.

As in tests/test_presentation_audit.py, each record is written by the code that writes it in
production: the services and management commands, django-allauth's pages through the Django
test client (passwords, second factors, sessions), a real SMTP server for invitations and
password resets, and a real OpenID Connect provider in its own process for single sign-on.
"""

import re
from datetime import timedelta
from html import unescape
from io import StringIO

import pyotp
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    AuditAction,
    AuditEvent,
    ChangeRequest,
    Invitation,
    KeyPolicy,
    PortalSession,
    Rotation,
    RotationSchedule,
)
from accounts.presentation.audit import action_choices, audit_sentence
from accounts.roles import AUDITOR, FINANCE, KEY_MANAGER
from accounts.services.approvals import REQUEST_LIFETIME, change_requests_expire
from accounts.services.audit import audit_context_for_command
from accounts.services.policies import POLICY_FIELDS, policies_update
from accounts.services.rotation_watch import (
    rotation_extend_grace,
    rotation_observe,
    rotations_finish_quiet,
)
from accounts.services.tokens import token_create, token_revoke
from tests.alerts.test_audit_sentences import ALERT_ACTIONS
from tests.factories import UserFactory
from tests.fixtures.access import (
    FIREFOX,
    IPHONE,
    NEW_PASSWORD,
    PASSWORD,
    enrol_totp,
    invite,
    join,
    link_path,
    log_in,
    recovery_codes,
    reset_password_by_email,
    signed_in,
)
from tests.fixtures.approvals import ask_to_delete
from tests.fixtures.oidc import sign_in_with_sso
from tests.fixtures.rotation import rotate, run_rotate_due, set_schedule
from tests.test_presentation_audit import KEY_AND_BILLING_ACTIONS

# The default policies hold deletes of keys in use and ADMIN keys for a second Administrator.
pytestmark = [pytest.mark.django_db, pytest.mark.default_policies]

# Written in `every_access_action`: every action but the key, rotation and billing ones
# tests/test_presentation_audit.py has its services write, and the alerts' (tests/alerts/).
ACCESS_ACTIONS = {
    AuditAction.MEMBER_INVITED,
    AuditAction.MEMBER_INVITATION_RESENT,
    AuditAction.MEMBER_INVITATION_REVOKED,
    AuditAction.MEMBER_JOINED,
    AuditAction.MEMBER_ROLE_CHANGED,
    AuditAction.MEMBER_DEACTIVATED,
    AuditAction.MEMBER_REACTIVATED,
    AuditAction.MEMBER_MFA_RESET,
    AuditAction.MEMBER_SESSIONS_REVOKED,
    AuditAction.AUTH_LOGIN_SUCCEEDED,
    AuditAction.AUTH_LOGIN_FAILED,
    AuditAction.AUTH_LOCKED_OUT,
    AuditAction.AUTH_SSO_LOGIN,
    AuditAction.AUTH_MFA_ENROLLED,
    AuditAction.AUTH_MFA_REMOVED,
    AuditAction.AUTH_PASSWORD_CHANGED,
    AuditAction.AUTH_SESSION_ENDED,
    AuditAction.POLICY_CHANGED,
    AuditAction.CHANGE_REQUESTED,
    AuditAction.CHANGE_APPROVED,
    AuditAction.CHANGE_REJECTED,
    AuditAction.CHANGE_WITHDRAWN,
    AuditAction.CHANGE_EXPIRED,
    AuditAction.CHANGE_EXECUTED,
    AuditAction.CHANGE_FAILED,
    AuditAction.ROTATION_GRACE_EXTENDED,
    AuditAction.ROTATION_FINISHED_EARLY,
    AuditAction.ROTATION_SECRET_DELIVERED,
    AuditAction.ROTATION_SCHEDULE_SET,
    AuditAction.ROTATION_SCHEDULE_REMOVED,
    AuditAction.TOKEN_CREATED,
    AuditAction.TOKEN_REVOKED,
}

WRONG_PASSWORD = "correct horse battery stapler"  # a near miss: as secret as the password


# --- the flows that write the records ----------------------------------------------------------


def _lockout() -> None:
    """Someone guesses ada's password from elsewhere until django-axes locks them out."""
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        log_in(guesser, "ada", WRONG_PASSWORD)


def _invitations(admin: Client, smtp_server) -> tuple[Client, list[str]]:
    """ada invites bea, who joins by the emailed link; carl's invitation is sent again, then
    revoked. Returns bea's browser (signed in by joining) and the links' tokens."""
    invite(admin, "bea@example.com", KEY_MANAGER)
    link = smtp_server.link_in(smtp_server.only_message_to("bea@example.com"))
    bea = Client()
    assert join(bea, link, first_name="Bea").status_code == 302
    invite(admin, "carl@example.com", AUDITOR)
    carl = Invitation.objects.get(email="carl@example.com")
    admin.post(reverse("team:invitation_resend", args=[carl.pk]))
    admin.post(reverse("team:invitation_revoke", args=[carl.pk]))
    tokens = [
        link_path(smtp_server.link_in(message)).rstrip("/").rsplit("/", 1)[-1]
        for message in smtp_server.messages
    ]
    assert len(tokens) == 3
    return bea, tokens


def _second_factors(admin: Client, bea: Client, on_commit) -> list[str]:
    """kim adds an authenticator app, signs in with it elsewhere (a wrong code first), and
    removes it; bea adds one, and ada resets it. allauth announces each change once it
    commits. Returns the TOTP secrets and recovery codes."""
    kim = signed_in("kim")
    with on_commit(execute=True):
        kim_totp = enrol_totp(kim)
    codes = recovery_codes(kim)
    laptop = Client()
    assert log_in(laptop, "kim")["Location"] == reverse("mfa_authenticate")
    laptop.post(reverse("mfa_authenticate"), {"code": "000000"})
    laptop.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(kim_totp).now()})
    kim.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    with on_commit(execute=True):
        assert kim.post(reverse("mfa_deactivate_totp")).status_code == 302

    with on_commit(execute=True):
        bea_totp = enrol_totp(bea, NEW_PASSWORD)
    admin.post(reverse("team:mfa_reset", args=[get_user_model().objects.get(username="bea").pk]))
    return [kim_totp, bea_totp, *codes]


def _passwords(smtp_server) -> None:
    """kim changes their password; aud forgot theirs and resets it by email."""
    kim = signed_in("kim")
    changed = kim.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302, changed.content.decode()[:500]
    aud = UserFactory(username="aud")
    aud.email = "aud@example.com"
    aud.save()
    reset_password_by_email(Client(), smtp_server, "aud@example.com")


def _sessions() -> list[str]:
    """fran, signed in on a laptop and a phone, ends the phone's session from the laptop.
    Returns the sessions' keys (cookies)."""
    laptop = signed_in("fran", user_agent=FIREFOX, address="203.0.113.5")
    phone = signed_in("fran", user_agent=IPHONE, address="198.51.100.9")
    phone_session = PortalSession.objects.get(user__username="fran", user_agent=IPHONE)
    laptop.post(reverse("account:session_end", args=[phone_session.session_key]))
    name = django_settings.SESSION_COOKIE_NAME
    return [laptop.cookies[name].value, phone.cookies[name].value]


def _single_sign_on(provider) -> list[str]:
    """olga signs in through the identity provider, whose groups give her Finance."""
    response = sign_in_with_sso(Client(), provider, "olga")
    assert response.status_code == 302
    return [provider.users["olga"].password, provider.client_secret]


def _change_requests(admin: Client, ben: Client, key, other_key, sandbox_session, sandbox_url):
    """kim's deletes of keys in use wait for an Administrator: one withdrawn, one rejected,
    one left to expire, one approved and made, and one approved for a key renamed since
    (stale: it fails). ada's new ADMIN key is approved by ben and made by ada. Returns the
    new key's secret."""
    kim = Client()
    kim.force_login(get_user_model().objects.get(username="kim"))

    withdrawn = ask_to_delete(kim, key, "Moved to the new cluster")
    kim.post(reverse("approvals:withdraw", args=[withdrawn.pk]))
    rejected = ask_to_delete(kim, key)
    admin.post(reverse("approvals:reject", args=[rejected.pk]), {"comment": "Still in use"})
    ask_to_delete(kim, key)
    assert change_requests_expire(now=timezone.now() + REQUEST_LIFETIME + timedelta(minutes=1))
    approved = ask_to_delete(kim, key)
    admin.post(reverse("approvals:approve", args=[approved.pk]), {"comment": "ok"})

    stale = ask_to_delete(kim, other_key)
    sandbox_session.patch(
        sandbox_url("/api_keys"), json={"id": other_key.id, "description": "Renamed"}
    )
    admin.post(reverse("approvals:approve", args=[stale.pk]))
    assert ChangeRequest.objects.get(pk=stale.pk).state == ChangeRequest.State.FAILED

    form = admin.get(reverse("keys:new")).context["form"]
    admin.post(
        reverse("keys:new"),
        {
            "description": "Deploy bot",
            "api_key_type": "ADMIN",
            "limit_period": "MONTH",
            "model_privacy": "ALL",
            "submission": form.initial["submission"],
            "approval_reason": "Deploys need the account API",
        },
    )
    create = ChangeRequest.objects.get(action=ChangeRequest.Action.CREATE)
    ben.post(reverse("approvals:approve", args=[create.pk]))
    made = admin.post(reverse("approvals:execute", args=[create.pk])).content.decode()
    return made.split('id="new-key-secret"')[1].split(">", 1)[1].split("</code>")[0]


def _watched_rotation(context, key, app, clock) -> str:
    """kim rotates a key, to finish once the old key goes quiet, and extends its grace when
    the key's page shows the old key still in use (the page polls rotation_observe); the app
    moves to the new key, the old one goes quiet, and cron (finish_rotations) deletes it
    early. Returns the new secret."""
    outcome = rotate(context, key, finish_when_quiet=True)
    app(key.secret)
    assert rotation_observe(outcome.rotation, now=clock.now(), fresh=True).old_still_used
    rotation_extend_grace(
        context=context,
        rotation_id=outcome.rotation.pk,
        until=outcome.rotation.retire_at + timedelta(hours=24),
        now=clock.now(),
    )
    clock.advance(timedelta(minutes=10))
    app(outcome.secret)
    clock.advance(timedelta(minutes=61))
    app(outcome.secret)
    cron = audit_context_for_command(None, command="finish_rotations")
    assert len(rotations_finish_quiet(context=cron, now=clock.now())) == 1
    return outcome.secret


def _scheduled_rotation(key, sink_file) -> list[str]:
    """An operator schedules kim's rotation of a key, with its new secret to a file; cron's
    rotate_due rotates it and writes the file; the operator removes the schedule (which
    follows the key to its replacement). Returns the new secret."""
    sink_file.parent.mkdir()
    set_schedule(key.id, file=str(sink_file))
    out, err = run_rotate_due()
    assert "1 key(s) rotated" in out, err
    schedule = RotationSchedule.objects.get()
    remove = ("remove", schedule.key_id, "--actor", "kim")
    call_command("rotation_schedule", *remove, stdout=StringIO())
    return sink_file.read_text().strip()


def _policies(context) -> None:
    """ada lengthens what counts as in use and caps new INFERENCE keys' expiry."""
    current = KeyPolicy.current()
    values = {name: getattr(current, name) for name in POLICY_FIELDS}
    policies_update(
        context=context,
        values={**values, "recent_use_hours": 48, "inference_max_expiry_days": 90},
    )


def _api_tokens(kim) -> list[str]:
    """kim makes an API token, and revokes it (the page's own test is tests/test_tokens.py;
    here the account page may first ask for a second factor); returns the token."""
    context = audit_context_for_command(kim)
    new = token_create(
        context=context, name="CI", role=KEY_MANAGER, expires_at=timezone.now() + timedelta(days=30)
    )
    token_revoke(context=context, token=new.token)
    return [new.secret]


def _members(admin: Client, kim, fran) -> None:
    """ada signs kim out everywhere, deactivates fran (which ends her sessions) and lets her
    back in, and makes kim Finance."""
    admin.post(reverse("team:sessions_revoke", args=[kim.pk]))
    admin.post(reverse("team:deactivate", args=[fran.pk]))
    admin.post(reverse("team:reactivate", args=[fran.pk]))
    admin.post(reverse("team:role", args=[kim.pk]), {"role": FINANCE})


@pytest.fixture
def every_access_action(
    admin_user,
    key_manager,
    finance_user,
    second_admin,
    admin_context,
    manager_context,
    production_key,
    inference_key,
    shared_venice,
    sandbox,
    sandbox_session,
    sandbox_url,
    smtp_server,
    portal_sso,
    app,
    clock,
    sink_file,
    django_capture_on_commit_callbacks,
):
    """One record (at least) of every action in ACCESS_ACTIONS, each written by its own code
    path; returns every secret the flows handled, none of which a sentence may hold."""
    admin = Client()
    admin.force_login(admin_user)
    ben = Client()
    ben.force_login(second_admin)
    secrets = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD]

    _lockout()
    bea, tokens = _invitations(admin, smtp_server)
    secrets += tokens
    secrets += _second_factors(admin, bea, django_capture_on_commit_callbacks)
    _passwords(smtp_server)
    secrets += _sessions()
    secrets += _single_sign_on(portal_sso)

    checkout = shared_venice.api_keys.create("Checkout service")
    sandbox.use_key(checkout.secret, usd=0.01)
    secrets += [production_key.secret, checkout.secret]
    secrets.append(
        _change_requests(admin, ben, production_key, checkout, sandbox_session, sandbox_url)
    )
    secrets += [inference_key.secret, _watched_rotation(manager_context, inference_key, app, clock)]
    nightly = shared_venice.api_keys.create("Nightly export")
    secrets += [nightly.secret, _scheduled_rotation(nightly, sink_file)]
    _policies(admin_context)
    secrets += _api_tokens(key_manager)
    _members(admin, key_manager, finance_user)
    assert Rotation.objects.count() == 2
    return {
        "secrets": secrets,
        "sink": str(sink_file),
        "last6": {
            "production": production_key.last6,
            "checkout": checkout.last6,
            "billing": inference_key.last6,
            "nightly": nightly.last6,
        },
    }


# --- what the records read as ------------------------------------------------------------------


def test_every_action_has_a_flow_that_writes_it_here_or_in_the_key_tests():
    # An action added to AuditAction fails here until a flow above (or every_action in
    # tests/test_presentation_audit.py, or tests/test_presentation_audit_teams.py) writes it
    # and its sentence is checked. (The alert rules' and channels' are written in tests/alerts/.)
    from tests.test_presentation_audit_teams import TEAMS_ACTIONS

    written_elsewhere = KEY_AND_BILLING_ACTIONS | ALERT_ACTIONS | TEAMS_ACTIONS
    assert ACCESS_ACTIONS | written_elsewhere == set(AuditAction.values)
    assert not ACCESS_ACTIONS & KEY_AND_BILLING_ACTIONS
    assert not ALERT_ACTIONS & (ACCESS_ACTIONS | KEY_AND_BILLING_ACTIONS)
    assert not TEAMS_ACTIONS & (ACCESS_ACTIONS | KEY_AND_BILLING_ACTIONS | ALERT_ACTIONS)


def test_every_record_the_access_flows_write_reads_as_a_sentence(every_access_action):
    events = list(AuditEvent.objects.order_by("id"))
    written = {event.action for event in events}
    assert ACCESS_ACTIONS - written == set()
    secrets = every_access_action["secrets"]
    assert all(secrets)
    # Every record the flows wrote, the key and rotation records on the way included.
    for event in events:
        sentence = audit_sentence(event)
        assert sentence, event.action
        assert event.action not in sentence  # the code stays one click away
        assert "None" not in sentence and "{" not in sentence, sentence
        # Records made signed out (joining, a password reset) still name the person.
        assert "The portal joined" not in sentence and "The portal changed" not in sentence
        if event.key_last6:
            assert f"…{event.key_last6}" in sentence, sentence
        for secret in secrets:
            assert secret not in sentence and secret[-12:] not in sentence, sentence
        assert every_access_action["sink"] not in sentence  # where secrets go stays private


def _sentences(action) -> list[str]:
    return [audit_sentence(e) for e in AuditEvent.objects.filter(action=action).order_by("id")]


def _sentence(action, **fields) -> str:
    """The sentence of the newest record of `action` (with these field values)."""
    events = AuditEvent.objects.filter(action=action, **fields).order_by("id")
    return audit_sentence(events.last())


def test_the_sentences_say_what_happened_in_words(every_access_action):
    # One test over the one set of records (the flows take seconds), in three parts.
    _people_and_sign_ins_read_as_intended()
    _api_tokens_read_as_intended()
    _policies_and_change_requests_read_as_intended(every_access_action["last6"])
    _watched_and_scheduled_rotations_read_as_intended(every_access_action["last6"])


def _api_tokens_read_as_intended():
    assert _sentence(AuditAction.TOKEN_CREATED).startswith("kim created the API token “CI” (vpt_")
    assert "…) as Key manager, until " in _sentence(AuditAction.TOKEN_CREATED)
    assert _sentence(AuditAction.TOKEN_REVOKED).startswith("kim revoked the API token “CI” (vpt_")


def _people_and_sign_ins_read_as_intended():
    assert _sentence(AuditAction.MEMBER_INVITED, details__email="bea@example.com").startswith(
        "ada invited bea@example.com as Key manager (the link works until "
    )
    assert _sentence(AuditAction.MEMBER_INVITATION_RESENT).startswith(
        "ada sent a new invitation to carl@example.com as Auditor (the link works until "
    )
    assert _sentence(AuditAction.MEMBER_INVITATION_REVOKED) == (
        "ada revoked the invitation of carl@example.com as Auditor"
    )
    # Joining is done signed out: the sentence names who joined, not "The portal".
    assert _sentence(AuditAction.MEMBER_JOINED) == "bea joined as Key manager, invited by ada"

    failed = _sentences(AuditAction.AUTH_LOGIN_FAILED)
    assert failed.count("A sign-in as “ada” failed: wrong username or password") == (
        django_settings.AXES_FAILURE_LIMIT
    )
    assert "A sign-in as kim failed: the second factor was not accepted" in failed
    assert _sentence(AuditAction.AUTH_LOCKED_OUT) == (
        "Sign-ins as “ada” were locked out for a while after too many failures"
    )
    signed_in_as = _sentences(AuditAction.AUTH_LOGIN_SUCCEEDED)
    assert "kim signed in with a password" in signed_in_as
    assert "kim signed in with a password and an authenticator app" in signed_in_as
    assert _sentence(AuditAction.AUTH_SSO_LOGIN) == (
        "olga signed in with single sign-on (Venice SSO)"
    )
    # Recovery codes come as a set: "added recovery codes", not "a recovery code".
    assert _sentences(AuditAction.AUTH_MFA_ENROLLED) == [
        "kim added an authenticator app",
        "kim added recovery codes",
        "bea added an authenticator app",
        "bea added recovery codes",
    ]
    assert set(_sentences(AuditAction.AUTH_MFA_REMOVED)) == {
        "kim removed an authenticator app",
        "kim removed recovery codes",
    }
    assert _sentence(AuditAction.MEMBER_MFA_RESET) == (
        "ada reset bea's two-factor authentication (removed an authenticator app and recovery "
        "codes)"
    )
    assert _sentences(AuditAction.AUTH_PASSWORD_CHANGED) == [
        "kim changed their password",
        "aud reset their password by email",  # signed out: no actor, but whose it is
    ]
    assert _sentence(AuditAction.AUTH_SESSION_ENDED) == (
        "fran ended their session on Safari on iPhone from 198.51.100.9"
    )

    roles = _sentences(AuditAction.MEMBER_ROLE_CHANGED)
    assert roles == [
        "Venice SSO (identity provider) changed olga's role from no role to Finance",
        "ada changed kim's role from Key manager to Finance",
    ]
    assert _sentence(AuditAction.MEMBER_DEACTIVATED) == "ada deactivated fran"
    assert _sentence(AuditAction.MEMBER_REACTIVATED) == "ada reactivated fran"
    signed_out = _sentences(AuditAction.MEMBER_SESSIONS_REVOKED)
    assert signed_out[0].startswith("ada signed kim out everywhere (")
    assert signed_out[0].endswith(" sessions ended)")
    assert signed_out[1] == "ada signed fran out everywhere (1 session ended)"


def _policies_and_change_requests_read_as_intended(last6: dict):
    production = f"“Production backend (live)” …{last6['production']}"
    checkout = f"“Checkout service” …{last6['checkout']}"
    assert _sentence(AuditAction.POLICY_CHANGED) == (
        "ada changed the key policies: the longest expiry of new INFERENCE keys, from no rule "
        "to 90 days; how long a key counts as in use after its last use, from 24 hours to 48 "
        "hours"
    )
    asked = _sentences(AuditAction.CHANGE_REQUESTED)
    assert asked[0] == (
        f"kim asked to delete {production} (“Moved to the new cluster”), which waits for a "
        "second Administrator"
    )
    assert asked[1] == (
        f"kim asked to delete {production} (“The service is gone”), which waits for a second "
        "Administrator"
    )
    assert asked[-1] == (
        "ada asked to create the key “Deploy bot” (“Deploys need the account API”), which "
        "waits for a second Administrator"
    )
    assert _sentence(AuditAction.CHANGE_WITHDRAWN) == (
        f"kim withdrew their request to delete {production}"
    )
    assert _sentence(AuditAction.CHANGE_REJECTED) == (
        f"ada rejected kim's request to delete {production} (“Still in use”)"
    )
    assert _sentence(AuditAction.CHANGE_EXPIRED) == (
        f"kim's request to delete {production} expired without a decision"
    )
    assert _sentences(AuditAction.CHANGE_APPROVED) == [
        f"ada approved kim's request to delete {production} (“ok”)",
        f"ada approved kim's request to delete {checkout}",
        "ben approved ada's request to create the key “Deploy bot”",
    ]
    made = _sentences(AuditAction.CHANGE_EXECUTED)
    # The approver made the delete: naming them twice says nothing.
    assert made[0] == f"ada carried out kim's approved request to delete {production}"
    # The requester made the create, once approved: the approver is named, and the new key.
    created = AuditEvent.objects.get(action=AuditAction.KEY_CREATED).key_last6
    assert made[1] == (
        f"ada carried out their approved request to create the key “Deploy bot” …{created} "
        "(approved by ben)"
    )
    assert _sentence(AuditAction.CHANGE_FAILED) == (
        f"ada tried to carry out kim's approved request to delete {checkout}, and it failed"
    )


def _watched_and_scheduled_rotations_read_as_intended(last6: dict):
    billing = f"“Billing worker” …{last6['billing']}"
    nightly = f"“Nightly export” …{last6['nightly']}"
    extended = _sentence(AuditAction.ROTATION_GRACE_EXTENDED)
    assert extended.startswith(f"kim extended the grace period of {billing} to ")
    assert extended.endswith(" UTC (the old key was still in use)")
    early = _sentence(AuditAction.ROTATION_FINISHED_EARLY)
    assert early.startswith(
        f"The portal (finish_rotations) deleted the old key {billing} early: it was last used "
    )
    assert ", the new key first seen " in early and "(the grace would have ended " in early
    assert _sentence(AuditAction.ROTATION_SCHEDULE_SET).startswith(
        f"kim scheduled {nightly} to rotate every 30 days (24 hours' grace, the new secret to "
        "a file), next due "
    )
    # The schedule follows the key to its replacement; its removal names that key by its
    # last 6 too, which the schedule itself does not keep.
    replacement = AuditEvent.objects.get(action=AuditAction.ROTATION_SECRET_DELIVERED)
    new = f"“Nightly export” …{replacement.key_last6}"
    assert replacement.key_last6 not in ("", last6["nightly"])
    assert audit_sentence(replacement) == (
        f"kim delivered the new secret of {new} to the rotation schedule's file"
    )
    assert _sentence(AuditAction.ROTATION_SCHEDULE_REMOVED) == (
        f"kim removed the rotation schedule of {new}"
    )


# --- the filter's labels -----------------------------------------------------------------------


def test_the_filter_offers_every_action_by_a_readable_label():
    choices = action_choices()
    assert [value for value, _ in choices] == list(AuditAction.values)
    labels = [label for _, label in choices]
    assert len(set(labels)) == len(labels)  # no two actions look the same in the filter
    for value, label in choices:
        assert label and label == label.strip() and label[0].isupper(), value
        assert "." not in label and "_" not in label, label
        assert value not in label and not re.search(r"\b[a-z]+\.[a-z_]+", label), label


def test_the_audit_page_lists_the_labels_not_the_codes(client, admin_user):
    client.force_login(admin_user)
    page = unescape(client.get(reverse("audit:list")).content.decode())
    for value, label in action_choices():
        assert f'value="{value}"' in page
        assert label in page
