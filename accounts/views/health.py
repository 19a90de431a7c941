from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request):
    """For load balancers and monitors: is the database reachable, and which Venice is this?"""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DatabaseError:
        database = "unreachable"
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "mode": "sandbox" if settings.VENICE_SANDBOX else "live",
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)
