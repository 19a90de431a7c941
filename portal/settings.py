"""Settings for the Venice account portal, read from the environment (see README)."""

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def env_secret(name: str) -> str:
    """A secret from the environment, without the whitespace a file-made secret (a Kubernetes
    secret, `$(cat key)`) often ends with. Whitespace or control characters inside it stop
    the portal: sent in an HTTP header they fail every request, and the error names the
    value. The message never shows it."""
    value = os.environ.get(name, "").strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ImproperlyConfigured(
            f"{name} contains whitespace or control characters inside it: check how the secret "
            "was made (its value is not shown)."
        )
    return value


def env_duration(name: str, default: str) -> timedelta:
    """A duration such as 90m, 8h or 7d."""
    raw = os.environ.get(name) or default
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", raw)
    if not match:
        raise ImproperlyConfigured(f"{name} must be a duration like 90m, 8h or 7d, not {raw!r}")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

# A fixed development key keeps `make run` to one command; production refuses to start without one.
_DEV_SECRET_KEY = "insecure-development-key-only-for-local-runs-and-tests-0123456789"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# --- Venice -----------------------------------------------------------------------------------
# An admin key, read from the environment only: never stored, logged or rendered.
# Unset means the portal talks to the embedded sandbox (accounts/sandbox/).
VENICE_API_KEY = env_secret("VENICE_API_KEY")
VENICE_API_BASE = env_str("VENICE_API_BASE", "https://api.venice.ai/api/v1")
VENICE_SANDBOX = not VENICE_API_KEY
# Where `make run` keeps the sandbox account between restarts; empty keeps it in memory only.
VENICE_SANDBOX_STATE_FILE = env_str(
    "VENICE_SANDBOX_STATE_FILE", str(BASE_DIR / "var" / "sandbox.json")
)
VENICE_SANDBOX_SEED = int(env_float("VENICE_SANDBOX_SEED", 42))
VENICE_CONNECT_TIMEOUT = env_float("VENICE_CONNECT_TIMEOUT", 3.05)
VENICE_READ_TIMEOUT = env_float("VENICE_READ_TIMEOUT", 15)
VENICE_CACHE_TTL = env_float("VENICE_CACHE_TTL", 30)
# Worker processes sharing the Venice key, all machines together. While Redis is down each
# process keeps its own breaker counts and allows the failure budget divided by this, so all
# of them together still stay under Venice's limit (docs/deploy.md).
_WORKERS_HERE = env_float("WEB_CONCURRENCY", 2 if env_str("REDIS_URL") else 1)
VENICE_BREAKER_WORKERS = int(env_float("VENICE_BREAKER_WORKERS", _WORKERS_HERE))
if VENICE_BREAKER_WORKERS < 1:
    raise ImproperlyConfigured("VENICE_BREAKER_WORKERS must be at least 1")
# Seconds a call waits for a slot of the failure budget held by calls still in flight, before
# it is refused (a busy moment is a queue; a budget spent on failures refuses at once).
VENICE_BREAKER_QUEUE_WAIT = env_float("VENICE_BREAKER_QUEUE_WAIT", 5.0)

# --- Django -----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    # Before allauth: the portal's templates override allauth's (account/, mfa/, allauth/).
    "accounts",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    # The portal API (/api/v1/): typed schemas and its OpenAPI document (its docs' static files).
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
    "accounts.middleware.AuditActorMiddleware",
    "accounts.middleware.RequireMFAMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.portal",
            ],
        },
    },
]

# Connections are kept for a minute and checked before each request reuses one, so a
# restarted PostgreSQL is picked up by the next request, without restarting the workers.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Redis is a cache: when it is down its calls are misses (accounts/cache.py), each given at
# most PORTAL_CACHE_TIMEOUT seconds, and Redis is not asked again for PORTAL_CACHE_RETRY.
PORTAL_CACHE_TIMEOUT = env_float("PORTAL_CACHE_TIMEOUT", 0.5)
PORTAL_CACHE_RETRY = env_float("PORTAL_CACHE_RETRY", 5)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "accounts.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": PORTAL_CACHE_TIMEOUT,
                "socket_timeout": PORTAL_CACHE_TIMEOUT,
                "RETRY_AFTER": PORTAL_CACHE_RETRY,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out login is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Username or email with a password (and the social and MFA logins).
    "accounts.auth.backends.PortalAuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "account_login"

