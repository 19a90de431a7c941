import pytest
from django.urls import reverse

from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


@pytest.mark.django_db
def test_login_with_the_right_password_lands_on_the_dashboard(client):
    UserFactory(username="ada", first_name="Ada", role=ADMINISTRATOR)
    response = client.post(
        reverse("account_login"), {"login": "ada", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert b"Ada" in response.content
    assert b"Administrator" in response.content


@pytest.mark.django_db
def test_wrong_password_says_so_on_the_form(client):
    UserFactory(username="ada", role=ADMINISTRATOR)
    response = client.post(reverse("account_login"), {"login": "ada", "password": "nope"})
    assert response.status_code == 200
    assert b"The username and/or password you specified are not correct." in response.content


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_login(client, settings):
    UserFactory(username="ada", role=ADMINISTRATOR)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("account_login"), {"login": "ada", "password": "guess"})

    response = client.post(reverse("account_login"), {"login": "ada", "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many failed logins" in response.content


@pytest.mark.django_db
def test_logout_is_a_post_and_ends_the_session(client):
    client.force_login(UserFactory(username="ada", role=ADMINISTRATOR))
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        (ADMINISTRATOR, ["Dashboard", "Users"], []),
        (KEY_MANAGER, ["Dashboard"], ["Users"]),
        (FINANCE, ["Dashboard"], ["Users"]),
        (AUDITOR, ["Dashboard"], ["Users"]),
    ],
)
def test_navigation_shows_only_what_the_role_may_open(client, role, visible, hidden):
    from accounts.navigation import NAV_ITEMS

    user = UserFactory(username="someone", role=role)
    client.force_login(user)
    html = client.get(reverse("dashboard")).content.decode()
    nav = html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    for item in NAV_ITEMS:
        if user.has_perm(item.ability.permission):
            assert f">{item.label}<" in nav
        else:
            assert f">{item.label}<" not in nav
    for label in visible:
        assert f">{label}<" in nav
    for label in hidden:
        assert f">{label}<" not in nav
    assert role in html


@pytest.mark.django_db
def test_sandbox_banner_shows_only_in_sandbox_mode(client, settings):
    settings.VENICE_SANDBOX = True
    assert b"sandbox-banner" in client.get(reverse("account_login")).content
    settings.VENICE_SANDBOX = False
    assert b"sandbox-banner" not in client.get(reverse("account_login")).content


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_a_strict_csp(client):
    response = client.get(reverse("account_login"))
    assert len(response["X-Request-ID"]) == 32
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
