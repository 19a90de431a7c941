from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.cache import cache_probe


@require_GET
@never_cache
def healthz(request):
    """For load balancers and monitors: is the database reachable, is the cache, and which
    Venice is this? Only the database is fatal (503): without the cache (Redis) the portal
    still serves every page, slower, so it says "degraded" with a 200 and keeps its traffic."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DatabaseError:
        database = "unreachable"
    cache = cache_probe()
    if database != "ok":
        status = "error"
    elif cache != "ok":
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "database": database,
        "cache": cache,
        "mode": "sandbox" if settings.VENICE_SANDBOX else "live",
    }
    return JsonResponse(body, status=503 if database != "ok" else 200)


def server_error(request):
    """The 500 page, with the request's id for the person to quote (the same id is in the
    access log and on any audit record the request wrote). Rendered without the request's
    context: the error may be that the database went away, which context processors read."""
    from django.http import HttpResponseServerError
    from django.template import loader

    request_id = getattr(request, "request_id", "")
    html = loader.get_template("500.html").render({"request_id": request_id})
    return HttpResponseServerError(html)