# --- Accounts (django-allauth) ------------------------------------------------------------------
# Members join by invitation only (accounts/services/invitations.py): no open sign-up.
ACCOUNT_ADAPTER = "accounts.auth.adapters.PortalAccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.auth.forms.PortalLoginForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # an invitation's link proves the address
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = (
    True  # sessions last as PORTAL_SESSION_* say, not until the browser closes
)
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# django-axes throttles failed logins (by username and address, audited); allauth's own
# counter would lock the same login out on a different schedule.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Venice portal] "

# --- Single sign-on (OpenID Connect) and second factors ----------------------------------------
PORTAL_OIDC_ISSUER = env_str("PORTAL_OIDC_ISSUER").rstrip("/")
PORTAL_OIDC_CLIENT_ID = env_str("PORTAL_OIDC_CLIENT_ID")
PORTAL_OIDC_CLIENT_SECRET = env_secret("PORTAL_OIDC_CLIENT_SECRET")
PORTAL_OIDC_NAME = env_str("PORTAL_OIDC_NAME", "single sign-on")
# The claim holding the IdP's groups, and which group gives which role ("group:Role,...").
PORTAL_OIDC_ROLE_CLAIM = env_str("PORTAL_OIDC_ROLE_CLAIM", "groups")
PORTAL_OIDC_ROLE_MAP = env_str("PORTAL_OIDC_ROLE_MAP")
# Password logins off, except for one break-glass account for when the IdP is down.
PORTAL_SSO_ONLY = env_bool("PORTAL_SSO_ONLY", False)
PORTAL_SSO_BREAK_GLASS = env_str("PORTAL_SSO_BREAK_GLASS")
if PORTAL_OIDC_ISSUER and not (PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "PORTAL_OIDC_ISSUER needs PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET"
    )
if PORTAL_SSO_ONLY and not PORTAL_OIDC_ISSUER:
    raise ImproperlyConfigured("PORTAL_SSO_ONLY=1 needs single sign-on (PORTAL_OIDC_ISSUER)")
SSO_PROVIDER_ID = "sso"
SOCIALACCOUNT_ADAPTER = "accounts.auth.adapters.PortalSocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # an IdP's email never takes over a member
SOCIALACCOUNT_STORE_TOKENS = False  # the portal needs the IdP's claims, not its tokens


