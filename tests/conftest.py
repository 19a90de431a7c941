import pytest

from accounts.roles import ADMINISTRATOR, AUDITOR, FINANCE, KEY_MANAGER
from tests.factories import UserFactory

# Each area keeps its fixtures in its own module.
pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.venice",
    "tests.fixtures.audit",
    "tests.fixtures.keys",
    "tests.fixtures.billing",
    "tests.fixtures.browser",
    "tests.fixtures.rotation",
    "tests.fixtures.mail",
    "tests.fixtures.oidc",
    "tests.fixtures.api",
    "tests.fixtures.approvals",
    "tests.fixtures.alerts",
    "tests.fixtures.webhooks",
    "tests.fixtures.servers",
    "tests.fixtures.pgcluster",
    "tests.fixtures.teams",
    "tests.fixtures.streaming",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects real passwords; tests only need correct hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _key_policies_off(request):
    # The default key policies send ADMIN keys and changes to keys in use to a second
    # Administrator; tests about other things make those changes directly. The policy tests
    # (tests/test_policies.py, tests/test_approvals.py) set the policies they test.
    if request.node.get_closest_marker("django_db") is None and "db" not in request.fixturenames:
        return
    if request.node.get_closest_marker("default_policies"):
        return
    request.getfixturevalue(
        "db" if "transactional_db" not in request.fixturenames else "transactional_db"
    )
    from accounts.models import KeyPolicy

    KeyPolicy.objects.update_or_create(
        pk=1,
        defaults={
            "admin_keys_need_approval": False,
            "delete_in_use_needs_approval": False,
            "rotate_now_in_use_needs_approval": False,
            "removing_limit_or_expiry_needs_approval": False,
        },
    )


@pytest.fixture(autouse=True)
def _second_factor_optional(settings):
    # Most tests are about something else than enrolling a second factor, which the default
    # PORTAL_REQUIRE_MFA demands of Administrators and Key managers first; the MFA tests
    # (tests/test_mfa.py) set it back.
    settings.PORTAL_REQUIRE_MFA = []


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", role=ADMINISTRATOR)


@pytest.fixture
def key_manager(db):
    return UserFactory(username="kim", role=KEY_MANAGER)


@pytest.fixture
def finance_user(db):
    return UserFactory(username="fran", role=FINANCE)


@pytest.fixture
def auditor(db):
    return UserFactory(username="aud", role=AUDITOR)


@pytest.fixture
def user_with_role(db):
    """Make a user holding the given role (None for a user with no role)."""

    def make(role):
        return UserFactory(username=f"as-{(role or 'none').lower().replace(' ', '-')}", role=role)

    return make
