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
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness protects real passwords; tests only need correct hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
