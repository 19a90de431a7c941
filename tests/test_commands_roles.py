from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from accounts.management.commands.seed_demo import DEMO_USERS
from accounts.roles import ADMINISTRATOR, FINANCE, ROLE_ABILITIES, ROLES, Ability, role_of
from tests.factories import UserFactory


def run(*args, **kwargs):
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_migrations_create_one_group_per_role_with_its_abilities():
    for role in ROLES:
        codenames = set(
            Group.objects.get(name=role)
            .permissions.filter(
                content_type__app_label="accounts", content_type__model="portalaccess"
            )
            .values_list("codename", flat=True)
        )
        assert codenames == {ability.value for ability in ROLE_ABILITIES[role]}


@pytest.mark.django_db
def test_assign_role_gives_exactly_that_role():
    UserFactory(username="another-admin", role=ADMINISTRATOR)
    user = UserFactory(username="sam", role=ADMINISTRATOR)

    output = run("assign_role", "sam", "finance")

    user = get_user_model().objects.get(pk=user.pk)
    assert "sam is now Finance." in output
    assert role_of(user) == FINANCE
    assert list(user.groups.values_list("name", flat=True)) == [FINANCE]
    assert user.has_perm(Ability.VIEW_BILLING.permission)
    assert not user.has_perm(Ability.VIEW_AUDIT.permission)


@pytest.mark.django_db
def test_assign_role_is_recorded_as_the_system_with_the_os_user():
    import getpass

    from accounts.models import AuditEvent

    UserFactory(username="sam", role=FINANCE)
    run("assign_role", "sam", "Auditor")
    (record,) = AuditEvent.objects.filter(action="member.role_changed")
    assert (record.actor_username, record.changes) == ("system", {"role": [FINANCE, "Auditor"]})
    assert record.details["member"] == "sam"
    assert f"OS user {getpass.getuser()}" in record.user_agent
    assert "assign_role" in record.user_agent


@pytest.mark.django_db
def test_assign_role_will_not_demote_the_last_administrator():
    UserFactory(username="sam", role=ADMINISTRATOR)
    with pytest.raises(CommandError, match="last active Administrator"):
        run("assign_role", "sam", "Finance")


@pytest.mark.django_db
def test_assign_role_refuses_an_unknown_user():
    with pytest.raises(CommandError, match='No user named "ghost"'):
        run("assign_role", "ghost", "Auditor")


@pytest.mark.django_db
def test_assign_role_refuses_an_unknown_role_and_lists_the_real_ones():
    UserFactory(username="sam")
    with pytest.raises(CommandError, match='Unknown role "Janitor".*Administrator, Key manager'):
        run("assign_role", "sam", "Janitor")


@pytest.mark.django_db
def test_seed_demo_creates_one_user_per_role_and_prints_their_passwords(client):
    output = run("seed_demo")

    for username, _, role in DEMO_USERS:
        line = next(line for line in output.splitlines() if f" {username} " in line)
        password = line.split()[-1]
        response = client.post(
            "/accounts/login/", {"login": username, "password": password}, REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 302, f"{username} could not log in with the printed password"
        client.logout()
        assert role_of(get_user_model().objects.get(username=username)) == role


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_keeps_existing_passwords(django_user_model):
    run("seed_demo")
    before = dict(django_user_model.objects.values_list("username", "password"))

    output = run("seed_demo")

    after = dict(django_user_model.objects.values_list("username", "password"))
    assert before == after
    assert django_user_model.objects.count() == len(DEMO_USERS)
    assert "unchanged" in output


@pytest.mark.django_db
def test_seed_demo_uses_demo_password_when_set(monkeypatch, client):
    monkeypatch.setenv("DEMO_PASSWORD", "a-shared-demo-password")
    run("seed_demo")
    response = client.post(
        "/accounts/login/", {"login": "finance", "password": "a-shared-demo-password"}
    )
    assert response.status_code == 302
