from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Venice account portal"
admin.site.site_title = "Venice portal admin"

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
]
