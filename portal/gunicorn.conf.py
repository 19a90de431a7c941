"""gunicorn settings for `make serve`, read from the environment (see docs/deploy.md).

`gunicorn -c portal/gunicorn.conf.py` is enough: the WSGI app is named here too.
"""

import os

wsgi_app = "portal.wsgi:application"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


# Loopback by default: in production a proxy terminates TLS in front of gunicorn. Set HOST=0.0.0.0
# when the proxy runs on another machine.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"

# Threaded workers: the portal spends most of a request waiting on Venice, and a long CSV export
# keeps streaming without the arbiter mistaking a busy sync worker for a hung one.
# One process unless Redis is there to share the Venice cache and breaker between several
# (see when_ready below); its threads still serve requests side by side.
workers = _int("WEB_CONCURRENCY", 2 if os.environ.get("REDIS_URL") else 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5

# The proxy's address: only from there are X-Forwarded-Proto/-For believed by gunicorn.
# (Django reads X-Forwarded-Proto itself, so the proxy must overwrite that header: docs/deploy.md.)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The access log shows the path without its query string: usage and audit URLs carry cursors
# and filters that are nobody's business in a log file. The referrer is left out for the same
# reason. X-Request-ID ties a line to the audit records of that request.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s fwd=%({x-forwarded-for}i)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s '
    '%(M)sms req=%({x-request-id}o)s "%(a)s"'
)

# Recent gunicorn releases open a control socket at one per-user path
# ($HOME/.gunicorn/gunicorn.ctl), which two instances on one machine (a test beside
# `make serve`) would fight over; nothing here uses it.
control_socket_disable = True


def when_ready(server):
    # The Venice client's response cache and circuit breaker live in Django's cache; the
    # local-memory one is per process, so several workers without Redis disagree (a key list
    # cached by one worker outlives a change made through another).
    if workers > 1 and not os.environ.get("REDIS_URL"):
        server.log.warning(
            "%d workers without REDIS_URL: each keeps its own Venice cache and breaker state. "
            "Set REDIS_URL, or WEB_CONCURRENCY=1 (see docs/deploy.md).",
            workers,
        )


def post_worker_init(worker):
    # The app is loaded (no preload_app: each worker imports it after the fork): freeze what
    # it allocated so full garbage collections stop re-scanning it (portal/memory.py).
    from portal.memory import tune_garbage_collector

    tune_garbage_collector()
