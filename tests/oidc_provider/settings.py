"""Settings of the test OpenID Connect provider: its own project, never the portal's.

`python -m tests.oidc_provider` (see __main__.py) sets the two variables read here before
Django starts: the issuer (known only once the port is bound) and the database file (in a
temporary directory that goes when the process does). Every secret is made at start-up and
lives only in this process's memory.
"""

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _new_rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False  # no debug pages: they would show settings and tracebacks to the browser
ALLOWED_HOSTS = ["127.0.0.1"]  # the issuer's host; discovery builds its endpoints from it

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.oidc_provider.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,  # oauth2_provider's own pages (its error page)
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["OIDC_PROVIDER_DATABASE"],
    }
}
# Tables straight from the models (`migrate --run-syncdb`): a database that lives as long as
# the process has no history to replay, and replaying DOT's migrations takes a second.
MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

LOGIN_URL = "/login/"
# Cookies are per host, not per port: a portal served on 127.0.0.1 as well would otherwise
# have its session and CSRF cookies overwritten by the provider's in the same browser.
SESSION_COOKIE_NAME = "oidc_provider_sessionid"
CSRF_COOKIE_NAME = "oidc_provider_csrftoken"
# Test users only: PBKDF2's deliberate slowness would cost every start and every sign-in.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _new_rsa_private_key_pem(),  # RS256; the public half is the JWKS
    # Fixed, not derived from each request's Host, so `iss` is exactly what the fixture reports.
    "OIDC_ISS_ENDPOINT": os.environ["OIDC_PROVIDER_ISSUER"],
    "OAUTH2_VALIDATOR_CLASS": "tests.oidc_provider.validators.ClaimsValidator",
    "SCOPES": {
        "openid": "Sign in",
        "profile": "Name, username and groups",
        "email": "Email address",
    },
    "PKCE_REQUIRED": os.environ.get("OIDC_PROVIDER_PKCE_REQUIRED", "1") == "1",
    # RFC 8252 §7.3: a redirect URI registered on 127.0.0.1 matches any port; this extends it
    # to "localhost", the host of pytest-django's live server, whose port is random.
    "ALLOW_LOCALHOST_LOOPBACK": True,
}

# Quiet when all is well; requests that fail (4xx, 5xx) and errors go to stderr, which the
# fixture leaves to pytest's capture. Nothing logged here carries a secret: request lines
# only (no bodies), and no debug output from oauthlib.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    # Django logs every request line at INFO with a handler of its own.
    "loggers": {"django.server": {"handlers": ["stderr"], "level": "WARNING", "propagate": False}},
}
