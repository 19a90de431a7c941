from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts.api import api

admin.site.site_header = "Venice account portal"
admin.site.site_title = "Venice portal admin"
# The admin's login is the portal's (allauth: throttled, with the second factor), not its own.
admin.site.login = secure_admin_login(admin.site.login)


def _superusers_only(request) -> bool:
    # Members and roles are managed at /team/; the Django admin is the operators' tool.
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = _superusers_only

# The 500 page names the request's id (accounts/views/health.py).
handler500 = "accounts.views.health.server_error"

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
]