def sso_providers(*, issuer: str, client_id: str, secret: str, name: str) -> dict:
    """SOCIALACCOUNT_PROVIDERS for one OpenID Connect provider (none without an issuer)."""
    app = {
        "provider_id": SSO_PROVIDER_ID,
        "name": name,
        "client_id": client_id,
        "secret": secret,
        "settings": {"server_url": issuer},
    }
    return {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": [app] if issuer else []}}


SOCIALACCOUNT_PROVIDERS = sso_providers(
    issuer=PORTAL_OIDC_ISSUER,
    client_id=PORTAL_OIDC_CLIENT_ID,
    secret=PORTAL_OIDC_CLIENT_SECRET,
    name=PORTAL_OIDC_NAME,
)

# Roles whose members must have a second factor before any page (empty: nobody).
PORTAL_REQUIRE_MFA = env_list("PORTAL_REQUIRE_MFA", "Administrator,Key manager")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Venice account portal"
MFA_ADAPTER = "accounts.auth.adapters.PortalMFAAdapter"
# WebAuthn needs a secure origin; http://localhost counts as one in browsers, and runserver
# and the tests serve plain HTTP there.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# What the portal must read back later (TOTP seeds) is encrypted with this key; without it, a
# key derived from DJANGO_SECRET_KEY (so changing that one makes second factors unreadable).
PORTAL_ENCRYPTION_KEY = env_secret("PORTAL_ENCRYPTION_KEY")

# --- The audit log ------------------------------------------------------------------------------
# Signs verify_audit's checkpoints (HMAC-SHA256), so the daily check reads only new records and a
# rewrite of old ones plus the checkpoints is still found. Keep it out of the database and its
# backups (a secret store, the service's environment). Unset: every run walks the whole chain.
AUDIT_CHECKPOINT_KEY = env_secret("AUDIT_CHECKPOINT_KEY")

# --- The portal API ---------------------------------------------------------------------------
# Requests per API token (django-ninja's throttling, counted in the cache): "N/s|min|hour|day".
PORTAL_API_RATE_LIMIT = env_str("PORTAL_API_RATE_LIMIT", "120/min")

# Teams (docs/teams.md): every Key manager limited to their teams' keys (one by one otherwise,
# on their member page), and whether a new key must name a team.
PORTAL_SCOPE_KEY_MANAGERS = env_bool("PORTAL_SCOPE_KEY_MANAGERS", False)
PORTAL_REQUIRE_KEY_TEAM = env_bool("PORTAL_REQUIRE_KEY_TEAM", False)

# --- Email (invitations, password resets) --------------------------------------------------------
# SMTP when EMAIL_HOST is set; otherwise emails are printed on the console (make run).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = int(env_float("EMAIL_PORT", 587))
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Venice account portal <portal@localhost>")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

# --- Alerts (accounts/services/alerts/, manage.py check_alerts) ----------------------------------
# Where emails and webhooks link to: cron has no request to take the portal's address from.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Seconds a webhook receiver has to answer (connecting has 3.05 s); a slower one is retried.
PORTAL_WEBHOOK_TIMEOUT = env_float("PORTAL_WEBHOOK_TIMEOUT", 10)
# Webhook URLs must be https://, except in development (receivers on this machine).
PORTAL_WEBHOOK_ALLOW_HTTP = env_bool("PORTAL_WEBHOOK_ALLOW_HTTP", DEBUG)
# A PEM file of the certificate authorities webhook receivers may be signed by (alerts and the
# rotation schedules' webhook sinks), for receivers behind a private CA; empty: certifi's.
PORTAL_WEBHOOK_CA_BUNDLE = env_str("PORTAL_WEBHOOK_CA_BUNDLE", "")

# --- Sessions -----------------------------------------------------------------------------------
# In the database, keyed by a hash of the session key (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"
# A session ends this long after its last use, and this long after it began whatever happens.
PORTAL_SESSION_IDLE_TIMEOUT = env_duration("PORTAL_SESSION_IDLE_TIMEOUT", "8h")
PORTAL_SESSION_MAX_AGE = env_duration("PORTAL_SESSION_MAX_AGE", "7d")
SESSION_COOKIE_AGE = int(PORTAL_SESSION_IDLE_TIMEOUT.total_seconds())

# Login throttling: five failures for one username from one address lock it for 15 minutes.
# allauth's login form posts the username or email as "login" (accounts/auth/axes.py).
AXES_USERNAME_CALLABLE = "accounts.auth.axes.login_tried"
AXES_FAILURE_LIMIT = int(env_float("AXES_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy the client address comes from X-Forwarded-For (see docs/deploy.md).
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `collectstatic` writes and whitenoise serves from when DEBUG is off.
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security ---------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# No inline scripts or styles anywhere: htmx comes from static/, its indicator styles are off.


def content_security_policy(*, sso_issuer: str = "") -> dict:
    """No inline script or style, nothing from elsewhere. A form may post only here, except
    that signing in with SSO redirects from the portal's form to the identity provider,
    which browsers check against form-action too."""
    form_action = [SELF]
    if sso_issuer:
        parts = urlsplit(sso_issuer)
        form_action.append(f"{parts.scheme}://{parts.netloc}")
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF],
            "img-src": [SELF, "data:"],
            "connect-src": [SELF],
            "form-action": form_action,
            "frame-ancestors": [NONE],
            "base-uri": [SELF],
            "object-src": [NONE],
        }
    }


CONTENT_SECURITY_POLICY = content_security_policy(sso_issuer=PORTAL_OIDC_ISSUER)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
