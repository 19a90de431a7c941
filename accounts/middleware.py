import re
import uuid
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.utils import timezone

from accounts import sessions
from accounts.auth.mfa import has_second_factor, mfa_required_for
from accounts.roles import role_of
from accounts.services.audit import acting_request, client_ip

# A request id from a proxy is kept only when it looks like one; anything else is replaced.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (audit records carry it) and echoes it as X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class SessionActivityMiddleware:
    """Keeps a signed-in session's limits and its record of where it is used.

    A session lasts PORTAL_SESSION_IDLE_TIMEOUT after its last use (SESSION_COOKIE_AGE: each
    save moves the expiry) and never longer than PORTAL_SESSION_MAX_AGE after it began. The
    address, browser and time of use are written into the session at most once a minute, so
    an active session costs one database write a minute, not one a request.
    """

    TOUCH_EVERY = timedelta(minutes=1)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ended = self._past_max_age(request)
            if ended is not None:
                return ended
            self._note_activity(request)
        return self.get_response(request)

    def _past_max_age(self, request):
        session = request.session
        now = timezone.now()
        started = _moment(session.get(sessions.STARTED))
        if started is None:
            session[sessions.STARTED] = now.isoformat()
            return None
        if now - started <= settings.PORTAL_SESSION_MAX_AGE:
            return None
        logout(request)
        messages.info(request, SESSION_TOO_OLD)
        return redirect_to_login(request.get_full_path())

    def _note_activity(self, request):
        session = request.session
        now = timezone.now()
        seen = _moment(session.get(sessions.SEEN))
        if seen is not None and now - seen < self.TOUCH_EVERY:
            return
        session[sessions.SEEN] = now.isoformat()
        session[sessions.IP] = client_ip(request)
        session[sessions.USER_AGENT] = request.headers.get("User-Agent", "")[:512]


SESSION_TOO_OLD = "Your session reached its time limit: log in again."


def _moment(value):
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


class AuditActorMiddleware:
    """Makes the request's user the actor of audit records written while it is served by code
    that has no request in hand (role changes seen through group-membership signals)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_request(request):
            return self.get_response(request)


class RequireMFAMiddleware:
    """Members of the roles in PORTAL_REQUIRE_MFA who have no second factor are sent to set
    one up before any other page. Signing out, allauth's own pages (where the set-up happens)
    and static files stay open."""

    OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/favicon")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.OPEN_PREFIXES)
            and mfa_required_for(user)
            and not has_second_factor(user)
        ):
            messages.warning(request, MFA_REQUIRED.format(role=role_of(user)))
            return redirect("mfa_index")
        return self.get_response(request)


MFA_REQUIRED = (
    "Your role ({role}) needs a second factor: set up an authenticator app or a passkey to go on."
)


class UserTimeZoneMiddleware:
    """Activates the signed-in user's time zone (their preference; UTC by default) for the
    request, so every `localtime`, date filter and export in it shows times in that zone.
    After AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from accounts.services.preferences import user_time_zone

        user = getattr(request, "user", None)
        zone = user_time_zone(user) if user is not None and user.is_authenticated else "UTC"
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
